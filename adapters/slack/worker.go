package slack

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/chatops/chatops/engine"
	"github.com/hashicorp/go-retryablehttp"
	"github.com/slack-go/slack"
)

// Worker runs queued jobs and posts their answers to the outbox, which
// delivers them on its own schedule: running a command is separate from
// answering it, so a failed answer never runs a command again.
type Worker struct {
	Engine *engine.Engine
	Queue  engine.Queue
	Outbox engine.Outbox
	// Name identifies this worker in job records: host and process.
	Name string
	// Workspaces post progress in threads. Give them clients that try once
	// (NewDeliveryHTTPClient): progress is best effort, and a rate-limited
	// post must not hold up the program.
	Workspaces
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
	if w.Outbox == nil {
		return errors.New("a worker needs an outbox for its answers")
	}
	if w.Log == nil {
		w.Log = slog.Default()
	}
	return w.Queue.Work(ctx, w.handle)
}

// handle runs one job, at most once whatever its deliveries, and posts its
// answer. An error means nothing of the job ran: the queue delivers it again.
func (w *Worker) handle(ctx context.Context, j *engine.QueuedJob) error {
	if text := j.Reply["refusal"]; text != "" {
		return w.post(ctx, j, RenderRefusal(text, j.Command))
	}
	progress := newThreadProgress(w.Client(ctx, j.Reply["team"], w.Log), j, func(err error) { w.Log.Warn("posting progress", "job", j.ID, "err", err) })
	job, err := w.Engine.RunJob(ctx, j, w.Name, func(line string) { progress.add(ctx, line) })
	if err != nil {
		if !j.LastAttempt {
			w.Log.Warn("job not run; it will be tried again", "job", j.ID, "attempt", j.Attempt, "err", err)
			return err
		}
		if w.Engine.Runs(w.Name, j.ID) {
			return nil // its run here answers it: nothing to give up
		}
		if job, err = w.Engine.GiveUp(ctx, j, err); err != nil {
			return err
		}
	}
	progress.flush(ctx)
	if job.Answer != engine.AnswerNone {
		return nil // answered by an earlier delivery
	}
	if progress.thread != "" && j.Reply["thread_ts"] == "" {
		j.Reply["thread_ts"] = progress.thread // the answer joins the thread if it cannot use the response_url
	}
	msg, err := w.render(ctx, j, job)
	if err != nil {
		return err
	}
	return w.post(ctx, j, msg)
}

// render turns a finished job into its answer.
func (w *Worker) render(ctx context.Context, j *engine.QueuedJob, job *engine.Job) (Message, error) {
	if job.Question != nil && w.Interactions != nil {
		return w.ask(ctx, j, job.Question)
	}
	var msg Message
	if err := job.Err(); err != nil {
		msg = RenderError(err, j.Command)
	} else {
		res := job.Result
		if res == nil {
			res = &engine.Result{Title: j.Command}
		}
		msg = RenderResult(res, j.Command, j.ID)
	}
	msg.ReplaceOriginal = j.Reply["replace"] == "1"
	return msg, nil
}

// post puts a job's answer in the outbox, once, and records that it is on its
// way.
func (w *Worker) post(ctx context.Context, j *engine.QueuedJob, msg Message) error {
	if j.Reply["response_url"] == "" && j.Reply["thread_ts"] != "" {
		// A mention or a direct message is answered in its thread, where
		// the person asked, as the rest of the conversation is.
		msg.ResponseType = "in_channel"
	}
	d, err := NewDelivery(j, msg, w.Engine.Now())
	if err != nil {
		return err
	}
	if err := w.Outbox.Post(ctx, d); err != nil {
		return err
	}
	if err := w.Engine.Answered(ctx, j.ID); err != nil {
		w.Log.Warn("recording an answer", "job", j.ID, "err", err)
	}
	return nil
}

// ask stores the question a command raised and returns the message with its
// buttons.
func (w *Worker) ask(ctx context.Context, j *engine.QueuedJob, q *engine.ConfirmationError) (Message, error) {
	ttl := w.QuestionTTL
	if ttl == 0 {
		ttl = 10 * time.Minute
	}
	i := &engine.Interaction{
		ID: "q" + engine.NewID(), Command: j.Command, Requester: j.Actor, Channel: j.Channel,
		Question: q.Question, Approvers: q.Approvers, Pipeline: q.Pipeline, Late: q.Late,
		Expires: w.Engine.Now().Add(ttl), Reply: j.Reply,
	}
	if q.Pipeline != "" {
		rev, err := w.Engine.Revision(ctx, q.Pipeline)
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

// TokenFunc returns a Deliverer's Token: the workspace's OAuth installation's
// bot token (an error is the installation's), or the single bot token.
func TokenFunc(oauth *OAuth, token string) func(ctx context.Context, team string) (string, error) {
	return func(ctx context.Context, team string) (string, error) {
		if oauth == nil || team == "" {
			return token, nil
		}
		inst, err := oauth.Installation(ctx, team)
		if err != nil {
			return "", err
		}
		return inst.BotToken, nil
	}
}

// Workspaces are how the gateway and the workers reach the Slack workspaces
// chatops is in: a single bot token's client, or each OAuth installation's.
type Workspaces struct {
	// API is the single bot token's client; nil without one.
	API *slack.Client
	// OAuth gives each workspace installed by OAuth its own client.
	OAuth *OAuth
}

// Client returns the Web API client for a workspace: its OAuth
// installation's, or the single bot token's; nil when there is none. A
// workspace OAuth does not know, or whose token does not unseal (the token
// key changed), is logged with what to do.
func (ws Workspaces) Client(ctx context.Context, team string, log *slog.Logger) *slack.Client {
	if ws.OAuth == nil || team == "" {
		return ws.API
	}
	c, err := ws.OAuth.Client(ctx, team)
	if err == nil {
		return c
	}
	if log != nil {
		switch engine.ErrorCode(err) {
		case engine.NotFound:
			log.Error("a Slack workspace chatops has no installation for: install the app there again (/slack/install)", "team", team)
		default:
			log.Error("a Slack workspace's token cannot be used", "team", team, "err", err)
		}
	}
	return ws.API
}
