package slack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	natsadapter "github.com/chatops/chatops/adapters/nats"
	"github.com/chatops/chatops/adapters/slack"
	"github.com/chatops/chatops/engine"
)

const dlToken = "xoxb-1234-5678-deliverysecret"

// dlSlack is a fake Slack on 127.0.0.1: response_urls under /r/<mode>/<id>
// and the Web API under /api/. Each response_url mode answers as Slack does:
// ok, limited (429 Retry-After: 30), expired (404 expired_url), used (404
// used_url), gone (410), broken (500), redirect (307 to elsewhere).
type dlSlack struct {
	srv *httptest.Server
	// elsewhere is a host answers must never reach.
	elsewhere *httptest.Server

	mu           sync.Mutex
	hits         map[string][]time.Time // by response_url path
	calls        []dlCall               // Web API calls
	elsewhereGot int
	// notIn are channels the bot is not in; apiError, when set, is every Web
	// API call's error code; apiRedirect sends every Web API call elsewhere.
	notIn       map[string]bool
	apiError    string
	apiLimited  bool
	apiRedirect bool
	arrived     chan string // each response_url path or API method as it arrives
}

type dlCall struct {
	method string
	form   url.Values
}

func newDLSlack(t *testing.T) *dlSlack {
	t.Helper()
	f := &dlSlack{hits: map[string][]time.Time{}, notIn: map[string]bool{}, arrived: make(chan string, 1000)}
	f.elsewhere = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.elsewhereGot++
		f.mu.Unlock()
		io.WriteString(w, "ok")
	}))
	t.Cleanup(f.elsewhere.Close)
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *dlSlack) serve(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	if method, ok := strings.CutPrefix(r.URL.Path, "/api/"); ok {
		f.api(w, r, method)
		return
	}
	mode, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/r/"), "/")
	f.mu.Lock()
	f.hits[r.URL.Path] = append(f.hits[r.URL.Path], now)
	f.mu.Unlock()
	defer func() { f.arrived <- r.URL.Path }()
	switch mode {
	case "ok":
		io.WriteString(w, "ok")
	case "limited":
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, "rate_limited")
	case "expired":
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "expired_url")
	case "used":
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "used_url")
	case "gone":
		w.WriteHeader(http.StatusGone)
	case "broken":
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "<html>oops</html>")
	case "redirect":
		http.Redirect(w, r, f.elsewhere.URL+"/steal", http.StatusTemporaryRedirect)
	default:
		http.NotFound(w, r)
	}
}

// api answers in the shapes of Slack's documentation.
func (f *dlSlack) api(w http.ResponseWriter, r *http.Request, method string) {
	_ = r.ParseForm()
	f.mu.Lock()
	f.calls = append(f.calls, dlCall{method, r.PostForm})
	apiError, limited, redirect, notIn := f.apiError, f.apiLimited, f.apiRedirect, f.notIn[r.PostForm.Get("channel")]
	f.mu.Unlock()
	defer func() { f.arrived <- method }()
	if limited {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	if redirect {
		http.Redirect(w, r, f.elsewhere.URL+"/api/"+method, http.StatusTemporaryRedirect)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case apiError != "":
		fmt.Fprintf(w, `{"ok":false,"error":%q}`, apiError)
	case notIn && (method == "chat.postMessage" || method == "chat.postEphemeral"):
		io.WriteString(w, `{"ok":false,"error":"not_in_channel"}`)
	case method == "chat.postMessage":
		fmt.Fprintf(w, `{"ok":true,"channel":%q,"ts":"1700000000.000100","message":{"type":"message","text":%q}}`,
			r.PostForm.Get("channel"), r.PostForm.Get("text"))
	case method == "chat.postEphemeral":
		io.WriteString(w, `{"ok":true,"message_ts":"1700000000.000200"}`)
	case method == "conversations.open":
		io.WriteString(w, `{"ok":true,"channel":{"id":"D0REQUESTER"}}`)
	default:
		io.WriteString(w, `{"ok":false,"error":"unknown_method"}`)
	}
}

func (f *dlSlack) url(mode, id string) string { return f.srv.URL + "/r/" + mode + "/" + id }

func (f *dlSlack) hitCount(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.hits[path])
}

