package github_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/chatops/chatops/adapters/github"
)

func answer(code int, header ...string) *http.Response {
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return &http.Response{StatusCode: code, Header: h}
}

func TestDefaultCheckRetry(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		resp  *http.Response
		err   error
		retry bool
	}{
		{"connection error", context.Background(), nil, errors.New("connection refused"), true},
		{"500", context.Background(), answer(500), nil, true},
		{"502", context.Background(), answer(502), nil, true},
		{"503", context.Background(), answer(503), nil, true},
		{"429", context.Background(), answer(429), nil, true},
		{"403 rate limit spent", context.Background(), answer(403, "X-Ratelimit-Remaining", "0"), nil, true},
		{"403 secondary rate limit", context.Background(), answer(403, "Retry-After", "60"), nil, true},
		{"200", context.Background(), answer(200), nil, false},
		{"201", context.Background(), answer(201), nil, false},
		{"401", context.Background(), answer(401), nil, false},
		{"403", context.Background(), answer(403, "X-Ratelimit-Remaining", "4999"), nil, false},
		{"404", context.Background(), answer(404), nil, false},
		{"409", context.Background(), answer(409), nil, false},
		{"422", context.Background(), answer(422), nil, false},
		{"canceled", canceled, answer(503), nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			retry, _ := github.DefaultCheckRetry(tc.ctx, tc.resp, tc.err)
			if retry != tc.retry {
				t.Errorf("retry = %v, want %v", retry, tc.retry)
			}
		})
	}
}

func TestDefaultBackoff(t *testing.T) {
	const min, max = time.Second, 30 * time.Second
	reset := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	for _, tc := range []struct {
		name    string
		attempt int
		resp    *http.Response
		lo, hi  time.Duration
	}{
		{"first", 0, answer(500), min, 1500 * time.Millisecond},
		{"third", 2, answer(502), 4 * time.Second, 6 * time.Second},
		{"capped", 20, answer(500), max, max},
		{"huge attempt", 5000, nil, max, max},
		{"429 Retry-After", 0, answer(429, "Retry-After", "7"), 7 * time.Second, 7 * time.Second},
		{"503 Retry-After", 3, answer(503, "Retry-After", "2"), 2 * time.Second, 2 * time.Second},
		{"Retry-After capped", 0, answer(429, "Retry-After", "3600"), max, max},
		{"500 ignores Retry-After", 0, answer(500, "Retry-After", "20"), min, 1500 * time.Millisecond},
		{"rate limit reset capped", 0, answer(403, "X-Ratelimit-Remaining", "0", "X-Ratelimit-Reset", reset), max, max},
		{"rate limit reset passed", 0, answer(429, "X-Ratelimit-Remaining", "0", "X-Ratelimit-Reset", "1"), min, 1500 * time.Millisecond},
		{"connection error", 1, nil, 2 * time.Second, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 20 { // jitter
				got := github.DefaultBackoff(min, max, tc.attempt, tc.resp)
				if got < tc.lo || got > tc.hi {
					t.Fatalf("wait = %v, want in [%v, %v]", got, tc.lo, tc.hi)
				}
			}
		})
	}
}
