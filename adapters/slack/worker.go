package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/chatops/chatops/engine"
	"github.com/hashicorp/go-retryablehttp"
	"github.com/slack-go/slack"
)

// DefaultResponseHosts are the hosts a response_url may point at.
var DefaultResponseHosts = []string{"hooks.slack.com"}

// Worker runs queued jobs and answers through their response_url.
type Worker struct {
	Engine *engine.Engine
	Queue  engine.Queue
	// HTTP makes every outbound call: retries with backoff, 429 Retry-After
	// honoured. NewHTTPClient builds one.
	HTTP *retryablehttp.Client
	// ResponseHosts are the host[:port]s a response_url may name;
	// DefaultResponseHosts when nil. Anything else is refused, so a forged
	// request cannot make chatops post elsewhere.
	ResponseHosts []string
	// API posts answers to events (chat.postMessage in their thread); nil
	// without a bot token.
	API *slack.Client
	// OAuth gives each workspace's own client, when installed by OAuth.
	OAuth *OAuth
	// Interactions keeps the questions of commands that need a confirmation
	// or an approval; without it such commands are refused.
	Interactions engine.Interactions
	// QuestionTTL is how long a question can be answered; 10 minutes when zero.
	QuestionTTL time.Duration
	Log         *slog.Logger
}

// NewAPI returns a Web API client whose calls go through the retrying client;
// apiURL is Slack's unless a test gives its own.
func NewAPI(token, apiURL string, httpc *retryablehttp.Client) *slack.Client {
	opts := []slack.Option{slack.OptionHTTPClient(httpc.StandardClient())}
	if apiURL != "" {
		opts = append(opts, slack.OptionAPIURL(strings.TrimRight(apiURL, "/")+"/"))
	}
	return slack.New(token, opts...)
}

// NewHTTPClient returns the retrying client all outbound calls go through.
func NewHTTPClient(log *slog.Logger) *retryablehttp.Client {
	c := retryablehttp.NewClient()
	c.RetryMax = 4
	c.RetryWaitMin = 200 * time.Millisecond
	c.RetryWaitMax = 10 * time.Second
	c.HTTPClient.Timeout = 10 * time.Second
	// Keep the final response rather than an error, so its status is logged.
	c.ErrorHandler = retryablehttp.PassthroughErrorHandler
	c.Logger = nil // its default logs every request
	if log != nil {
		c.Logger = log
	}
	return c
}

// Run works jobs until ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	if w.Log == nil {
		w.Log = slog.Default()
	}
	if w.HTTP == nil {
		w.HTTP = NewHTTPClient(w.Log)
	}
	return w.Queue.Work(ctx, w.handle)
}

// handle runs one job and posts its outcome. An error sends the job back to
// the queue; its idempotency key keeps the ledger from changing twice.
func (w *Worker) handle(ctx context.Context, j *engine.QueuedJob) error {
	if text := j.Reply["refusal"]; text != "" {
		return w.answer(ctx, j, RenderRefusal(text, j.Command))
	}
	progress := newThreadProgress(w.api(ctx, j.Reply["team"]), j, func(err error) { w.Log.Warn("posting progress", "job", j.ID, "err", err) })
	res, err := w.Engine.RunJob(ctx, j, func(line string) { progress.add(ctx, line) })
	progress.flush(ctx)
	if progress.thread != "" && j.Reply["thread_ts"] == "" {
		j.Reply["thread_ts"] = progress.thread // the answer joins the thread if it cannot use the response_url
	}
	var msg Message
	var ee *engine.ConfirmationError
	if errors.As(err, &ee) && w.Interactions != nil {
		if msg, err = w.ask(ctx, j, ee); err != nil {
			return err
		}
		return w.answer(ctx, j, msg)
	}
	if err != nil {
		msg = RenderError(err, j.Command)
		if engine.ErrorCode(err) == engine.Unavailable && j.Attempt < 3 {
			return err // try again later; the user hears of it if it keeps failing
		}
	} else {
		msg = RenderResult(res, j.Command, j.ID)
	}
	msg.ReplaceOriginal = j.Reply["replace"] == "1"
	return w.answer(ctx, j, msg)
}

