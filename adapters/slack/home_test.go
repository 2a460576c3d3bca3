package slack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	natsadapter "github.com/chatops/chatops/adapters/nats"
	"github.com/chatops/chatops/adapters/slack"
	"github.com/chatops/chatops/engine"
	goslack "github.com/slack-go/slack"
)

// TestAppHome: app_home_opened publishes the person's Home tab with
// views.publish: each pipeline's stages with version and who, locks, a
// button per pipeline, and the person's last jobs; the view passes the
// limit checks. The button opens the run modal with its pipeline chosen,
// and so does the global shortcut, with none chosen; their answers go to
// the person's direct messages.
func TestAppHome(t *testing.T) {
	f := newFixture(t)
	if resp, ack := f.signedPost(t, f.form("U1", "promote demo")); resp.StatusCode != 200 || !strings.Contains(ack, "Running") {
		t.Fatalf("ack %d %s", resp.StatusCode, ack)
	}
	f.next(t)
	body := eventBody("EvHome", time.Now(), `{"type":"app_home_opened","user":"U1","channel":"D1","tab":"home"}`)
	if resp, _ := f.event(t, body); resp.StatusCode != 200 {
		t.Fatalf("app_home_opened: %d", resp.StatusCode)
	}
	published := waitPublished(t, f.api, 1)
	if got := published[0].Get("user_id"); got != "U1" {
		t.Errorf("published for %q", got)
	}
	var view goslack.HomeTabViewRequest
	if err := json.Unmarshal([]byte(published[0].Get("view")), &view); err != nil {
		t.Fatal(err)
	}
	if err := slack.CheckView(view); err != nil {
		t.Error(err)
	}
	raw := published[0].Get("view")
	for _, want := range []string{`"type":"home"`, `*demo*`, "*production*: `1.2.0` · alice", "*development*: `1.3.0` · config",
		`"action_id":"chatops_home_run","value":"demo"`, "`promote demo` · done"} {
		if !strings.Contains(raw, want) {
			t.Errorf("Home lacks %s: %s", want, raw)
		}
	}
	// The messages tab publishes nothing.
	f.event(t, eventBody("EvMsgs", time.Now(), `{"type":"app_home_opened","user":"U1","channel":"D1","tab":"messages"}`))

	// The Home tab's button, then the shortcut.
	f.interact(t, "/slack/interactivity", map[string]any{"type": "block_actions", "trigger_id": "9.9.9",
		"user": map[string]string{"id": "U1"}, "team": map[string]string{"id": "T1"},
		"actions": []map[string]string{{"block_id": "Xy1", "action_id": slack.ActionHomeRun, "value": "demo", "type": "button"}}})
	views := f.api.waitViews(t, 1)
	if !strings.Contains(views, `"initial_option":{"text":{"type":"plain_text","text":"demo","emoji":false},"value":"demo"}`) || !strings.Contains(views, `"private_metadata":"U1"`) {
		t.Errorf("the Home button's modal: %s", views)
	}
	f.interact(t, "/slack/interactivity", map[string]any{"type": "shortcut", "callback_id": "chatops_run", "trigger_id": "9.9.8",
		"user": map[string]string{"id": "U1"}, "team": map[string]string{"id": "T1"}})
	views = f.api.waitViews(t, 2)
	if strings.Count(views, `"callback_id":"chatops_run"`) != 2 || strings.Count(views, "initial_option") != 1 {
		t.Errorf("the shortcut's modal: %s", views)
	}
	f.api.mu.Lock()
	n := len(f.api.published)
	f.api.mu.Unlock()
	if n != 1 {
		t.Errorf("%d views.publish calls, want 1", n)
	}
}

func waitPublished(t *testing.T, a *fakeAPI, n int) []url.Values {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		a.mu.Lock()
		got := append([]url.Values(nil), a.published...)
		a.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(end) {
			t.Fatalf("%d views.publish calls, want %d", len(got), n)
		}
	}
}

