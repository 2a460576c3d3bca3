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

func TestModalFlow(t *testing.T) {
	f := newFixture(t)
	// "/h" alone opens the modal built from the grammar.
	resp, ack := f.signedPost(t, f.form("U1", ""))
	if resp.StatusCode != 200 || ack != "" {
		t.Fatalf("empty text: %d %q", resp.StatusCode, ack)
	}
	f.api.mu.Lock()
	views := strings.Join(f.api.views, "")
	f.api.mu.Unlock()
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