func (f *dlSlack) apiCalls() []dlCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]dlCall(nil), f.calls...)
}

// dlHooks records what a Deliverer reports.
type dlHooks struct {
	mu          sync.Mutex
	delivered   map[string][]string // job → routes
	undelivered map[string][]string // job → reasons
	done        chan string
}

func newDLHooks() *dlHooks {
	return &dlHooks{delivered: map[string][]string{}, undelivered: map[string][]string{}, done: make(chan string, 1000)}
}

// deliverer returns a Deliverer on the fake, with a bot token, logging to log.
func (f *dlSlack) deliverer(h *dlHooks, log *slog.Logger) *slack.Deliverer {
	u, _ := url.Parse(f.srv.URL)
	return &slack.Deliverer{
		ResponseHosts: []string{u.Host},
		Token:         func(context.Context, string) (string, error) { return dlToken, nil },
		APIURL:        f.srv.URL + "/api/",
		Log:           log,
		Delivered: func(_ context.Context, d *engine.Delivery, route string) {
			h.mu.Lock()
			h.delivered[d.JobID] = append(h.delivered[d.JobID], route)
			h.mu.Unlock()
			h.done <- d.JobID
		},
		Undelivered: func(_ context.Context, d *engine.Delivery, reason string) {
			h.mu.Lock()
			h.undelivered[d.JobID] = append(h.undelivered[d.JobID], reason)
			h.mu.Unlock()
			h.done <- d.JobID
		},
	}
}

func dlDelivery(t *testing.T, job string, msg slack.Message, reply map[string]string) *engine.Delivery {
	t.Helper()
	body, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	return &engine.Delivery{ID: job + "/answer", JobID: job, Reply: reply, Message: body, Created: time.Now(), Attempt: 1}
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// dlOutbox opens an outbox on an embedded NATS and runs deliver on it until
// the test ends.
func dlOutbox(t *testing.T, deliver func(context.Context, *engine.Delivery) engine.Retry) *natsadapter.Outbox {
	t.Helper()
	conn, err := natsadapter.Open(context.Background(), natsadapter.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	o, err := conn.Outbox(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Deliver(ctx, deliver) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Deliver: %v", err)
		}
		conn.Close()
	})
	return o
}

