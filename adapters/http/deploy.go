package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/chatops/chatops/adapters/internal/netx"
	"github.com/chatops/chatops/engine"
	"github.com/hashicorp/go-retryablehttp"
)

// maxBody bounds what the driver reads of one answer.
const maxBody = 1 << 20

// maxQuote bounds what an error quotes of an answer's body.
const maxQuote = 300

// answerBody is what a receiver may answer to the POST.
type answerBody struct {
	Message   string `json:"message"`
	URL       string `json:"url"`
	Ref       string `json:"ref"`
	StatusURL string `json:"status_url"`
}

// status is what a status_url answers.
type status struct {
	State   string   `json:"state"`
	Log     []string `json:"log"`
	Message string   `json:"message"`
	URL     string   `json:"url"`
	Ref     string   `json:"ref"`
}

// The states of a status.
const (
	statePending = "pending"
	stateSuccess = "success"
	stateFailure = "failure"
)

// run is one deployment under way: what it learned so far.
type run struct {
	d        *Driver
	dep      *engine.Deployment
	progress func(string)
	// said is the last line sent to progress.
	said string
	// seen counts the status log's lines already sent to progress.
	seen int
	tail []string
	// polling says the change was accepted and is being followed.
	polling bool
	// known says what was last known, for a deadline's message.
	known string
}

// nothingYet is what is known before the change is sent.
const nothingYet = "nothing was sent to "

// Deploy implements engine.Driver: it posts dep, signed, to the webhook and,
// when the receiver answers 202 with a status_url, follows that to the end.
func (d *Driver) Deploy(ctx context.Context, dep *engine.Deployment, progress func(string)) (*engine.Deployed, error) {
	if progress == nil {
		progress = func(string) {}
	}
	timeout := or(d.Timeout, DefaultTimeout)
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r := &run{d: d, dep: dep, progress: progress, known: nothingYet + safeURL(d.URL)}
	out, err := r.deploy(rctx)
	if err == nil {
		return out, nil
	}
	// Once what is known has moved on from its first words, a change may
	// have started: losing sight of it now leaves the outcome unknown.
	started := !strings.HasPrefix(r.known, nothingYet)
	var ee *engine.Error
	var de *engine.DriverError
	switch {
	case errors.As(err, &ee):
		return nil, err
	case ctx.Err() != nil:
		return nil, &engine.DriverError{Driver: name, Msg: "canceled; " + r.known, Log: r.tail, Err: ctx.Err(), Unknown: started}
	case rctx.Err() != nil:
		return nil, &engine.DriverError{Driver: name, Msg: fmt.Sprintf("timed out after %s; %s", timeout, r.known), Log: r.tail, Err: rctx.Err(), Unknown: started}
	case errors.As(err, &de):
		return nil, de
	}
	msg := redact(err.Error())
	if r.polling {
		msg += "; " + r.known
	}
	return nil, &engine.DriverError{Driver: name, Msg: msg, Log: r.tail, Err: err, Unknown: started && !netx.NotSent(err)}
}

// deploy posts the change and, if it runs on, polls its status.
func (r *run) deploy(ctx context.Context) (*engine.Deployed, error) {
	body, err := json.Marshal(r.dep)
	if err != nil {
		return nil, engine.Errorf(engine.Invalid, "the http driver cannot encode the deployment: %w", err)
	}
	target := r.d.URL
	r.known = "the change was sent to " + safeURL(target) + " and not answered"
	a, err := r.d.do(ctx, http.MethodPost, target, body, r.dep.JobID)
	if err != nil {
		return nil, err
	}
	var ab answerBody
	if !a.ok() {
		return nil, r.refused(a)
	}
	if len(bytes.TrimSpace(a.body)) > 0 {
		// A 2xx body that is not our JSON says nothing we need.
		_ = json.Unmarshal(a.body, &ab)
	}
	if a.status != http.StatusAccepted || ab.StatusURL == "" {
		r.d.logger().Debug("http driver: deployed", "job", r.dep.JobID, "url", safeURL(target), "status", a.status)
		return &engine.Deployed{Ref: ab.Ref, URL: ab.URL, Message: ab.Message}, nil
	}
	su, err := resolve(target, ab.StatusURL)
	if err != nil {
		return nil, &engine.DriverError{Driver: name, Msg: fmt.Sprintf("%s accepted the change but its status_url %s; the change may be running", safeURL(target), err)}
	}
	line := "accepted by " + safeURL(target) + "; following " + safeURL(su)
	if ab.Message != "" {
		line = ab.Message + " (" + line + ")"
	}
	r.say(line)
	r.polling = true
	r.known = "the change was accepted and its status not yet read at " + safeURL(su)
	return r.poll(ctx, su, ab)
}

// refused turns a non-2xx answer to the POST into the outcome.
func (r *run) refused(a *answer) error {
	where := safeURL(r.d.URL)
	msg := a.message()
	switch a.status {
	case http.StatusConflict:
		return engine.Errorf(engine.Conflict, "%s refused the change: %s", where, msg)
	case http.StatusNotImplemented:
		return engine.Errorf(engine.Invalid, "%s cannot %s %s %s: %s", where, r.dep.Action, r.dep.Pipeline, r.dep.Stage, msg)
	case http.StatusUnauthorized, http.StatusForbidden:
		return &engine.DriverError{Driver: name, Msg: fmt.Sprintf("%s answered %s: %s (is $%s the secret the receiver verifies with?)", where, statusText(a.status), msg, or(r.d.SecretEnv, "the secret"))}
	}
	return &engine.DriverError{Driver: name, Msg: fmt.Sprintf("%s answered %s: %s", where, statusText(a.status), msg)}
}

