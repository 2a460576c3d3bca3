package heroku

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/hashicorp/go-retryablehttp"
)

// maxBody bounds what the driver reads of one answer.
const maxBody = 1 << 20

// idRef is Heroku's {"id": "..."} reference to another object.
type idRef struct {
	ID string `json:"id"`
}

// appRef is {"app": {"id": "..."}}.
type appRef struct {
	App idRef `json:"app"`
}

// promotionRequest is the body of POST /pipeline-promotions.
type promotionRequest struct {
	Pipeline idRef    `json:"pipeline"`
	Source   appRef   `json:"source"`
	Targets  []appRef `json:"targets"`
}

// promotion is Heroku's pipeline promotion.
type promotion struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// promotionTarget is one entry of GET /pipeline-promotions/{id}/promotion-targets.
type promotionTarget struct {
	ID           string `json:"id"`
	App          idRef  `json:"app"`
	Status       string `json:"status"`
	ErrorMessage string `json:"error_message"`
	Release      *idRef `json:"release"`
}

// rollbackRequest is the body of POST /apps/{app}/releases that rolls back.
type rollbackRequest struct {
	Release string `json:"release"`
}

// release is Heroku's release.
type release struct {
	ID          string `json:"id"`
	Version     int    `json:"version"`
	Status      string `json:"status"`
	Description string `json:"description"`
}

// app is the part of Heroku's app the driver reads.
type app struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// apiError is Heroku's error body.
type apiError struct {
	ID      string `json:"id"`
	Message string `json:"message"`
}

// client makes the calls of one deployment.
type client struct {
	rc    *retryablehttp.Client
	base  string
	token string
	key   string // Idempotency-Key of POSTs
}

func (d *Driver) newClient(key string) *client {
	hc := d.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: or(d.RequestTimeout, DefaultRequestTimeout)}
	}
	rc := &retryablehttp.Client{
		HTTPClient:   hc,
		Logger:       d.logger(),
		RetryWaitMin: or(d.RetryWaitMin, DefaultRetryWaitMin),
		RetryWaitMax: or(d.RetryWaitMax, DefaultRetryWaitMax),
		RetryMax:     or(d.RetryMax, DefaultRetryMax),
		CheckRetry:   d.CheckRetry,
		Backoff:      d.Backoff,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	if rc.CheckRetry == nil {
		rc.CheckRetry = DefaultCheckRetry
	}
	if rc.Backoff == nil {
		rc.Backoff = DefaultBackoff
	}
	return &client{
		rc:    rc,
		base:  strings.TrimRight(or(d.BaseURL, DefaultBaseURL), "/"),
		token: d.Token,
		key:   key,
	}
}

// answer is one HTTP answer, read whole.
type answer struct {
	status int
	body   []byte
}

// do calls Heroku at path, sending body (if any) as JSON. Passing failures
// are retried by the client; the error is one of reaching Heroku at all.
func (c *client) do(ctx context.Context, method, path string, body any) (*answer, error) {
	var raw any
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encoding the request: %w", err)
		}
		raw = b
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, c.base+path, raw)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", Accept)
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", UserAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if method == http.MethodPost && c.key != "" {
		req.Header.Set("Idempotency-Key", c.key)
	}
	resp, err := c.rc.Do(req)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return &answer{status: resp.StatusCode, body: b}, nil
}

// ok says whether the answer is a 2xx.
func (a *answer) ok() bool { return a.status >= 200 && a.status < 300 }

// message is Heroku's message of an error answer, or the start of its body.
func (a *answer) message() string {
	var e apiError
	if json.Unmarshal(a.body, &e) == nil && e.Message != "" {
		return e.Message
	}
	s := strings.TrimSpace(string(bytes.ToValidUTF8(a.body[:min(len(a.body), 200)], nil)))
	if s == "" {
		return http.StatusText(a.status)
	}
	return s
}

// decode reads a 2xx answer's JSON into v.
func (a *answer) decode(what string, v any) error {
	if err := json.Unmarshal(a.body, v); err != nil {
		return fmt.Errorf("reading %s: %w", what, err)
	}
	return nil
}
