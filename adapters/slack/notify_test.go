package slack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatops/chatops/adapters/slack"
	"github.com/chatops/chatops/engine"
)

const nfToken = "xoxb-1234-5678-notifysecret"

// nfSlack is a fake Web API on 127.0.0.1 answering chat.postMessage,
// chat.update and conversations.list in the shapes of Slack's documentation.
// It records every post and update, with the test's clock at the time, and
// gives each post a ts greater than the last.
type nfSlack struct {
	srv *httptest.Server
	now func() time.Time

	mu      sync.Mutex
	seq     int
	posts   []nfPost
	updates []nfPost
	lists   []map[string]string // conversations.list forms
	// limited is how many of the next calls of a method are answered 429
	// Retry-After: 7, broken how many 500; apiError, when set, is every
	// chat call's error code.
	limited  map[string]int
	broken   map[string]int
	apiError string
	// pages are conversations.list's answers: the first for no cursor, the
	// next for the cursor the one before gave.
	pages [][]nfChannel
}

// nfPost is one chat.postMessage or chat.update as the fake got it.
type nfPost struct {
	Channel, TS, ThreadTS, Text, Blocks string
	At                                  time.Time // the test's clock
}

type nfChannel struct{ ID, Name string }

func newNFSlack(t *testing.T, now func() time.Time) *nfSlack {
	t.Helper()
	f := &nfSlack{now: now, limited: map[string]int{}, broken: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { f.serve(t, w, r) }))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *nfSlack) serve(t *testing.T, w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		t.Errorf("fake API: %v", err)
	}
	if r.Header.Get("Authorization") != "Bearer "+nfToken && r.PostForm.Get("token") != nfToken {
		t.Errorf("fake API: %s without the bot token", r.URL.Path)
	}
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.limited[method] > 0 {
		f.limited[method]--
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	if f.broken[method] > 0 {
		f.broken[method]--
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "<html>oops</html>")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	form := r.PostForm
	if f.apiError != "" && strings.HasPrefix(method, "chat.") {
		fmt.Fprintf(w, `{"ok":false,"error":%q}`, f.apiError)
		return
	}
	switch method {
	case "chat.postMessage":
		f.seq++
		ts := fmt.Sprintf("1700000000.%06d", f.seq*100)
		f.posts = append(f.posts, nfPost{Channel: form.Get("channel"), TS: ts, ThreadTS: form.Get("thread_ts"),
			Text: form.Get("text"), Blocks: form.Get("blocks"), At: f.now()})
		json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": form.Get("channel"), "ts": ts,
			"message": map[string]any{"type": "message", "text": form.Get("text"), "ts": ts, "thread_ts": form.Get("thread_ts")}})
	case "chat.update":
		f.updates = append(f.updates, nfPost{Channel: form.Get("channel"), TS: form.Get("ts"),
			Text: form.Get("text"), Blocks: form.Get("blocks"), At: f.now()})
		json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": form.Get("channel"), "ts": form.Get("ts"),
			"text": form.Get("text"), "message": map[string]any{"text": form.Get("text")}})
	case "conversations.list":
		f.lists = append(f.lists, map[string]string{"cursor": form.Get("cursor"), "types": form.Get("types"),
			"exclude_archived": form.Get("exclude_archived"), "limit": form.Get("limit")})
		page := 0
		fmt.Sscanf(form.Get("cursor"), "dGVhbTpD%d", &page)
		var chans []map[string]any
		next := ""
		if page < len(f.pages) {
			for _, c := range f.pages[page] {
				chans = append(chans, map[string]any{"id": c.ID, "name": c.Name, "name_normalized": strings.ToLower(c.Name),
					"is_channel": true, "is_archived": false, "is_private": false})
			}
			if page+1 < len(f.pages) {
				next = fmt.Sprintf("dGVhbTpD%d", page+1)
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"ok": true, "channels": chans,
			"response_metadata": map[string]any{"next_cursor": next}})
	default:
		fmt.Fprint(w, `{"ok":false,"error":"unknown_method"}`)
	}
}

func (f *nfSlack) recorded() (posts, updates []nfPost) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]nfPost(nil), f.posts...), append([]nfPost(nil), f.updates...)
}

func (f *nfSlack) token(context.Context, string) (string, error) { return nfToken, nil }

// fakeClock is a clock whose After passes the time at once: no test waits
// for real.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.Advance(d)
	ch := make(chan time.Time, 1)
	ch <- c.Now()
	return ch
}

