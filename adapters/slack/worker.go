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
	Log           *slog.Logger
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
	var progress []string
	res, err := w.Engine.RunJob(ctx, j, func(line string) { progress = append(progress, line) })
	var msg Message
	if err != nil {
		msg = RenderError(err, j.Command)
		if engine.ErrorCode(err) == engine.Unavailable && j.Attempt < 3 {
			return err // try again later; the user hears of it if it keeps failing
		}
	} else {
		msg = RenderResult(res, j.Command, j.ID)
	}
	if ru := j.Reply["response_url"]; ru != "" {
		if err := w.respond(ctx, ru, msg); err != nil {
			w.Log.Error("answering a job", "job", j.ID, "err", err)
			var refused *refusedURL
			if errors.As(err, &refused) {
				return nil // no retry makes a forbidden host allowed
			}
			return err
		}
	}
	return nil
}

// respond posts msg to a response_url on an allowed host.
func (w *Worker) respond(ctx context.Context, responseURL string, msg Message) error {
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
