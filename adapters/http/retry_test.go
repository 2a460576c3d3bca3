package http_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	chatopshttp "github.com/chatops/chatops/adapters/http"
)

func TestDefaultCheckRetry(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	refused := &url.Error{Op: "Post", URL: "http://127.0.0.1:1/deploy", Err: errors.New("connect: connection refused")}
	tests := []struct {
		name   string
		ctx    context.Context
		status int
		err    error
		want   bool
	}{
		{name: "connection refused", err: refused, want: true},
		{name: "untrusted certificate", err: &url.Error{Op: "Post", URL: "https://x", Err: x509.UnknownAuthorityError{}}},
		{name: "200", status: 200},
		{name: "202", status: 202},
		{name: "400", status: 400},
		{name: "401", status: 401},
		{name: "404", status: 404},
		{name: "408", status: 408, want: true},
		{name: "409", status: 409},
		{name: "422", status: 422},
		{name: "429", status: 429, want: true},
		{name: "500", status: 500, want: true},
		{name: "501 is permanent", status: 501},
		{name: "502", status: 502, want: true},
		{name: "503", status: 503, want: true},
		{name: "504", status: 504, want: true},
		{name: "context done", ctx: canceled, status: 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			var resp *http.Response
			if tt.err == nil {
				resp = &http.Response{StatusCode: tt.status, Header: http.Header{}}
			}
			got, err := chatopshttp.DefaultCheckRetry(ctx, resp, tt.err)
			if got != tt.want {
				t.Errorf("retry = %v, want %v", got, tt.want)
			}
			if (err != nil) != (tt.ctx != nil) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestDefaultBackoff(t *testing.T) {
	const lo, hi = time.Second, 30 * time.Second
	answer := func(status int, retryAfter string) *http.Response {
		h := http.Header{}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		return &http.Response{StatusCode: status, Header: h}
	}
	tests := []struct {
		name    string
		attempt int
		resp    *http.Response
		min     time.Duration
		max     time.Duration
	}{
		{name: "first retry", attempt: 0, resp: answer(500, ""), min: time.Second, max: 1500 * time.Millisecond},
		{name: "third retry", attempt: 2, resp: answer(502, ""), min: 4 * time.Second, max: 6 * time.Second},
		{name: "capped", attempt: 10, resp: answer(500, ""), min: hi, max: hi},
		{name: "huge attempt", attempt: 5000, resp: nil, min: hi, max: hi},
		{name: "429 Retry-After seconds", attempt: 0, resp: answer(429, "7"), min: 7 * time.Second, max: 7 * time.Second},
		{name: "503 Retry-After seconds", attempt: 3, resp: answer(503, "2"), min: 2 * time.Second, max: 2 * time.Second},
		{name: "Retry-After capped", attempt: 0, resp: answer(429, "3600"), min: hi, max: hi},
		{name: "Retry-After zero", attempt: 0, resp: answer(429, "0"), min: 0, max: 0},
		{name: "Retry-After unreadable", attempt: 0, resp: answer(503, "soon"), min: time.Second, max: 1500 * time.Millisecond},
		{name: "Retry-After date in the past", attempt: 0, resp: answer(503, "Mon, 02 Jan 2006 15:04:05 GMT"), min: 0, max: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range 50 {
				got := chatopshttp.DefaultBackoff(lo, hi, tt.attempt, tt.resp)
				if got < tt.min || got > tt.max {
					t.Fatalf("try %d: wait = %s, want %s..%s", i, got, tt.min, tt.max)
				}
			}
		})
	}
}

func ExampleVerify() {
	secret := []byte("shhh-webhook-key")
	body := []byte(`{"action":"deploy"}`)
	header := chatopshttp.Sign(secret, time.Unix(1531420618, 0), body)
	fmt.Println(header.Get("X-Chatops-Signature"))
	fmt.Println(chatopshttp.Verify(secret, header, body, time.Unix(1531420618+60, 0), 0))
	fmt.Println(chatopshttp.Verify([]byte("other"), header, body, time.Unix(1531420618+60, 0), 0))
	// Output:
	// v1=c43cb84ceadc6bcadd54b275ad7162a35b608fee9357c9d3683ac69187fc4287
	// <nil>
	// request signature does not match
}