// memThreads is engine.Threads in memory: compare-and-set by revision, and
// a copy in and out so nobody shares a stored thread.
type memThreads struct {
	mu      sync.Mutex
	threads map[string]memThread
	// fail, when set, is what every call returns; raced makes the next Put
	// lose to another writer that stored the same thread.
	fail  error
	raced bool
}

type memThread struct {
	data []byte
	rev  uint64
}

var _ engine.Threads = (*memThreads)(nil)

func newMemThreads() *memThreads { return &memThreads{threads: map[string]memThread{}} }

func (m *memThreads) Get(_ context.Context, key string) (*engine.Thread, uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, 0, m.fail
	}
	s, ok := m.threads[key]
	if !ok {
		return nil, 0, engine.Errorf(engine.NotFound, "no thread %q", key)
	}
	var t engine.Thread
	if err := json.Unmarshal(s.data, &t); err != nil {
		return nil, 0, err
	}
	return &t, s.rev, nil
}

func (m *memThreads) Put(_ context.Context, key string, t *engine.Thread, rev uint64) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return 0, m.fail
	}
	if s, ok := m.threads[key]; ok && m.raced {
		m.raced = false
		m.threads[key] = memThread{data: s.data, rev: s.rev + 1}
	}
	if s := m.threads[key]; s.rev != rev {
		return 0, engine.Errorf(engine.Conflict, "thread %q is at revision %d, not %d", key, s.rev, rev)
	}
	data, err := json.Marshal(t)
	if err != nil {
		return 0, err
	}
	m.threads[key] = memThread{data: data, rev: rev + 1}
	return rev + 1, nil
}

func (m *memThreads) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.threads)
}

// notifier returns a Notifier on the fake, with the fake clock and threads.
func (f *nfSlack) notifier(threads engine.Threads, clock *fakeClock, log *slog.Logger) *slack.Notifier {
	return &slack.Notifier{Threads: threads, Token: f.token, APIURL: f.srv.URL + "/api/",
		Now: clock.Now, After: clock.After, Log: log}
}

var nfRoute = engine.Route{Channel: "C0DEPLOYS", Name: "deploys"}

func nfNotice(id string, ev engine.Event) *engine.Notice {
	ev.ID = id
	if ev.Pipeline == "" {
		ev.Pipeline = "demo"
	}
	return &engine.Notice{ID: id + "/" + nfRoute.Channel, Route: nfRoute, Event: ev,
		Stages: []string{"development", "staging", "production"}, Attempt: 1}
}

// deployment is a GitHub deployment_status of 1.2.3 in production.
func deployment(state string, at time.Time) engine.Event {
	return engine.Event{At: at, Pipeline: "demo", Stage: "production", Version: "1.2.3", Action: "deployment",
		State: state, Title: "deployment", By: "octocat", Source: "github",
		URL: "https://github.com/acme/demo/deployments/7"}
}

