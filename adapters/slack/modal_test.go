package slack_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chatops/chatops/adapters/slack"
)

func (f *fixture) interact(t *testing.T, path string, payload any) string {
	t.Helper()
	p, _ := json.Marshal(payload)
	body := url.Values{"payload": {string(p)}}.Encode()
	resp, out := f.post(t, path, body, slack.Sign(secret, time.Now(), []byte(body)))
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s", path, resp.StatusCode, out)
	}
	return out
}

func submission(command, pipeline, rest string) map[string]any {
	sel := func(v string) map[string]any {
		return map[string]any{"value": map[string]any{"type": "static_select", "selected_option": map[string]any{"value": v}}}
	}
	return map[string]any{
		"type": "view_submission", "user": map[string]string{"id": "U1"},
		"view": map[string]any{
			"id": "V1", "hash": "h" + command + pipeline + rest, "callback_id": "chatops_run", "private_metadata": "C1",
			"state": map[string]any{"values": map[string]any{
				"command":  sel(command),
				"pipeline": sel(pipeline),
				"args":     map[string]any{"value": map[string]any{"type": "plain_text_input", "value": rest}},
			}},
		},
	}
}

// waitViews waits for n views.open calls and returns their views, joined.
func (a *fakeAPI) waitViews(t *testing.T, n int) string {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		a.mu.Lock()
		views := strings.Join(a.views, "")
		got := len(a.views)
		a.mu.Unlock()
		if got >= n {
			return views
		}
		if time.Now().After(end) {
			t.Fatalf("%d views.open calls, want %d", got, n)
		}
	}
}

// TestSlowViewsOpen: "/h" alone is acked at once even when views.open hangs
// past the trigger_id's life; the modal's opening gives up inside Slack's
// 3 s, tries no more, and the help reaches the person instead.
func TestSlowViewsOpen(t *testing.T) {
	f := newFixture(t)
	f.api.hang.Store(int64(5 * time.Second))
	start := time.Now()
	resp, ack := f.signedPost(t, f.form("U1", ""))
	if d := time.Since(start); resp.StatusCode != 200 || ack != "" || d > time.Second {
		t.Fatalf("ack %d %q after %v", resp.StatusCode, ack, d)
	}
	m := f.next(t)
	if d := time.Since(start); d > 3500*time.Millisecond || d < slack.ModalWithin {
		t.Errorf("the help came %v after the command, want after the modal's %v and before 3.5 s", d, slack.ModalWithin)
	}
	if m.ResponseType != "ephemeral" || !strings.Contains(string(m.Blocks), "promote") {
		t.Errorf("instead of the modal: %+v", m)
	}
	f.api.mu.Lock()
	defer f.api.mu.Unlock()
	if len(f.api.views) != 0 {
		t.Errorf("views.open answered after all: %d", len(f.api.views))
	}
}

func TestModalFlow(t *testing.T) {
	f := newFixture(t)
	// "/h" alone opens the modal built from the grammar.
	resp, ack := f.signedPost(t, f.form("U1", ""))
	if resp.StatusCode != 200 || ack != "" {
		t.Fatalf("empty text: %d %q", resp.StatusCode, ack)
	}
	views := f.api.waitViews(t, 1)
	for _, want := range []string{`"callback_id":"chatops_run"`, `"value":"promote"`, `"external_select"`, `"private_metadata":"C1"`} {
		if !strings.Contains(views, want) {
			t.Errorf("views.open lacks %s: %s", want, views)
		}
	}
	if strings.Contains(views, `"value":"lock"`) {
		t.Error("the modal offers lock, which alice may not run")
	}

	// The pipeline select's options, filtered by what is typed.
	out := f.interact(t, "/slack/options", map[string]any{"type": "block_suggestion", "block_id": "pipeline", "action_id": "value", "value": "DE"})
	if !strings.Contains(out, `"value":"demo"`) {
		t.Errorf("options for DE: %s", out)
	}
	if out := f.interact(t, "/slack/options", map[string]any{"type": "block_suggestion", "block_id": "pipeline", "action_id": "value", "value": "zz"}); out != "{\"options\":[]}\n" {
		t.Errorf("options for zz: %q", out)
	}

	// Field errors come back on the field.
	for _, tt := range []struct{ command, pipeline, rest, want string }{
		{"promote", "demo", "form staging", `{"response_action":"errors","errors":{"args":"unknown keyword \"form\"; did you mean \"from\"?"}}`},
		{"promote", "", "", `{"response_action":"errors","errors":{"pipeline":"Choose a pipeline."}}`},
		{"releases", "demo", "--limit five", `{"response_action":"errors","errors":{"args":"--limit: expected an integer, got \"five\""}}`},
		{"", "demo", "", `{"response_action":"errors","errors":{"command":"Choose a command."}}`},
	} {
		if out := f.interact(t, "/slack/interactivity", submission(tt.command, tt.pipeline, tt.rest)); strings.TrimSpace(out) != tt.want {
			t.Errorf("%s %s %s:\n got %s\nwant %s", tt.command, tt.pipeline, tt.rest, out, tt.want)
		}
	}

	// A valid submission closes the modal and runs the command.
	if out := f.interact(t, "/slack/interactivity", submission("promote", "demo", "from stg to prod")); out != "" {
		t.Errorf("valid submission answered %q", out)
	}
	posts := f.waitPosts(t, 1)
	if len(posts) != 1 || posts[0] != "C1||Promoted demo 1.2.0 from staging to production." {
		t.Errorf("posts: %q", posts)
	}
}
