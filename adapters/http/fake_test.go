package http_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	chatopshttp "github.com/chatops/chatops/adapters/http"
	"github.com/chatops/chatops/engine"
)

// The secrets of the tests: the HMAC key, and a token kept in the webhook
// URL's query. Neither may appear in an error, a log or a progress line.
const (
	secret     = "whsec-0123456789abcdef"
	queryToken = "qtok-fedcba9876543210"
)

// reply is one scripted answer of the receiver.
type reply struct {
	status int
	header map[string]string
	body   string
}

// seen is one request the receiver got, signature verified or not.
type seen struct {
	method string
	path   string
	query  string
	header http.Header
	body   []byte
	// verr is what Verify said of the request.
	verr error
}

// receiver is a signed-webhook receiver as the package doc describes it:
// it verifies every request with Verify (its own secret) and answers the
// POST to /deploy and the GETs of /status/J42 as scripted, the last answer
// repeating.
type receiver struct {
	t      *testing.T
	secret []byte
	// now is the receiver's clock, time.Now when nil.
	now func() time.Time
	srv *httptest.Server

	mu     sync.Mutex
	posts  []reply
	polls  []reply
	seen   []seen
	nPost  int
	nPoll  int
	onPoll func(n int)
}

func newReceiver(t *testing.T, posts, polls []reply) *receiver {
	t.Helper()
	r := &receiver{t: t, secret: []byte(secret), posts: posts, polls: polls}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	now := time.Now
	if r.now != nil {
		now = r.now
	}
	verr := chatopshttp.Verify(r.secret, req.Header, body, now(), 0)
	r.seen = append(r.seen, seen{method: req.Method, path: req.URL.Path, query: req.URL.RawQuery, header: req.Header.Clone(), body: body, verr: verr})
	var rep reply
	var hook func(int)
	var n int
	switch {
	case verr != nil:
		rep = reply{status: http.StatusUnauthorized, body: `{"message":"signature rejected"}`}
	case req.Method == http.MethodPost && req.URL.Path == "/deploy":
		rep = pick(r.posts, r.nPost)
		r.nPost++
	case req.Method == http.MethodGet && req.URL.Path == "/status/J42":
		rep = pick(r.polls, r.nPoll)
		n = r.nPoll
		r.nPoll++
		hook = r.onPoll
	default:
		rep = reply{status: http.StatusNotFound, body: `{"message":"no such route"}`}
	}
	r.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	if rep.body != "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(rep.status)
	io.WriteString(w, rep.body)
}

func pick(rs []reply, n int) reply {
	if len(rs) == 0 {
		return reply{status: http.StatusInternalServerError, body: `{"message":"nothing scripted"}`}
	}
	return rs[min(n, len(rs)-1)]
}

// requests returns what the receiver got so far.
func (r *receiver) requests() []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]seen(nil), r.seen...)
}

// deployURL is the webhook's URL, with a token in its query.
func (r *receiver) deployURL() string {
	return r.srv.URL + "/deploy?token=" + queryToken
}

// status is a status_url answer.
func status(state, msg string, log ...string) reply {
	b, _ := json.Marshal(map[string]any{"state": state, "message": msg, "log": log})
	return reply{status: http.StatusOK, body: string(b)}
}

// backoffs records the waits DefaultBackoff chose, and waits none: no test
// sleeps to pass a Retry-After.
type backoffs struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (b *backoffs) backoff(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.waits = append(b.waits, chatopshttp.DefaultBackoff(min, max, attempt, resp))
	return 0
}

// syncBuffer is a log sink safe for the driver's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// instant is an After whose waits are over at once.
func instant(time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	c <- time.Time{}
	return c
}

// pipeline is the test pipeline: production deploys through url.
func pipeline(url string) *engine.PipelineConfig {
	return &engine.PipelineConfig{
		Name:   "shop",
		Stages: []string{"staging", "production"},
		Deploy: map[string]engine.DeployConfig{
			"production": {HTTP: &engine.HTTPDriverConfig{URL: url, SecretEnv: "SHOP_DEPLOY_SECRET"}},
		},
	}
}

func env(kv ...string) engine.Getenv {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// harness is a driver wired to a receiver, with its logs and backoffs kept.
type harness struct {
	rcv  *receiver
	d    *chatopshttp.Driver
	logs *syncBuffer
	bo   *backoffs
}

func newHarness(t *testing.T, posts, polls []reply) *harness {
	t.Helper()
	rcv := newReceiver(t, posts, polls)
	d, err := chatopshttp.New(pipeline(rcv.deployURL()), "production", env("SHOP_DEPLOY_SECRET", secret))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h := &harness{rcv: rcv, d: d, logs: &syncBuffer{}, bo: &backoffs{}}
	d.Logger = slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d.After = instant
	d.Backoff = h.bo.backoff
	d.RetryMax = 3
	return h
}

// promotion is the change the tests deploy.
func promotion() *engine.Deployment {
	return &engine.Deployment{
		Action: "promote", Pipeline: "shop", From: "staging", Stage: "production",
		Version: "1.4.0", Commit: "4f2a9c1", Actor: "alice", JobID: "J42", Previous: "1.3.2",
	}
}

// noSecrets fails if a secret shows in any of texts.
func noSecrets(t *testing.T, what string, texts ...string) {
	t.Helper()
	for _, s := range texts {
		for _, sec := range []string{secret, queryToken} {
			if strings.Contains(s, sec) {
				t.Errorf("%s holds a secret: %s", what, s)
			}
		}
	}
}