// TestNotifierThread: a release's events make one thread, the parent
// updated to the latest; a status said again is not shown again, and a
// notice delivered again after its reply only updates the parent.
func TestNotifierThread(t *testing.T) {
	clock := newFakeClock()
	f := newNFSlack(t, clock.Now)
	threads := newMemThreads()
	n := f.notifier(threads, clock, quietLog())
	ctx := context.Background()
	deliver := func(nt *engine.Notice) {
		t.Helper()
		if r := n.Deliver(ctx, nt); r != (engine.Retry{}) {
			t.Fatalf("Deliver(%s) = %+v, want done", nt.ID, r)
		}
	}
	for i, state := range []string{engine.EventPending, engine.EventInProgress, engine.EventSuccess} {
		deliver(nfNotice(fmt.Sprint("gh", i), deployment(state, clock.Now())))
	}
	posts, updates := f.recorded()
	if len(posts) != 3 {
		t.Fatalf("%d posts, want the parent and two replies: %+v", len(posts), posts)
	}
	parent := posts[0]
	if parent.ThreadTS != "" || parent.Channel != "C0DEPLOYS" {
		t.Errorf("parent posted in channel %q thread %q, want C0DEPLOYS and no thread", parent.Channel, parent.ThreadTS)
	}
	wantReplies := []string{"production: deployment: in progress", "production: deployment: success"}
	for i, want := range wantReplies {
		if p := posts[i+1]; p.ThreadTS != parent.TS || p.Text != want {
			t.Errorf("reply %d: thread %q text %q, want thread %q text %q", i+1, p.ThreadTS, p.Text, parent.TS, want)
		}
	}
	if len(updates) != 2 {
		t.Fatalf("%d parent updates, want one per reply", len(updates))
	}
	last := updates[len(updates)-1]
	if last.TS != parent.TS || last.Text != "demo 1.2.3: production: deployment: success" ||
		!strings.Contains(last.Blocks, "✅ *production*: deployment succeeded by octocat") {
		t.Errorf("last update of %q: %q %s, want the parent %q showing success", last.TS, last.Text, last.Blocks, parent.TS)
	}

	// The same status again, under a new ID: nothing to show.
	deliver(nfNotice("gh3", deployment(engine.EventSuccess, clock.Now())))
	if p, u := f.recorded(); len(p) != 3 || len(u) != 2 {
		t.Errorf("a repeated status made %d posts and %d updates, want none", len(p)-3, len(u)-2)
	}

	// The last notice again, after its reply: the parent only.
	again := nfNotice("gh2", deployment(engine.EventSuccess, clock.Now()))
	again.Attempt = 2
	deliver(again)
	p, u := f.recorded()
	if len(p) != 3 || len(u) != 3 || u[2].TS != parent.TS {
		t.Errorf("a redelivered notice made %d posts and %d updates, want no post and one update of the parent", len(p)-3, len(u)-2)
	}
	th, _, err := threads.Get(ctx, engine.ThreadKey(nfRoute, "demo", "1.2.3"))
	if err != nil {
		t.Fatal(err)
	}
	if th.TS != parent.TS || th.Replied != "gh2/C0DEPLOYS" || th.Stale {
		t.Errorf("thread ts %q replied %q stale %v, want %q, gh2/C0DEPLOYS, false", th.TS, th.Replied, th.Stale, parent.TS)
	}
}

// TestNotifierBurst: fifty notices for one channel, delivered one after
// another as the queue does, are all posted, never two within Pace of each
// other on the (fake) clock.
func TestNotifierBurst(t *testing.T) {
	clock := newFakeClock()
	f := newNFSlack(t, clock.Now)
	n := f.notifier(newMemThreads(), clock, quietLog())
	states := []string{engine.EventPending, engine.EventInProgress, engine.EventSuccess, engine.EventFailure}
	for i := range 50 {
		ev := deployment(states[i%len(states)], clock.Now())
		ev.Text = fmt.Sprintf("step %d", i)
		if r := n.Deliver(context.Background(), nfNotice(fmt.Sprint("b", i), ev)); r != (engine.Retry{}) {
			t.Fatalf("notice %d: Deliver = %+v, want done", i, r)
		}
	}
	posts, _ := f.recorded()
	if len(posts) != 50 {
		t.Fatalf("%d posts, want 50 (1 parent, 49 replies)", len(posts))
	}
	for i, p := range posts {
		if i == 0 {
			if p.ThreadTS != "" {
				t.Errorf("the first post is in thread %q, want the parent", p.ThreadTS)
			}
			continue
		}
		if want := fmt.Sprintf("step %d", i); p.ThreadTS != posts[0].TS || !strings.HasSuffix(p.Text, ": "+want) {
			t.Errorf("post %d: thread %q text %q, want a reply ending %q", i, p.ThreadTS, p.Text, want)
		}
		if gap := p.At.Sub(posts[i-1].At); gap < slack.DefaultPace {
			t.Errorf("posts %d and %d are %v apart, want at least %v", i-1, i, gap, slack.DefaultPace)
		}
	}
}

// TestNotifier429: a rate-limited reply asks for Slack's Retry-After and
// posts nothing; delivered again, it posts once.
func TestNotifier429(t *testing.T) {
	clock := newFakeClock()
	f := newNFSlack(t, clock.Now)
	n := f.notifier(newMemThreads(), clock, quietLog())
	ctx := context.Background()
	n.Deliver(ctx, nfNotice("r0", deployment(engine.EventPending, clock.Now())))
	f.mu.Lock()
	f.limited["chat.postMessage"] = 1
	f.mu.Unlock()
	nt := nfNotice("r1", deployment(engine.EventSuccess, clock.Now()))
	if r := n.Deliver(ctx, nt); r.After < 7*time.Second {
		t.Errorf("rate-limited Deliver = %+v, want After ≥ 7s", r)
	}
	if posts, _ := f.recorded(); len(posts) != 1 {
		t.Errorf("%d posts after the 429, want the parent alone", len(posts))
	}
	clock.Advance(7 * time.Second)
	nt.Attempt = 2
	if r := n.Deliver(ctx, nt); r != (engine.Retry{}) {
		t.Errorf("Deliver again = %+v, want done", r)
	}
	posts, _ := f.recorded()
	if len(posts) != 2 || posts[1].ThreadTS != posts[0].TS {
		t.Errorf("posts %+v, want the parent and one reply in its thread", posts)
	}
}

