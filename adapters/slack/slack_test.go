package slack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	natsadapter "github.com/chatops/chatops/adapters/nats"
	"github.com/chatops/chatops/adapters/slack"
	"github.com/chatops/chatops/engine"
)

var update = flag.Bool("update", false, "rewrite golden files")

const secret = "test-signing-secret"

const testConfig = `
pipelines:
  - name: demo
    stages: [development, staging, production]
    seed: {development: 1.3.0, staging: 1.2.0, production: 1.1.0}
groups: [admins]
users:
  - {name: alice, slack: U1}
policy:
  commands:
    - {command: lock, groups: [admins]}
  force: [admins]
`

// answer is a message as the response_url receives it.
type answer struct {
	ResponseType string          `json:"response_type"`
	Text         string          `json:"text"`
	Blocks       json.RawMessage `json:"blocks"`
}

// newEngine returns an engine on config over an embedded JetStream in a
// temporary dir, both closed when the test ends.
func newEngine(tb testing.TB, config string) (*engine.Engine, *natsadapter.Conn) {
	tb.Helper()
	return newEngineOpts(tb, config, natsadapter.Options{})
}

func newEngineOpts(tb testing.TB, config string, opts natsadapter.Options) (*engine.Engine, *natsadapter.Conn) {
	tb.Helper()
	opts.DataDir = tb.TempDir()
	conn, err := natsadapter.Open(context.Background(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(conn.Close)
	cfg, err := engine.ParseConfig("chatops.yaml", []byte(config))
	if err != nil {
		tb.Fatal(err)
	}
	e, err := engine.New(cfg, conn.Store, conn.Audit, conn.Jobs)
	if err != nil {
		tb.Fatal(err)
	}
	e.History = conn.History
	return e, conn
}

// receiver is a response_url endpoint on 127.0.0.1 that keeps what it gets.
type receiver struct {
	mu   sync.Mutex
	msgs []answer
	read int // how many next has returned
	got  chan struct{}
	srv  *httptest.Server
	// status, when set, is answered instead, with Slack's expired_url body.
	status atomic.Int32
	// held is a path prefix answered 429 Retry-After: 30; heldHits counts them.
	held     atomic.Value
	heldHits atomic.Int32
	// arrived is when each path first got an answer.
	arrived map[string]time.Time
}

func newReceiver(t testing.TB) *receiver {
	rc := &receiver{got: make(chan struct{}, 100), arrived: map[string]time.Time{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code := int(rc.status.Load()); code != 0 {
			http.Error(w, "expired_url", code)
			return
		}
		if held, _ := rc.held.Load().(string); held != "" && strings.HasPrefix(r.URL.Path, held) {
			rc.heldHits.Add(1)
			w.Header().Set("Retry-After", "30")
			http.Error(w, "rate_limited", http.StatusTooManyRequests)
			return
		}
		var m answer
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("response_url got %s: %v", body, err)
		}
		rc.mu.Lock()
		rc.msgs = append(rc.msgs, m)
		if _, ok := rc.arrived[r.URL.Path]; !ok {
			rc.arrived[r.URL.Path] = time.Now()
		}
		rc.mu.Unlock()
		rc.got <- struct{}{}
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

type fixture struct {
	skew   atomic.Int64 // added to the engine's clock
	engine *engine.Engine
	srv    *httptest.Server
	rc     *receiver
	api    *fakeAPI
	server *slack.Server
}

// fakeAPI stands in for Slack's Web API on 127.0.0.1: it keeps chat.postMessage calls.
type fakeAPI struct {
	mu    sync.Mutex
	posts []url.Values
	views []string
	got   chan struct{}
	srv   *httptest.Server
	// fail, when set, is the error every chat and conversations call answers.
	fail atomic.Value
	// hang, when set, is how long views.open takes to answer.
	hang atomic.Int64
	// published keeps the views.publish calls.
	published []url.Values
}

func newFakeAPI(t testing.TB) *fakeAPI {
	a := &fakeAPI{got: make(chan struct{}, 100)}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Errorf("fake API: %v", err)
		}
		if r.Header.Get("Authorization") != "Bearer xoxb-test" && r.PostForm.Get("token") != "xoxb-test" {
			t.Errorf("fake API: %s without the bot token", r.URL.Path)
		}
		w.Header().Set("Content-Type", "application/json")
		if e, _ := a.fail.Load().(string); e != "" && r.URL.Path != "/views.open" {
			fmt.Fprintf(w, `{"ok":false,"error":%q}`, e)
			return
		}
		switch r.URL.Path {
		case "/chat.postMessage":
			io.WriteString(w, `{"ok":true,"channel":"C1","ts":"1700000000.000200"}`)
		case "/views.publish": // a JSON body: {"user_id":…,"view":{…}}
			var req struct {
				UserID string          `json:"user_id"`
				View   json.RawMessage `json:"view"`
			}
			body, _ := io.ReadAll(r.Body)
			if err := json.Unmarshal(body, &req); err != nil || r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("views.publish: %s (%s): %v", body, r.Header.Get("Content-Type"), err)
			}
			a.mu.Lock()
			a.published = append(a.published, url.Values{"user_id": {req.UserID}, "view": {string(req.View)}})
			a.mu.Unlock()
			io.WriteString(w, `{"ok":true,"view":{"id":"VH"}}`)
			return
		case "/views.open":
			select {
			case <-time.After(time.Duration(a.hang.Load())):
			case <-r.Context().Done():
				return
			}
			body, _ := io.ReadAll(r.Body)
			a.mu.Lock()
			a.views = append(a.views, string(body)+r.PostForm.Get("view"))
			a.mu.Unlock()
			io.WriteString(w, `{"ok":true,"view":{"id":"V1"}}`)
			return
		default:
			t.Errorf("fake API: unexpected %s", r.URL.Path)
			return
		}
		a.mu.Lock()
		a.posts = append(a.posts, r.PostForm)
		a.mu.Unlock()
		a.got <- struct{}{}
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func newFixture(t testing.TB) *fixture {
	return newFixtureConfig(t, testConfig)
}

func newFixtureConfig(t testing.TB, config string) *fixture {
	t.Helper()
	return newFixtureWith(t, config, nil)
}

// newFixtureWith is newFixtureConfig with setup called on the server and
// its NATS connection before the server starts.
func newFixtureWith(t testing.TB, config string, setup func(*slack.Server, *natsadapter.Conn)) *fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e, conn := newEngine(t, config)
	f := &fixture{engine: e}
	e.Now = func() time.Time { return time.Now().Add(time.Duration(f.skew.Load())) }
	inter, err := conn.Interactions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	q, err := conn.Queue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rc := newReceiver(t)
	api := newFakeAPI(t)
	host := strings.TrimPrefix(rc.srv.URL, "http://")
	outbox, err := conn.Outbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w := &slack.Worker{Engine: e, Queue: q, Outbox: outbox, Name: "test", Interactions: inter,
		Workspaces: slack.Workspaces{API: slack.NewAPI("xoxb-test", api.srv.URL, slack.NewHTTPClient(nil))}}
	d := slack.NewDeliverer(nil)
	d.ResponseHosts, d.APIURL, d.Now = []string{host}, api.srv.URL, e.Now
	d.Token = func(context.Context, string) (string, error) { return "xoxb-test", nil }
	d.Delivered = func(ctx context.Context, del *engine.Delivery, route string) { _ = e.Delivered(ctx, del.JobID, route) }
	d.Undelivered = func(ctx context.Context, del *engine.Delivery, reason string) {
		_ = e.Undelivered(ctx, del.JobID, reason)
	}
	responder := &slack.Responder{ResponseHosts: []string{host}}
	s := &slack.Server{Engine: e, Queue: q, Verifier: slack.Verifier{Secret: secret}, MaxBody: 8 << 10, BotUserID: "UBOT",
		Interactions: inter, Respond: responder.Respond, Workspaces: w.Workspaces}
	if setup != nil {
		setup(s, conn)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	var running sync.WaitGroup
	running.Go(func() { _ = w.Run(ctx) })
	running.Go(func() { _ = outbox.Deliver(ctx, d.Deliver) })
	t.Cleanup(func() { cancel(); running.Wait() })
	f.srv, f.rc, f.api, f.server = srv, rc, api, s
	return f
}

func (f *fixture) form(user, text string) string {
	v := url.Values{
		"token": {"ignored"}, "team_id": {"T1"}, "channel_id": {"C1"}, "user_id": {user},
		"command": {"/h"}, "text": {text}, "response_url": {f.rc.srv.URL + "/commands/T1/1/x"},
		"trigger_id": {"1.2.3"},
	}
	return v.Encode()
}

func (f *fixture) post(t *testing.T, path string, body string, h http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (f *fixture) signedPost(t *testing.T, body string) (*http.Response, string) {
	return f.post(t, "/slack/commands", body, slack.Sign(secret, time.Now(), []byte(body)))
}

func TestSlashPromoteOnce(t *testing.T) {
	f := newFixture(t)
	body := f.form("U1", "promote demo")
	for range 3 { // Slack's retry, a double click: the same request three times
		resp, ack := f.signedPost(t, body)
		if resp.StatusCode != 200 || !strings.Contains(ack, "Running promote demo") {
			t.Fatalf("ack %d %s", resp.StatusCode, ack)
		}
	}
	select {
	case <-f.rc.got:
	case <-time.After(10 * time.Second):
		t.Fatal("no answer reached the response_url")
	}
	time.Sleep(300 * time.Millisecond) // room for a wrong second answer to arrive
	f.rc.mu.Lock()
	msgs := append([]answer(nil), f.rc.msgs...)
	f.rc.mu.Unlock()
	if len(msgs) != 1 || msgs[0].Text != "Promoted demo 1.2.0 from staging to production." {
		t.Fatalf("response_url got %+v", msgs)
	}
	ctx := context.Background()
	st, _, err := f.engine.Store.Load(ctx, "demo")
	if err != nil || st.Seq != 1 {
		t.Fatalf("ledger: %+v %v", st, err)
	}
	recs, err := f.engine.Audit.Read(ctx, engine.AuditQuery{Pipeline: "demo"})
	if err != nil || len(recs) != 1 || recs[0].Actor != "alice" || recs[0].Source != "slack" || recs[0].Channel != "C1" {
		t.Fatalf("audit: %+v %v", recs, err)
	}
}

func TestSlashRefusedAtOnce(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		user, text, want string
	}{
		{"U1", "promote this is an invalid command", `too many arguments: unexpected \"is\"`},
		{"U1", "promte demo", `did you mean \"promote\"?`},
		{"U2", "lock demo", "U2 may not run lock (policy.commands[0])"},
		{"U1", "promote! demo", "alice may not force promote with !"},
		{"U1", "help", "What you can run here"},
	}
	for _, tt := range tests {
		resp, ack := f.signedPost(t, f.form(tt.user, tt.text))
		if resp.StatusCode != 200 || !strings.Contains(ack, tt.want) || !strings.Contains(ack, `"response_type":"ephemeral"`) {
			t.Errorf("%q: %d %s\nwant it to say %s", tt.text, resp.StatusCode, ack, tt.want)
		}
	}
	if strings.Contains(f.mustGet(t, "/metrics"), `chatops_jobs_enqueued_total{result="enqueued"}`) {
		t.Error("a refused command was enqueued")
	}
}

func (f *fixture) mustGet(t *testing.T, path string) string {
	resp, err := http.Get(f.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t)
	body := f.form("U1", "promote demo")
	vector := http.Header{}
	vector.Set("X-Slack-Request-Timestamp", "1531420618")
	vector.Set("X-Slack-Signature", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503")
	big := strings.Repeat("a", 9<<10)
	tests := []struct {
		name   string
		body   string
		header http.Header
		status int
	}{
		{"bad signature", body, slack.Sign("wrong", time.Now(), []byte(body)), 401},
		{"stale timestamp (Slack's 2018 vector)", body, vector, 401},
		{"missing headers", body, http.Header{}, 401},
		{"oversized body", big, slack.Sign(secret, time.Now(), []byte(big)), 413},
		{"malformed form", "a=%zz", slack.Sign(secret, time.Now(), []byte("a=%zz")), 400},
		{"no user", "command=%2Fh&text=promote+demo", slack.Sign(secret, time.Now(), []byte("command=%2Fh&text=promote+demo")), 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := f.post(t, "/slack/commands", tt.body, tt.header)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
	ssl := "ssl_check=1&token=x"
	if resp, _ := f.post(t, "/slack/commands", ssl, slack.Sign(secret, time.Now(), []byte(ssl))); resp.StatusCode != 200 {
		t.Errorf("ssl_check: %d", resp.StatusCode)
	}
	// Slack sends its certificate check unsigned: 200, and nothing done.
	if resp, _ := f.post(t, "/slack/commands", ssl, http.Header{}); resp.StatusCode != 200 {
		t.Errorf("unsigned ssl_check: %d, want 200", resp.StatusCode)
	}
	// An unsigned request that carries a command is still refused.
	forged := "ssl_check=1&command=%2Fh&text=promote+demo&user_id=U1"
	if resp, _ := f.post(t, "/slack/commands", forged, http.Header{}); resp.StatusCode != 401 {
		t.Errorf("unsigned command posing as ssl_check: %d, want 401", resp.StatusCode)
	}
	// A permanent refusal of an event tells Slack not to send it again.
	for _, ev := range []struct {
		name, body string
		header     http.Header
		want       int
	}{
		{"unsigned", `{"type":"event_callback"}`, http.Header{}, 401},
		{"malformed", `{"type":`, slack.Sign(secret, time.Now(), []byte(`{"type":`)), 400},
	} {
		resp, _ := f.post(t, "/slack/events", ev.body, ev.header)
		if resp.StatusCode != ev.want || resp.Header.Get("X-Slack-No-Retry") != "1" {
			t.Errorf("%s event: %d, X-Slack-No-Retry %q; want %d and 1", ev.name, resp.StatusCode, resp.Header.Get("X-Slack-No-Retry"), ev.want)
		}
	}
	if st, _, err := f.engine.Store.Load(context.Background(), "demo"); engine.ErrorCode(err) != engine.NotFound {
		t.Errorf("the ledger changed: %+v %v", st, err)
	}
	if m := f.mustGet(t, "/metrics"); strings.Contains(m, "chatops_jobs_enqueued_total") {
		t.Errorf("something was enqueued:\n%s", m)
	}
	if got := f.mustGet(t, "/healthz"); got != "ok\n" {
		t.Errorf("healthz %q", got)
	}
	if got := f.mustGet(t, "/readyz"); got != "ready\n" {
		t.Errorf("readyz %q", got)
	}
}

// golden compares got with the golden file at path, or rewrites it with
// -update; rerun says how to rewrite it.
func golden(t *testing.T, path string, got []byte, rerun string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Block Kit differs from %s (run %s and review the diff)", path, rerun)
	}
}

// TestSlashRefusalAuditedOnce: a slash command delivered twice (the same
// body: a doubled delivery, a proxy's retry) that policy or the grammar
// refuses is audited once, as its job would be run once.
func TestSlashRefusalAuditedOnce(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct{ user, text, decision string }{
		{"U2", "lock demo", "denied"},
		{"U1", "promte demo", "invalid"},
	} {
		body := f.form(tt.user, tt.text)
		for range 2 {
			if resp, ack := f.signedPost(t, body); resp.StatusCode != 200 || !strings.Contains(ack, `"response_type":"ephemeral"`) {
				t.Fatalf("%q: %d %s", tt.text, resp.StatusCode, ack)
			}
		}
		recs, err := f.engine.Audit.Read(context.Background(), engine.AuditQuery{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range recs {
			if r.Decision == tt.decision {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%q sent twice: %d audit records, want 1: %+v", tt.text, n, recs)
		}
	}
}
