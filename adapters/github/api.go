package github

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// maxBody bounds what the driver reads of one answer.
const maxBody = 1 << 20

// deploymentRequest is the body of POST /repos/{owner}/{repo}/deployments.
type deploymentRequest struct {
	Ref         string `json:"ref"`
	Environment string `json:"environment"`
	Task        string `json:"task"`
	AutoMerge   bool   `json:"auto_merge"`
	// RequiredContexts is sent, empty, only to force past required checks:
	// omitted, GitHub requires every context.
	RequiredContexts *[]string `json:"required_contexts,omitempty"`
	Description      string    `json:"description"`
	Payload          any       `json:"payload"`
}

// deployment is GitHub's deployment object, and the 202 answer's message.
type deployment struct {
	ID          int64           `json:"id"`
	URL         string          `json:"url"`
	Ref         string          `json:"ref"`
	SHA         string          `json:"sha"`
	Environment string          `json:"environment"`
	Payload     json.RawMessage `json:"payload"`
	Message     string          `json:"message"`
}

// owner is the job and stage of the payload this driver gave the
// deployment, empty when it carries none. GitHub returns the payload as it
// was given: an object, or a string holding one.
func (dp *deployment) owner() (job, stage string) {
	raw := dp.Payload
	var s string
	if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		raw = []byte(s)
	}
	var p struct {
		JobID string `json:"job_id"`
		Stage string `json:"stage"`
	}
	if json.Unmarshal(raw, &p) != nil {
		return "", ""
	}
	return p.JobID, p.Stage
}

// deploymentStatus is one entry of GET …/deployments/{id}/statuses.
type deploymentStatus struct {
	ID             int64  `json:"id"`
	State          string `json:"state"`
	Description    string `json:"description"`
	LogURL         string `json:"log_url"`
	TargetURL      string `json:"target_url"`
	EnvironmentURL string `json:"environment_url"`
}

// apiError is GitHub's error body: a message, and for a 409 of failing
// required checks the contexts and their states.
type apiError struct {
	Message string `json:"message"`
	Errors  []struct {
		Message  string `json:"message"`
		Field    string `json:"field"`
		Code     string `json:"code"`
		Contexts []struct {
			Context string `json:"context"`
			State   string `json:"state"`
		} `json:"contexts"`
	} `json:"errors"`
}

// failing lists the contexts of a 409 that are not in state success.
func (e *apiError) failing() []string {
	var out []string
	for _, x := range e.Errors {
		for _, c := range x.Contexts {
			if c.State != "success" {
				out = append(out, c.Context+" ("+c.State+")")
			}
		}
	}
	return out
}

// detail is the message of the error body, with the errors' own messages.
func (e *apiError) detail() string {
	msg := e.Message
	for _, x := range e.Errors {
		if x.Message != "" {
			msg += "; " + x.Message
		}
	}
	return msg
}

// client makes the calls of one deployment.
type client struct {
	rc    *retryablehttp.Client
	repo  string // BaseURL/repos/{owner}/{repo}
	token string
}

// retryHookKey keys, in a request's context, what must run before each retry
// of that request.
type retryHookKey struct{}

func (d *Driver) newClient() *client {
	hc := d.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: or(d.RequestTimeout, DefaultRequestTimeout)}
	}
	rc := &retryablehttp.Client{
		HTTPClient:   hc,
		Logger:       d.logger(),
		RetryWaitMin: or(d.RetryWaitMin, DefaultRetryWaitMin),
		RetryWaitMax: or(d.RetryWaitMax, DefaultRetryWaitMax),
		RetryMax:     d.RetryMax,
		CheckRetry:   d.CheckRetry,
		Backoff:      d.Backoff,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
		PrepareRetry: func(r *http.Request) error {
			if hook, ok := r.Context().Value(retryHookKey{}).(func() error); ok {
				return hook()
			}
			return nil
		},
	}
	if rc.RetryMax <= 0 {
		rc.RetryMax = DefaultRetryMax
	}
	if rc.CheckRetry == nil {
		rc.CheckRetry = DefaultCheckRetry
	}
	if rc.Backoff == nil {
		rc.Backoff = DefaultBackoff
	}
	owner, name, _ := strings.Cut(d.Repo, "/")
	base := strings.TrimRight(or(d.BaseURL, DefaultBaseURL), "/")
	return &client{
		rc:    rc,
		repo:  base + "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(name),
		token: d.Token,
	}
}

func (d *Driver) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.Default()
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// answer is one HTTP answer, read whole.
type answer struct {
	status int
	body   []byte
}

// do calls GitHub: path is under the repository, body (if any) is sent as
// JSON. Passing failures are retried by the client; the error is one of
// reaching GitHub at all, after the retries.
func (c *client) do(ctx context.Context, method, path string, query url.Values, body any) (*answer, error) {
	u := c.repo + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var raw any
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encoding the request: %w", err)
		}
		raw = b
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, u, raw)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("X-GitHub-Api-Version", APIVersion)
	req.Header.Set("User-Agent", UserAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.rc.Do(req)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return &answer{status: resp.StatusCode, body: b}, nil
}

// apiError decodes an answer's error body.
func (a *answer) apiError() *apiError {
	var e apiError
	if json.Unmarshal(a.body, &e) != nil || e.Message == "" {
		e.Message = strings.TrimSpace(string(bytes.ToValidUTF8(a.body[:min(len(a.body), 200)], nil)))
	}
	return &e
}

// statusText is "422 Unprocessable Entity".
func statusText(code int) string {
	return fmt.Sprintf("%d %s", code, http.StatusText(code))
}

// waitFor waits d on after, or until ctx is done.
func waitFor(ctx context.Context, after func(time.Duration) <-chan time.Time, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-after(d):
		return nil
	}
}