// TestHomeViewGolden: the Home tab of 60 pipelines, locks and jobs, as
// Slack gets it, within a Home tab's 100 blocks: the pipelines past them
// are counted.
func TestHomeViewGolden(t *testing.T) {
	at := time.Date(2026, 12, 3, 9, 30, 0, 0, time.UTC)
	var pipelines []slack.HomePipeline
	for i := range 60 {
		pc := &engine.PipelineConfig{Name: fmt.Sprintf("svc-%02d", i), Stages: []string{"staging", "production"}}
		st := &engine.PipelineState{Name: pc.Name, Slots: map[string]*engine.Slot{
			"staging": {Current: &engine.Release{Version: "2.0." + fmt.Sprint(i), By: "alice", At: at, Action: "release"}},
		}}
		if i == 1 {
			st.Lock = &engine.Lock{By: "bob", Reason: "freeze & audit", At: at}
			st.Slots["production"] = &engine.Slot{Current: &engine.Release{Version: "1.9.0", By: "carol", At: at}, Lock: &engine.Lock{By: "bob"}}
		}
		pipelines = append(pipelines, slack.HomePipeline{Config: pc, State: st})
	}
	jobs := []engine.Job{{ID: "s1", Command: "promote svc-01 to production", State: engine.JobDone, Finished: at}}
	view := slack.HomeView(pipelines, jobs)
	if err := slack.CheckView(view); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(view); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	golden(t, "testdata/home.golden.json", got, "go test ./adapters/slack -run TestHomeViewGolden -update")
	if s := string(got); !strings.Contains(s, "…and 13 more pipelines") {
		t.Errorf("no count of the pipelines left out")
	}
}

// TestAppHomeFollowsPolicy: someone the policy lets run no info sees no
// pipeline on the Home tab.
func TestAppHomeFollowsPolicy(t *testing.T) {
	f := newFixtureConfig(t, strings.Replace(testConfig, "    - {command: lock, groups: [admins]}", "    - {command: lock, groups: [admins]}\n    - {command: info, groups: [admins]}", 1))
	if resp, _ := f.event(t, eventBody("EvHome2", time.Now(), `{"type":"app_home_opened","user":"U1","channel":"D1","tab":"home"}`)); resp.StatusCode != 200 {
		t.Fatalf("app_home_opened: %d", resp.StatusCode)
	}
	raw := waitPublished(t, f.api, 1)[0].Get("view")
	if strings.Contains(raw, "*demo*") || !strings.Contains(raw, "None you may see here") {
		t.Errorf("Home of someone who may not run info: %s", raw)
	}
}

// TestAppHomeRefresh: a Home tab opened lately is published again by
// RefreshHomes once what it shows changed (here after a promotion), and
// not while nothing changed, whichever process refreshes: what each tab
// shows is kept with it.
func TestAppHomeRefresh(t *testing.T) {
	ctx := context.Background()
	var homes *natsadapter.Homes
	f := newFixtureWith(t, testConfig, func(s *slack.Server, c *natsadapter.Conn) {
		var err error
		if homes, err = c.Homes(ctx); err != nil {
			t.Fatal(err)
		}
		s.Homes = homes
	})
	if resp, _ := f.event(t, eventBody("EvHome1", time.Now(), `{"type":"app_home_opened","user":"U1","channel":"D1","tab":"home"}`)); resp.StatusCode != 200 {
		t.Fatalf("app_home_opened: %d", resp.StatusCode)
	}
	waitPublished(t, f.api, 1)
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		var shown string
		if _, err := homes.Recent(ctx, time.Now(), func(_, _ string, _ time.Time, s string) { shown = s }); err != nil {
			t.Fatal(err)
		}
		if shown != "" {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the opened Home tab was not remembered")
		}
	}
	if n, err := f.server.RefreshHomes(ctx); n != 0 || err != nil {
		t.Errorf("refresh with nothing changed: %d published, %v", n, err)
	}
	if resp, ack := f.signedPost(t, f.form("U1", "promote demo")); resp.StatusCode != 200 || !strings.Contains(ack, "Running") {
		t.Fatalf("ack %d %s", resp.StatusCode, ack)
	}
	f.next(t)
	// Another process does the periodic work.
	other := &slack.Server{Engine: f.engine, Homes: homes, Workspaces: f.server.Workspaces}
	if n, err := other.RefreshHomes(ctx); n != 1 || err != nil {
		t.Fatalf("refresh after a promotion: %d published, %v", n, err)
	}
	published := waitPublished(t, f.api, 2)
	if got := published[1].Get("user_id"); got != "U1" || !strings.Contains(published[1].Get("view"), "`promote demo` · done") {
		t.Errorf("refreshed Home of %s: %s", got, published[1].Get("view"))
	}
	for _, s := range []*slack.Server{other, f.server} {
		if n, err := s.RefreshHomes(ctx); n != 0 || err != nil {
			t.Errorf("a refresh after that: %d published, %v", n, err)
		}
	}
}
