package heroku_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chatops/chatops/adapters/heroku"
	"github.com/chatops/chatops/engine"
)

func TestDefaultCheckRetry(t *testing.T) {
	dial := &url.Error{Op: "Post", URL: "https://api.heroku.com/pipeline-promotions", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}
	reset := &url.Error{Op: "Post", URL: "https://api.heroku.com/pipeline-promotions", Err: io.ErrUnexpectedEOF}
	getReset := &url.Error{Op: "Get", URL: "https://api.heroku.com/apps/x", Err: io.ErrUnexpectedEOF}
	tests := []struct {
		name string
		code int
		err  error
		want bool
	}{
		{"200", 200, nil, false},
		{"201", 201, nil, false},
		{"401", 401, nil, false},
		{"403", 403, nil, false},
		{"404", 404, nil, false},
		{"409", 409, nil, false},
		{"422", 422, nil, false},
		{"429", 429, nil, true},
		{"500", 500, nil, true},
		{"502", 502, nil, true},
		{"503", 503, nil, true},
		{"POST never connected", 0, dial, true},
		{"POST broken after sending", 0, reset, false},
		{"GET broken", 0, getReset, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp *http.Response
			if tt.err == nil {
				resp = &http.Response{StatusCode: tt.code, Header: http.Header{}}
			}
			got, err := heroku.DefaultCheckRetry(context.Background(), resp, tt.err)
			if got != tt.want || err != nil {
				t.Errorf("DefaultCheckRetry = %v, %v; want %v, nil", got, err, tt.want)
			}
		})
	}
	t.Run("context done", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		got, err := heroku.DefaultCheckRetry(ctx, &http.Response{StatusCode: 503}, nil)
		if got || !errors.Is(err, context.Canceled) {
			t.Errorf("DefaultCheckRetry = %v, %v; want false, context.Canceled", got, err)
		}
	})
}

func TestDefaultBackoff(t *testing.T) {
	const lo, hi = time.Second, 30 * time.Second
	resp := func(code int, retryAfter string) *http.Response {
		h := http.Header{}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		return &http.Response{StatusCode: code, Header: h}
	}
	tests := []struct {
		name     string
		attempt  int
		resp     *http.Response
		min, max time.Duration
	}{
		{"first", 0, nil, lo, 1500 * time.Millisecond},
		{"third", 2, resp(500, ""), 4 * time.Second, 6 * time.Second},
		{"capped", 20, resp(502, ""), hi, hi},
		{"429 Retry-After", 0, resp(429, "7"), 7 * time.Second, 7 * time.Second},
		{"503 Retry-After", 3, resp(503, "0"), 0, 0},
		{"Retry-After capped", 0, resp(429, "3600"), hi, hi},
		{"Retry-After ignored on 500", 0, resp(500, "7"), lo, 1500 * time.Millisecond},
		{"Retry-After unreadable", 1, resp(429, "soon"), 2 * time.Second, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 50 {
				got := heroku.DefaultBackoff(lo, hi, tt.attempt, tt.resp)
				if got < tt.min || got > tt.max {
					t.Fatalf("DefaultBackoff = %v, want within [%v, %v]", got, tt.min, tt.max)
				}
			}
		})
	}
}

// TestPostNotRetriedOnceSent breaks the connection of the promotion's POST
// after Heroku read it: Heroku may have started the promotion, so the driver
// says it does not know rather than asking again. The apps are given by id
// so that the POST opens the first connection: net/http itself replays a
// request carrying an Idempotency-Key once when a reused connection breaks.
func TestPostNotRetriedOnceSent(t *testing.T) {
	f := newFake(t)
	var logs syncBuffer
	d := newDriver(f, &logs)
	d.App = prodID
	d.Apps["staging"] = stagingID
	next := f.srv.Config.Handler
	f.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			next.ServeHTTP(httptestDiscard{}, r)
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			conn.Close()
			return
		}
		next.ServeHTTP(w, r)
	})
	_, err := d.Deploy(context.Background(), promotion(), nil)
	var de *engine.DriverError
	if !errors.As(err, &de) {
		t.Fatalf("err = %v (%T), want a DriverError", err, err)
	}
	if !strings.HasPrefix(de.Msg, "Heroku could not be reached: POST /pipeline-promotions:") ||
		!strings.HasSuffix(de.Msg, "the promotion was being asked for; Heroku's answer did not come") {
		t.Errorf("Msg = %q", de.Msg)
	}
	if n := f.count("POST", "/pipeline-promotions"); n != 1 {
		t.Errorf("%d POSTs, want 1", n)
	}
}

// httptestDiscard is a ResponseWriter that throws the answer away.
type httptestDiscard struct{}

func (httptestDiscard) Header() http.Header         { return http.Header{} }
func (httptestDiscard) Write(p []byte) (int, error) { return len(p), nil }
func (httptestDiscard) WriteHeader(int)             {}