// TestNotifierTransient: a failure that may pass asks for a later attempt
// and posts nothing; a thread another writer changed meanwhile is reloaded.
func TestNotifierTransient(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(f *nfSlack, threads *memThreads)
		wantAfter time.Duration // the least Retry.After; zero: done
		wantPosts int           // replies posted
	}{
		{name: "429", setup: func(f *nfSlack, _ *memThreads) { f.limited["chat.postMessage"] = 1 }, wantAfter: 7 * time.Second},
		{name: "500", setup: func(f *nfSlack, _ *memThreads) { f.broken["chat.postMessage"] = 1 }, wantAfter: time.Millisecond},
		{name: "threads unavailable", setup: func(_ *nfSlack, th *memThreads) {
			th.fail = engine.Errorf(engine.Unavailable, "threads bucket: no responders")
		}, wantAfter: time.Millisecond},
		{name: "update 500", setup: func(f *nfSlack, _ *memThreads) { f.broken["chat.update"] = 1 }, wantAfter: time.Millisecond, wantPosts: 1},
		{name: "conflict", setup: func(_ *nfSlack, th *memThreads) { th.raced = true }, wantPosts: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			f := newNFSlack(t, clock.Now)
			threads := newMemThreads()
			n := f.notifier(threads, clock, quietLog())
			ctx := context.Background()
			n.Deliver(ctx, nfNotice("t0", deployment(engine.EventPending, clock.Now())))
			f.mu.Lock()
			tc.setup(f, threads)
			f.mu.Unlock()
			r := n.Deliver(ctx, nfNotice("t1", deployment(engine.EventSuccess, clock.Now())))
			if tc.wantAfter == 0 && r != (engine.Retry{}) || r.After < tc.wantAfter {
				t.Errorf("Deliver = %+v, want After ≥ %v", r, tc.wantAfter)
			}
			if posts, _ := f.recorded(); len(posts)-1 != tc.wantPosts {
				t.Errorf("%d replies posted, want %d", len(posts)-1, tc.wantPosts)
			}
			if tc.wantAfter != 0 {
				return
			}
			th, _, err := threads.Get(ctx, engine.ThreadKey(nfRoute, "demo", "1.2.3"))
			if err != nil || th.Replied != "t1/C0DEPLOYS" || th.Stale || th.Stages["production"].State != engine.EventSuccess {
				t.Errorf("thread after a lost race: %+v, %v; want t1 replied, shown, production success", th, err)
			}
		})
	}
}

// TestNotifierDrops: a notice nothing will make work is dropped, with an
// error logged that never holds the token.
func TestNotifierDrops(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(f *nfSlack, n *slack.Notifier, clock *fakeClock)
		at      time.Duration // the event's age
		wantLog string
	}{
		{name: "channel_not_found", setup: func(f *nfSlack, _ *slack.Notifier, _ *fakeClock) { f.apiError = "channel_not_found" },
			wantLog: "channel_not_found"},
		{name: "no token", setup: func(_ *nfSlack, n *slack.Notifier, _ *fakeClock) {
			n.Token = func(context.Context, string) (string, error) { return "", nil }
		}, wantLog: "no bot token for workspace (none)"},
		{name: "too old", at: 25 * time.Hour, wantLog: "older than 24h0m0s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			f := newNFSlack(t, clock.Now)
			var buf bytes.Buffer
			var mu sync.Mutex
			n := f.notifier(newMemThreads(), clock, slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil)))
			if tc.setup != nil {
				tc.setup(f, n, clock)
			}
			if r := n.Deliver(context.Background(), nfNotice("p1", deployment(engine.EventSuccess, clock.Now().Add(-tc.at)))); r != (engine.Retry{}) {
				t.Errorf("Deliver = %+v, want dropped (Retry zero)", r)
			}
			mu.Lock()
			logged := buf.String()
			mu.Unlock()
			if !strings.Contains(logged, "level=ERROR") || !strings.Contains(logged, "notice dropped") || !strings.Contains(logged, tc.wantLog) {
				t.Errorf("log does not say the notice was dropped (%s):\n%s", tc.wantLog, logged)
			}
			if strings.Contains(logged, nfToken) || strings.Contains(logged, "notifysecret") {
				t.Errorf("the log holds the token:\n%s", logged)
			}
			if posts, _ := f.recorded(); len(posts) != 0 {
				t.Errorf("posted %+v, want nothing", posts)
			}
		})
	}
}