// TestDeliverStall: answers held by a rate limit are retried by delayed
// redelivery, so twenty unrelated answers posted meanwhile each arrive within
// a second.
func TestDeliverStall(t *testing.T) {
	f := newDLSlack(t)
	h := newDLHooks()
	d := f.deliverer(h, quietLog())
	var mu sync.Mutex
	waits := map[string]time.Duration{} // job → the wait asked of the outbox after attempt 1
	o := dlOutbox(t, func(ctx context.Context, del *engine.Delivery) engine.Retry {
		r := d.Deliver(ctx, del)
		mu.Lock()
		if _, ok := waits[del.JobID]; !ok {
			waits[del.JobID] = r.After
		}
		mu.Unlock()
		return r
	})
	ctx := context.Background()
	msg := slack.Message{ResponseType: "in_channel", Text: "demo is at 1.1.0"}

	start := time.Now()
	for i := range 4 {
		job := fmt.Sprintf("held%d", i)
		if err := o.Post(ctx, dlDelivery(t, job, msg, map[string]string{"response_url": f.url("limited", job)})); err != nil {
			t.Fatal(err)
		}
	}
	for range 4 {
		dlWait(t, f.arrived, 10*time.Second, "a rate-limited answer's first attempt")
	}

	posted := map[string]time.Time{}
	for i := range 20 {
		job := fmt.Sprintf("info%d", i)
		posted["/r/ok/"+job] = time.Now()
		if err := o.Post(ctx, dlDelivery(t, job, msg, map[string]string{"response_url": f.url("ok", job)})); err != nil {
			t.Fatal(err)
		}
	}
	for range 20 {
		dlWait(t, h.done, 10*time.Second, "the info answers")
	}
	var worst time.Duration
	for path, at := range posted {
		f.mu.Lock()
		hits := f.hits[path]
		f.mu.Unlock()
		if len(hits) != 1 {
			t.Errorf("%s: %d posts, want 1", path, len(hits))
			continue
		}
		lat := hits[0].Sub(at)
		worst = max(worst, lat)
		if lat > time.Second {
			t.Errorf("%s arrived %v after it was posted, want within 1s", path, lat)
		}
	}
	t.Logf("worst latency of 20 answers behind 4 rate-limited ones: %v", worst)

	// The held answers wait out their Retry-After in the stream, not in a
	// worker: none came back yet, and each asked for at least 30 s.
	for time.Since(start) < 2*time.Second {
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range 4 {
		job := fmt.Sprintf("held%d", i)
		if n := f.hitCount("/r/limited/" + job); n != 1 {
			t.Errorf("%s: %d attempts within 2s, want 1 (Retry-After: 30)", job, n)
		}
		if waits[job] < 30*time.Second {
			t.Errorf("%s: next attempt in %v, want at least the Retry-After 30s", job, waits[job])
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.undelivered) > 0 {
		t.Errorf("undelivered: %v", h.undelivered)
	}
}

func dlWait[T any](t *testing.T, ch <-chan T, timeout time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(timeout):
		t.Fatalf("waited %v for %s", timeout, what)
		panic("unreachable")
	}
}

// TestDeliverExpiredThroughOutbox: an answer whose response_url has expired
// arrives by chat.postMessage in its channel and thread.
func TestDeliverExpiredThroughOutbox(t *testing.T) {
	f := newDLSlack(t)
	h := newDLHooks()
	d := f.deliverer(h, quietLog())
	o := dlOutbox(t, d.Deliver)
	msg := slack.Message{ResponseType: "in_channel", Text: "demo is at 1.1.0"}
	reply := map[string]string{"response_url": f.url("expired", "j1"), "team": "T1", "channel": "C1", "thread_ts": "1700000000.000001", "user": "U1"}
	if err := o.Post(context.Background(), dlDelivery(t, "j1", msg, reply)); err != nil {
		t.Fatal(err)
	}
	dlWait(t, h.done, 10*time.Second, "the answer")
	h.mu.Lock()
	defer h.mu.Unlock()
	if got := h.delivered["j1"]; len(got) != 1 || got[0] != slack.RoutePostMessage {
		t.Errorf("delivered by %v, want [chat.postMessage] (undelivered: %v)", got, h.undelivered)
	}
	calls := f.apiCalls()
	if len(calls) != 1 || calls[0].method != "chat.postMessage" {
		t.Fatalf("Web API calls %v, want one chat.postMessage", calls)
	}
	if c := calls[0].form; c.Get("channel") != "C1" || c.Get("thread_ts") != "1700000000.000001" || c.Get("text") != msg.Text {
		t.Errorf("chat.postMessage %v, want channel C1, the thread and the answer's text", c)
	}
	if n := f.hitCount("/r/expired/j1"); n != 1 {
		t.Errorf("expired response_url tried %d times, want 1", n)
	}
}

// TestDeliverRoutes: the routes an answer takes, one attempt at a time.
func TestDeliverRoutes(t *testing.T) {
	inChannel := slack.Message{ResponseType: "in_channel", Text: "demo is at 1.1.0"}
	ephemeral := slack.Message{ResponseType: "ephemeral", Text: "no pipeline \"dmeo\""}
	tests := []struct {
		name       string
		msg        slack.Message
		mode       string // the response_url's mode; "" for none
		reply      map[string]string
		age        time.Duration // of the job when the answer goes
		noToken    bool
		tokenErr   engine.Code
		apiError   string
		apiLimited bool
		notIn      bool
		// want
		route    string   // delivered by; "" when undelivered
		calls    []string // Web API methods called
		retry    bool
		minRetry time.Duration
		reason   string // in the undelivered reason
	}{
		{name: "fresh response_url", msg: inChannel, mode: "ok", route: slack.RouteResponseURL},
		{name: "expired_url", msg: inChannel, mode: "expired", route: slack.RoutePostMessage, calls: []string{"chat.postMessage"}},
		{name: "used_url", msg: inChannel, mode: "used", route: slack.RoutePostMessage, calls: []string{"chat.postMessage"}},
		{name: "410", msg: inChannel, mode: "gone", route: slack.RoutePostMessage, calls: []string{"chat.postMessage"}},
		{name: "past 30 minutes", msg: inChannel, mode: "ok", age: 31 * time.Minute, route: slack.RoutePostMessage, calls: []string{"chat.postMessage"}},
		{name: "no response_url", msg: inChannel, route: slack.RoutePostMessage, calls: []string{"chat.postMessage"}},
		{name: "ephemeral", msg: ephemeral, mode: "expired", route: slack.RoutePostEphemeral, calls: []string{"chat.postEphemeral"}},
		{name: "not in channel", msg: inChannel, mode: "expired", notIn: true, route: slack.RouteDM,
			calls: []string{"chat.postMessage", "conversations.open", "chat.postMessage"}},
		{name: "ephemeral not in channel", msg: ephemeral, mode: "expired", notIn: true, route: slack.RouteDM,
			calls: []string{"chat.postEphemeral", "conversations.open", "chat.postMessage"}},
		{name: "no channel", msg: inChannel, mode: "expired", reply: map[string]string{"channel": ""}, route: slack.RouteDM,
			calls: []string{"conversations.open", "chat.postMessage"}},
		{name: "refused host", msg: inChannel, reply: map[string]string{"response_url": "https://attacker.example/commands/T1/1/x"},
			route: slack.RoutePostMessage, calls: []string{"chat.postMessage"}},
		{name: "server error", msg: inChannel, mode: "broken", retry: true},
		{name: "rate limited", msg: inChannel, mode: "limited", retry: true, minRetry: 30 * time.Second},
		{name: "Web API 429", msg: inChannel, mode: "expired", apiLimited: true, retry: true, minRetry: 7 * time.Second, calls: []string{"chat.postMessage"}},
		{name: "Web API ratelimited", msg: inChannel, mode: "expired", apiError: "ratelimited", retry: true, calls: []string{"chat.postMessage"}},
		{name: "no token", msg: inChannel, mode: "expired", noToken: true, reason: "response_url: response_url answered 404 Not Found: expired_url"},
		{name: "token store unavailable", msg: inChannel, mode: "expired", tokenErr: engine.Unavailable, retry: true},
		{name: "token unreadable", msg: inChannel, mode: "expired", tokenErr: engine.Internal, reason: "bot token: sealed with another key"},
		{name: "not in channel, no requester", msg: inChannel, mode: "expired", notIn: true, reply: map[string]string{"user": ""},
			calls: []string{"chat.postMessage"}, reason: "dm: no requester"},
		{name: "invalid_auth", msg: inChannel, mode: "expired", apiError: "invalid_auth", calls: []string{"chat.postMessage"}, reason: "chat.postMessage: invalid_auth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newDLSlack(t)
			f.apiError, f.apiLimited = tt.apiError, tt.apiLimited
			f.notIn["C1"] = tt.notIn
			h := newDLHooks()
			d := f.deliverer(h, quietLog())
			now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
			d.Now = func() time.Time { return now }
			if tt.noToken {
				d.Token = func(context.Context, string) (string, error) {
					return "", &engine.Error{Code: engine.NotFound, Msg: "not installed"}
				}
			}
			if tt.tokenErr != "" {
				d.Token = func(context.Context, string) (string, error) {
					return "", &engine.Error{Code: tt.tokenErr, Msg: "sealed with another key"}
				}
			}
			reply := map[string]string{"team": "T1", "channel": "C1", "user": "U1", "enqueued": now.Add(-tt.age).Format(time.RFC3339)}
			if tt.mode != "" {
				reply["response_url"] = f.url(tt.mode, "j1")
			}
			for k, v := range tt.reply {
				reply[k] = v
			}
			del := dlDelivery(t, "j1", tt.msg, reply)
			del.Created = now

			r := d.Deliver(context.Background(), del)

			if (r.After > 0) != tt.retry || r.After < tt.minRetry {
				t.Errorf("retry after %v, want retry %v (at least %v)", r.After, tt.retry, tt.minRetry)
			}
			var methods []string
			for _, c := range f.apiCalls() {
				methods = append(methods, c.method)
			}
			if strings.Join(methods, ",") != strings.Join(tt.calls, ",") {
				t.Errorf("Web API calls %v, want %v", methods, tt.calls)
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			if tt.route != "" {
				if got := h.delivered["j1"]; len(got) != 1 || got[0] != tt.route {
					t.Errorf("delivered by %v, want %s (undelivered: %v)", got, tt.route, h.undelivered["j1"])
				}
			} else if len(h.delivered["j1"]) > 0 {
				t.Errorf("delivered by %v, want no route", h.delivered["j1"])
			}
			switch got := h.undelivered["j1"]; {
			case tt.reason == "" && len(got) > 0:
				t.Errorf("undelivered: %v", got)
			case tt.reason != "" && (len(got) != 1 || !strings.Contains(got[0], tt.reason)):
				t.Errorf("undelivered %q, want one call saying %q", got, tt.reason)
			}
			for _, c := range f.apiCalls() {
				if c.method == "chat.postMessage" && c.form.Get("channel") == "D0REQUESTER" && c.form.Get("thread_ts") != "" {
					t.Errorf("a DM went to a thread: %v", c.form)
				}
				if c.method == "chat.postEphemeral" && c.form.Get("user") != "U1" {
					t.Errorf("chat.postEphemeral to %q, want the requester U1", c.form.Get("user"))
				}
			}
		})
	}
}

// TestDeliverGivesUp: past MaxAge an answer is undelivered, once, without
// another try.
func TestDeliverGivesUp(t *testing.T) {
	f := newDLSlack(t)
	h := newDLHooks()
	d := f.deliverer(h, quietLog())
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	d.Now = func() time.Time { return now }
	del := dlDelivery(t, "j1", slack.Message{Text: "hi"}, map[string]string{"response_url": f.url("broken", "j1"), "channel": "C1"})
	del.Created = now.Add(-slack.DefaultMaxAge - time.Second)
	del.Attempt = 12
	if r := d.Deliver(context.Background(), del); r.After != 0 {
		t.Errorf("retry after %v, want none", r.After)
	}
	if n := f.hitCount("/r/broken/j1"); n != 0 || len(f.apiCalls()) != 0 {
		t.Errorf("tried %d response_url and %d Web API calls past the deadline", n, len(f.apiCalls()))
	}
	if got := h.undelivered["j1"]; len(got) != 1 || !strings.Contains(got[0], "11 attempts") {
		t.Errorf("undelivered %q, want once, counting 11 attempts", got)
	}
}

// TestDeliverNoRedirect: a redirect from an allowed host, on the response_url
// or the Web API, is not followed: the other host sees nothing.
func TestDeliverNoRedirect(t *testing.T) {
	f := newDLSlack(t)
	f.apiRedirect = true
	h := newDLHooks()
	d := f.deliverer(h, quietLog())
	del := dlDelivery(t, "j1", slack.Message{Text: "hi"}, map[string]string{"response_url": f.url("redirect", "j1"), "channel": "C1", "user": "U1"})
	if r := d.Deliver(context.Background(), del); r.After != 0 {
		t.Errorf("retry after %v, want none: a redirect is final", r.After)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.elsewhereGot != 0 {
		t.Errorf("the other host got %d requests, want none", f.elsewhereGot)
	}
	if got := h.undelivered["j1"]; len(got) != 1 || !strings.Contains(got[0], "redirect not followed") || !strings.Contains(got[0], "307") {
		t.Errorf("undelivered %q, want the refused redirects", got)
	}
}

// TestDeliverLogsRedacted: failures are logged, never with a response_url's
// path or a token.
func TestDeliverLogsRedacted(t *testing.T) {
	f := newDLSlack(t)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	var buf bytes.Buffer
	var bufMu sync.Mutex
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &bufMu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := newDLHooks()
	d := f.deliverer(h, log)
	u, _ := url.Parse(closedURL)
	d.ResponseHosts = append(d.ResponseHosts, u.Host)
	secrets := []string{"SECRETA", "SECRETB", "SECRETC", "SECRETD", "SECRETE", dlToken, "xoxp-99-leaked"}
	for i, tc := range []struct {
		responseURL string
		token       func(context.Context, string) (string, error)
	}{
		{responseURL: f.url("expired", "T1/111/SECRETA")},
		{responseURL: f.url("broken", "T1/222/SECRETB")},
		{responseURL: closedURL + "/commands/T1/333/SECRETC"},
		{responseURL: "https://attacker.example/commands/T1/444/SECRETD"},
		{responseURL: f.url("redirect", "T1/555/SECRETE")},
		{responseURL: f.url("used", "T1/666/SECRETA"), token: func(context.Context, string) (string, error) {
			return "", errors.New("reading token xoxp-99-leaked: store unavailable")
		}},
	} {
		if tc.token != nil {
			d.Token = tc.token
		}
		f.apiError = "invalid_auth"
		d.Deliver(context.Background(), dlDelivery(t, fmt.Sprint("j", i), slack.Message{Text: "hi"},
			map[string]string{"response_url": tc.responseURL, "channel": "C1"}))
	}
	bufMu.Lock()
	logged := buf.String()
	bufMu.Unlock()
	if !strings.Contains(logged, "expired_url") || !strings.Contains(logged, "connection refused") {
		t.Errorf("the log does not say what failed:\n%s", logged)
	}
	h.mu.Lock()
	reasons := fmt.Sprint(h.undelivered)
	h.mu.Unlock()
	for _, s := range secrets {
		if strings.Contains(logged, s) {
			t.Errorf("the log holds %q:\n%s", s, logged)
		}
		if strings.Contains(reasons, s) {
			t.Errorf("an undelivered reason holds %q: %s", s, reasons)
		}
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestDeliverOnce: an answer posted twice is delivered once.
func TestDeliverOnce(t *testing.T) {
	f := newDLSlack(t)
	h := newDLHooks()
	o := dlOutbox(t, f.deliverer(h, quietLog()).Deliver)
	ctx := context.Background()
	msg := slack.Message{ResponseType: "in_channel", Text: "done"}
	for _, job := range []string{"j1", "j1", "j2"} {
		if err := o.Post(ctx, dlDelivery(t, job, msg, map[string]string{"response_url": f.url("ok", job)})); err != nil {
			t.Fatal(err)
		}
	}
	dlWait(t, h.done, 10*time.Second, "the answers")
	dlWait(t, h.done, 10*time.Second, "the answers")
	select {
	case job := <-h.done:
		t.Errorf("%s answered again", job)
	case <-time.After(500 * time.Millisecond):
	}
	if a, b := f.hitCount("/r/ok/j1"), f.hitCount("/r/ok/j2"); a != 1 || b != 1 {
		t.Errorf("j1 posted %d times, j2 %d, want once each", a, b)
	}
}

// TestDeliverBlocksSurvive: Block Kit answers reach the Web API whole.
func TestDeliverBlocksSurvive(t *testing.T) {
	f := newDLSlack(t)
	h := newDLHooks()
	d := f.deliverer(h, quietLog())
	res := &engine.Result{Title: "demo", Fields: []engine.Field{{Name: "production", Value: "1.1.0"}}}
	msg := slack.RenderResult(res, "info demo", "j1")
	d.Deliver(context.Background(), dlDelivery(t, "j1", msg, map[string]string{"channel": "C1"}))
	calls := f.apiCalls()
	if len(calls) != 1 {
		t.Fatalf("Web API calls %v, want one", calls)
	}
	want, _ := json.Marshal(msg.Blocks)
	var gotBlocks, wantBlocks any
	_ = json.Unmarshal([]byte(calls[0].form.Get("blocks")), &gotBlocks)
	_ = json.Unmarshal(want, &wantBlocks)
	if fmt.Sprint(gotBlocks) != fmt.Sprint(wantBlocks) {
		t.Errorf("blocks posted:\n%s\nwant:\n%s", calls[0].form.Get("blocks"), want)
	}
}

func TestDeliverRedact(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"response_url", `Post "https://hooks.slack.com/commands/T1/123/abcDEF": EOF`, `Post "https://hooks.slack.com/…": EOF`},
		{"actions url", "https://hooks.slack.com/actions/T1/9/xyz?x=1 failed", "https://hooks.slack.com/… failed"},
		{"loopback", "http://127.0.0.1:4567/r/ok/SECRET", "http://127.0.0.1:4567/…"},
		{"web api kept", `Post "https://slack.com/api/chat.postMessage?token=xoxb-1-2": timeout`, `Post "https://slack.com/api/chat.postMessage": timeout`},
		{"bot token", "token xoxb-123-456-abc is revoked", "token xoxb-… is revoked"},
		{"user token", "xoxp-1-2-3", "xoxp-…"},
		{"rotating token", "xoxe.xoxp-1-abc and xoxe-1-def", "xoxe.xoxp-… and xoxe-…"},
		{"app token", "xapp-1-A1-2-abc", "xapp-…"},
		{"form", "body token=secret&channel=C1", "body token=…&channel=C1"},
		{"host only", "https://hooks.slack.com/ down", "https://hooks.slack.com/ down"},
		{"plain", "response_url answered 404 Not Found: expired_url", "response_url answered 404 Not Found: expired_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := slack.Redact(tt.in); got != tt.want {
				t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	err := slack.RedactError(fmt.Errorf("wrapped: %w", &slack.ResponseError{Status: 404, Code: "https://x/y/z"}))
	var re *slack.ResponseError
	if !errors.As(err, &re) || strings.Contains(err.Error(), "/y/z") {
		t.Errorf("RedactError: %v, want redacted and still a *ResponseError", err)
	}
}

func TestDeliverDefaultBackoff(t *testing.T) {
	for attempt := 1; attempt <= 40; attempt++ {
		for range 50 {
			d := slack.DefaultBackoff(attempt, 0)
			full := min(slack.DefaultBackoffMin<<min(attempt-1, 20), slack.DefaultBackoffMax)
			if d < full/2 || d > full {
				t.Fatalf("DefaultBackoff(%d, 0) = %v, want within [%v, %v]", attempt, d, full/2, full)
			}
		}
	}
	for range 50 {
		if d := slack.DefaultBackoff(1, 30*time.Second); d < 30*time.Second || d > 33*time.Second {
			t.Fatalf("DefaultBackoff(1, 30s) = %v, want within [30s, 33s]", d)
		}
	}
}

func TestDeliverNewDelivery(t *testing.T) {
	enq := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	j := &engine.QueuedJob{ID: "s1", Channel: "C1", Enqueued: enq,
		Actor: engine.Actor{ID: "alice", Identity: "U0ALICE", Source: engine.SourceSlack},
		Reply: map[string]string{"response_url": "https://hooks.slack.com/commands/x", "team": "T1"}}
	d, err := slack.NewDelivery(j, slack.Message{Text: "hi"}, enq.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"response_url": "https://hooks.slack.com/commands/x", "team": "T1", "channel": "C1", "user": "U0ALICE", "enqueued": "2025-06-01T12:00:00Z"}
	if d.ID != "s1/answer" || d.JobID != "s1" || fmt.Sprint(d.Reply) != fmt.Sprint(want) || string(d.Message) != `{"text":"hi"}` {
		t.Errorf("NewDelivery = %+v (message %s), want id s1/answer and reply %v", d, d.Message, want)
	}
	if _, ok := j.Reply["user"]; ok {
		t.Error("NewDelivery changed the job's Reply")
	}
}

// TestDeliverContinuations: an answer too long for one message goes out as
// its parts, in order, each once: through the response_url as new messages,
// or through the Web API with the rest in the first post's thread. The job is
// recorded as delivered once, by its first part.
func TestDeliverContinuations(t *testing.T) {
	long := slack.Message{ResponseType: "in_channel", Text: "output", Continued: []slack.Message{
		{ResponseType: "in_channel", Text: "part 2"}, {ResponseType: "in_channel", Text: "part 3"}, {ResponseType: "in_channel", Text: "part 4"}}}
	for _, tt := range []struct {
		name  string
		reply func(f *dlSlack) map[string]string
	}{
		{"response_url", func(f *dlSlack) map[string]string {
			return map[string]string{"response_url": f.url("ok", "j1"), "team": "T1", "channel": "C1", "user": "U1"}
		}},
		{"web API", func(*dlSlack) map[string]string {
			return map[string]string{"team": "T1", "channel": "C1", "user": "U1"}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newDLSlack(t)
			h := newDLHooks()
			d := f.deliverer(h, quietLog())
			var o *natsadapter.Outbox
			d.Post = func(ctx context.Context, del *engine.Delivery) error { return o.Post(ctx, del) }
			o = dlOutbox(t, d.Deliver)
			q := &engine.QueuedJob{ID: "j1", Reply: tt.reply(f)}
			del, err := slack.NewDelivery(q, long, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if err := o.Post(context.Background(), del); err != nil {
				t.Fatal(err)
			}
			dlWait(t, h.done, 10*time.Second, "the answer")
			var texts, threads []string
			deadline := time.Now().Add(10 * time.Second)
			for len(texts) < 4 && time.Now().Before(deadline) {
				texts, threads = nil, nil
				if tt.name == "response_url" {
					for range f.hitCount("/r/ok/j1") {
						texts = append(texts, "posted")
					}
				} else {
					for _, c := range f.apiCalls() {
						if c.method == "chat.postMessage" {
							texts, threads = append(texts, c.form.Get("text")), append(threads, c.form.Get("thread_ts"))
						}
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(200 * time.Millisecond) // and no more
			if n := f.hitCount("/r/ok/j1"); tt.name == "response_url" && n != 4 {
				t.Errorf("response_url posts %d, want 4", n)
			}
			if tt.name == "web API" {
				want := "output,part 2,part 3,part 4 / ,1700000000.000100,1700000000.000100,1700000000.000100"
				if got := strings.Join(texts, ",") + " / " + strings.Join(threads, ","); got != want {
					t.Errorf("chat.postMessage texts / threads %s, want %s", got, want)
				}
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			if got := h.delivered["j1"]; len(got) != 1 {
				t.Errorf("recorded as delivered %d times (%v), want once", len(got), got)
			}
		})
	}
}