// ask stores the question a command raised and returns the message with its
// buttons.
func (w *Worker) ask(ctx context.Context, j *engine.QueuedJob, ee *engine.ConfirmationError) (Message, error) {
	ttl := w.QuestionTTL
	if ttl == 0 {
		ttl = 10 * time.Minute
	}
	i := &engine.Interaction{
		ID: "q" + engine.NewID(), Command: j.Command, Requester: j.Actor, Channel: j.Channel,
		Question: ee.Question, Approvers: ee.Approvers, Pipeline: ee.Pipeline,
		Expires: w.Engine.Now().Add(ttl), Reply: j.Reply,
	}
	if ee.Pipeline != "" {
		rev, err := w.Engine.Revision(ctx, ee.Pipeline)
		if err != nil {
			return Message{}, err
		}
		i.Revision = rev
	}
	if err := w.Interactions.Put(ctx, i); err != nil {
		return Message{}, err
	}
	return RenderQuestion(i, ttl), nil
}

// answer posts msg where the job came from: its response_url, or its channel
// and thread through the Web API.
func (w *Worker) answer(ctx context.Context, j *engine.QueuedJob, msg Message) error {
	var err error
	channel := j.Reply["channel"]
	if channel == "" {
		channel = j.Channel
	}
	// A response_url serves for 30 minutes; a job that waited longer (a slow
	// queue, a late confirmation) answers through the Web API.
	fresh := j.Enqueued.IsZero() || w.Engine.Now().Sub(j.Enqueued) < responseURLLife
	api := w.api(ctx, j.Reply["team"])
	switch {
	case j.Reply["response_url"] != "" && (fresh || api == nil):
		err = w.Respond(ctx, j.Reply["response_url"], msg)
	case channel != "" && api != nil:
		_, _, err = api.PostMessageContext(ctx, channel,
			slack.MsgOptionText(msg.Text, false), slack.MsgOptionBlocks(msg.Blocks...), slack.MsgOptionTS(j.Reply["thread_ts"]))
	}
	if err != nil {
		w.Log.Error("answering a job", "job", j.ID, "err", err)
		var refused *refusedURL
		if errors.As(err, &refused) {
			return nil // no retry makes a forbidden host allowed
		}
	}
	return err
}

// api returns the Web API client for a workspace: its OAuth installation's, or
// the single bot token's.
func (w *Worker) api(ctx context.Context, team string) *slack.Client {
	if w.OAuth != nil && team != "" {
		if c, err := w.OAuth.Client(ctx, team); err == nil {
			return c
		}
	}
	return w.API
}

// Respond posts msg to a response_url on an allowed host.
func (w *Worker) Respond(ctx context.Context, responseURL string, msg Message) error {
	if w.HTTP == nil {
		w.HTTP = NewHTTPClient(w.Log)
	}
	u, err := url.Parse(responseURL)
	if err != nil || !w.allowed(u) {
		return &refusedURL{responseURL}
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, responseURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("response_url answered %s", resp.Status)
	}
	return nil
}

// refusedURL is a response_url on a host chatops does not post to.
type refusedURL struct{ url string }

func (e *refusedURL) Error() string {
	return fmt.Sprintf("response_url %q is not on an allowed host", e.url)
}

// allowed accepts https URLs on the allowed hosts, and plain http only on
// loopback (for tests).
func (w *Worker) allowed(u *url.URL) bool {
	hosts := w.ResponseHosts
	if hosts == nil {
		hosts = DefaultResponseHosts
	}
	loopback := u.Hostname() == "127.0.0.1" || u.Hostname() == "localhost" || u.Hostname() == "::1"
	if u.Scheme != "https" && !(u.Scheme == "http" && loopback) {
		return false
	}
	for _, h := range hosts {
		if strings.EqualFold(u.Host, h) {
			return true
		}
	}
	return false
}