// TestNotifierLock: a lock is one message in the channel, outside any
// thread.
func TestNotifierLock(t *testing.T) {
	clock := newFakeClock()
	f := newNFSlack(t, clock.Now)
	threads := newMemThreads()
	n := f.notifier(threads, clock, quietLog())
	ev := engine.Event{At: clock.Now(), Pipeline: "demo", Stage: "production", Action: "lock", State: engine.EventLocked,
		Text: "freeze", By: "alice", Source: engine.SourceTerminal}
	if r := n.Deliver(context.Background(), nfNotice("l1", ev)); r != (engine.Retry{}) {
		t.Errorf("Deliver = %+v, want done", r)
	}
	posts, updates := f.recorded()
	if len(posts) != 1 || posts[0].ThreadTS != "" || posts[0].Text != "alice locked demo production (from a terminal)" {
		t.Errorf("posts %+v, want one plain message", posts)
	}
	if len(updates) != 0 || threads.len() != 0 {
		t.Errorf("%d updates and %d threads, want none", len(updates), threads.len())
	}
}

// TestNotifyGolden pins the Block Kit of thread parents, replies and plain
// notices, as Slack would receive them.
func TestNotifyGolden(t *testing.T) {
	at := time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC)
	stages := []string{"development", "staging", "production"}
	thread := func(evs ...engine.Event) *engine.Thread {
		th := &engine.Thread{Pipeline: "demo", Version: "1.2.3", Route: nfRoute}
		for i := range evs {
			th.Apply(&evs[i])
		}
		return th
	}
	promote := engine.Event{At: at, Pipeline: "demo", Stage: "production", Version: "1.2.3", Action: "promote",
		State: engine.EventSuccess, From: "staging", By: "alice", Source: engine.SourceTerminal}
	long := deployment(engine.EventFailure, at)
	long.Text = strings.Repeat("é<&>", 1250) // 5000 characters, 7500 bytes escaped further
	tests := []struct {
		name string
		msg  slack.Message
	}{
		{"parent-one-event", slack.RenderThreadParent(thread(deployment(engine.EventPending, at)), stages)},
		{"parent-two-stages-one-failure", slack.RenderThreadParent(thread(
			engine.Event{At: at, Pipeline: "demo", Stage: "development", Version: "1.2.3", Action: "release", State: engine.EventSuccess, By: "alice", Source: engine.SourceSlack},
			engine.Event{At: at.Add(time.Hour), Pipeline: "demo", Stage: "staging", Version: "1.2.3", Action: "promote", State: engine.EventSuccess, From: "development", By: "bob", Source: engine.SourceTerminal},
			engine.Event{At: at.Add(2 * time.Hour), Pipeline: "demo", Stage: "production", Version: "1.2.3", Action: "deploy", State: engine.EventFailure, By: "carol", Source: engine.SourceSlack, Text: "exit status 1 <health check>\nmore detail"},
		), stages)},
		{"reply-terminal-promote", slack.RenderNoticeReply(&promote)},
		{"reply-github-deployment", slack.RenderNoticeReply(func() *engine.Event {
			ev := deployment(engine.EventSuccess, at)
			ev.URL = "https://github.com/acme/demo/actions/runs/42?check_suite_focus=true&a=b"
			return &ev
		}())},
		{"lock", slack.RenderNotice(&engine.Event{At: at, Pipeline: "demo", Stage: "production", Action: "lock",
			State: engine.EventLocked, Text: "freeze for <launch> & co", By: "alice", Source: engine.SourceSlack})},
		{"long-text", slack.RenderNoticeReply(&long)},
	}
	if got := promote.Describe(); got != "alice promoted 1.2.3 from staging to production (from a terminal)" {
		t.Errorf("promote reads %q", got)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkLimits(t, tc.msg)
			var out bytes.Buffer
			enc := json.NewEncoder(&out)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(tc.msg); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", "notify", tc.name+".golden"), out.Bytes(), "go test ./adapters/slack -run Notif -update")
		})
	}
}

// checkLimits fails when m breaks Block Kit's limits, as slack.Check knows
// them.
func checkLimits(t *testing.T, m slack.Message) {
	t.Helper()
	if err := slack.Check(m); err != nil {
		t.Error(err)
	}
}