// poll reads su every PollInterval until the change succeeded or failed.
func (r *run) poll(ctx context.Context, su string, first answerBody) (*engine.Deployed, error) {
	interval := or(r.d.PollInterval, DefaultPollInterval)
	lastMsg := first.Message
	for {
		a, err := r.d.do(ctx, http.MethodGet, su, nil, "")
		if err != nil {
			return nil, err
		}
		if !a.ok() {
			return nil, &engine.DriverError{Driver: name, Msg: fmt.Sprintf("the change was accepted, then its status_url %s answered %s: %s; it may still be running", safeURL(su), statusText(a.status), a.message()), Log: r.tail}
		}
		var st status
		if err := json.Unmarshal(a.body, &st); err != nil {
			return nil, &engine.DriverError{Driver: name, Msg: fmt.Sprintf("the change was accepted, then its status_url %s answered no status JSON (%s); it may still be running", safeURL(su), quote(a.body)), Log: r.tail}
		}
		r.logLines(st.Log)
		switch st.State {
		case stateSuccess:
			msg := or(st.Message, first.Message)
			return &engine.Deployed{Ref: or(st.Ref, first.Ref), URL: or(st.URL, first.URL), Message: msg}, nil
		case stateFailure:
			msg := or(st.Message, "the deployment failed")
			return nil, &engine.DriverError{Driver: name, Msg: msg, Log: r.tail}
		case statePending:
		default:
			return nil, &engine.DriverError{Driver: name, Msg: fmt.Sprintf("the change was accepted, then its status_url %s answered state %q; want pending, success or failure", safeURL(su), st.State), Log: r.tail}
		}
		if st.Message != "" && st.Message != lastMsg {
			r.say(st.Message)
		}
		lastMsg = or(st.Message, lastMsg)
		r.known = "the change was last seen pending"
		if n := len(r.tail); n > 0 {
			r.known += " after " + fmt.Sprintf("%q", r.tail[n-1])
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-r.d.after(interval):
		}
	}
}

// say sends a status message to progress, unless it was the line just
// sent: a message that repeats the log's last line.
func (r *run) say(line string) {
	if line == r.said {
		return
	}
	r.said = line
	r.progress(line)
}

// logLines sends the lines of log not seen yet to progress and keeps the
// tail. The log is the whole log so far; one shorter than before starts
// over, as a receiver that restarted its log would send.
func (r *run) logLines(log []string) {
	if len(log) < r.seen {
		r.seen = 0
	}
	for _, l := range log[r.seen:] {
		r.said = l
		r.progress(l)
		r.tail = append(r.tail, l)
	}
	r.seen = len(log)
	if n := len(r.tail); n > logTail {
		r.tail = append(r.tail[:0], r.tail[n-logTail:]...)
	}
}

// resolve returns ref, absolute or relative to base, as an http(s) URL.
func resolve(base, ref string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("cannot be read against %s", safeURL(base))
	}
	u, err := b.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL", safeURL(ref))
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not an http(s) URL", safeURL(ref))
	}
	return u.String(), nil
}

// answer is one HTTP answer, read whole.
type answer struct {
	status int
	body   []byte
}

func (a *answer) ok() bool { return a.status >= 200 && a.status < 300 }

// message is the answer's JSON "message", or the start of its body.
func (a *answer) message() string {
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(a.body, &e) == nil && e.Message != "" {
		return truncate(e.Message)
	}
	if s := quote(a.body); s != "" {
		return s
	}
	return "no message"
}

// quote returns the start of body, fit for a message.
func quote(body []byte) string {
	return truncate(strings.TrimSpace(string(bytes.ToValidUTF8(body, nil))))
}

func truncate(s string) string {
	if len(s) <= maxQuote {
		return s
	}
	cut := maxQuote
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

func statusText(code int) string {
	return fmt.Sprintf("%d %s", code, http.StatusText(code))
}

// do sends one signed request, retried by the client; each try is signed
// with its own timestamp. key, when set, is the Idempotency-Key.
func (d *Driver) do(ctx context.Context, method, target string, body []byte, key string) (*answer, error) {
	var raw any
	if body != nil {
		raw = body
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, target, raw)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, safeURL(target), err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := d.client(body).Do(req)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%s %s could not be reached: %w", method, safeURL(target), unwrapURL(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", method, safeURL(target), unwrapURL(err))
	}
	return &answer{status: resp.StatusCode, body: b}, nil
}

// unwrapURL drops the *url.Error around err, whose text holds the whole URL.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// client returns the retrying client of one request, signing each try of
// body afresh.
func (d *Driver) client(body []byte) *retryablehttp.Client {
	hc := d.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: or(d.RequestTimeout, DefaultRequestTimeout)}
	}
	rc := &retryablehttp.Client{
		HTTPClient:   hc,
		Logger:       leveled{d.logger()},
		RetryWaitMin: or(d.RetryWaitMin, DefaultRetryWaitMin),
		RetryWaitMax: or(d.RetryWaitMax, DefaultRetryWaitMax),
		RetryMax:     or(d.RetryMax, DefaultRetryMax),
		CheckRetry:   d.CheckRetry,
		Backoff:      d.Backoff,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
		RequestLogHook: func(_ retryablehttp.Logger, req *http.Request, _ int) {
			for k, v := range Sign(d.Secret, d.now(), body) {
				req.Header[k] = v
			}
		},
	}
	if rc.CheckRetry == nil {
		rc.CheckRetry = DefaultCheckRetry
	}
	if rc.Backoff == nil {
		rc.Backoff = DefaultBackoff
	}
	return rc
}
