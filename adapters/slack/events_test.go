package slack_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chatops/chatops/adapters/slack"
)

func eventBody(id string, at time.Time, inner string) string {
	return fmt.Sprintf(`{"type":"event_callback","team_id":"T1","event_id":%q,"event_time":%d,"event":%s}`, id, at.Unix(), inner)
}

func (f *fixture) event(t *testing.T, body string) (*http.Response, string) {
	return f.post(t, "/slack/events", body, slack.Sign(secret, time.Now(), []byte(body)))
}

// waitPosts waits for n chat.postMessage calls, then a moment for a wrong extra one.
func (f *fixture) waitPosts(t *testing.T, n int) []string {
	t.Helper()
	for range n {
		select {
		case <-f.api.got:
		case <-time.After(10 * time.Second):
			t.Fatalf("fewer than %d answers reached the Web API", n)
		}
	}
	time.Sleep(300 * time.Millisecond)
	f.api.mu.Lock()
	defer f.api.mu.Unlock()
	var texts []string
	for _, p := range f.api.posts {
		texts = append(texts, p.Get("channel")+"|"+p.Get("thread_ts")+"|"+p.Get("text"))
	}
	return texts
}

func TestEventsURLVerification(t *testing.T) {
	f := newFixture(t)
	resp, body := f.event(t, `{"type":"url_verification","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}`)
	if resp.StatusCode != 200 || body != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
		t.Errorf("%d %q", resp.StatusCode, body)
	}
	if resp, _ := f.post(t, "/slack/events", `{"type":"url_verification"}`, nil); resp.StatusCode != 401 {
		t.Errorf("unsigned: %d", resp.StatusCode)
	}
	if resp, _ := f.event(t, `{"type":`); resp.StatusCode != 400 {
		t.Errorf("malformed JSON: %d", resp.StatusCode)
	}
}

func TestEventsRunTheGrammar(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	mention := eventBody("Ev1", now, `{"type":"app_mention","user":"U1","text":"<@UBOT> promote demo","channel":"C1","ts":"1700000000.000100"}`)
	for range 3 { // Slack's retries carry the same event_id
		if resp, _ := f.event(t, mention); resp.StatusCode != 200 {
			t.Fatalf("mention: %d", resp.StatusCode)
		}
	}
	// Not commands: a bot, an edit, our own message, an old event, a channel message.
	for i, inner := range []string{
		`{"type":"app_mention","user":"U9","bot_id":"B1","text":"<@UBOT> promote demo","channel":"C1","ts":"1"}`,
		`{"type":"message","subtype":"message_changed","channel_type":"im","text":"promote demo","channel":"D1","ts":"2"}`,
		`{"type":"message","user":"UBOT","channel_type":"im","text":"promote demo","channel":"D1","ts":"3"}`,
		`{"type":"message","user":"U1","channel_type":"channel","text":"promote demo","channel":"C1","ts":"4"}`,
	} {
		if resp, _ := f.event(t, eventBody(fmt.Sprint("Skip", i), now, inner)); resp.StatusCode != 200 {
			t.Fatalf("ignored event %d: %d", i, resp.StatusCode)
		}
	}
	dm := eventBody("Ev2", now, `{"type":"message","user":"U1","channel_type":"im","text":"promte demo","channel":"D1","ts":"1700000000.000300"}`)
	if resp, _ := f.event(t, dm); resp.StatusCode != 200 {
		t.Fatalf("dm: %d", resp.StatusCode)
	}
	// The bot's mention is taken out wherever it stands; someone else's stays.
	late := eventBody("Ev3", now, `{"type":"app_mention","user":"U1","text":"whoami <@UBOT|chatops>","channel":"C1","ts":"1700000000.000400"}`)
	if resp, _ := f.event(t, late); resp.StatusCode != 200 {
		t.Fatalf("trailing mention: %d", resp.StatusCode)
	}
	posts := f.waitPosts(t, 3)
	want := map[string]bool{
		"C1|1700000000.000100|Promoted demo 1.2.0 from staging to production.":      true,
		`D1|1700000000.000300|:warning: error: unknown command "promte" (column 1)`: true,
	}
	n := 0
	for _, p := range posts {
		switch {
		case want[p]:
			n++
		case strings.HasPrefix(p, "C1|1700000000.000400|") && strings.Contains(p, "alice"):
			n++
		}
	}
	if len(posts) != 3 || n != 3 {
		t.Errorf("posts:\n%s", strings.Join(posts, "\n"))
	}
	if got := slack.StripMentions("lock demo <@U2> <@UBOT>", []string{"UBOT"}); strings.TrimSpace(got) != "lock demo <@U2>" {
		t.Errorf("strip: %q", got)
	}
}

// postedQuestion returns the buttons' match (questionID) of the first
// message posted through the Web API, failing when it has none.
func (f *fixture) postedQuestion(t *testing.T) []string {
	t.Helper()
	f.api.mu.Lock()
	m := questionID.FindStringSubmatch(f.api.posts[0].Get("blocks"))
	f.api.mu.Unlock()
	if m == nil {
		t.Fatal("the question has no buttons")
	}
	return m
}

// TestLateEventAsks: Slack's retry of an event 65 s after it was typed is
// taken, not dropped, and its command is not run: the bot asks in the thread
// whether to run it; the person's yes runs it, once.
func TestLateEventAsks(t *testing.T) {
	f := newFixture(t)
	typed := time.Now().Add(-65 * time.Second)
	body := eventBody("EvLate", typed, `{"type":"message","user":"U1","channel_type":"im","text":"promote demo","channel":"D1","ts":"1700000000.000500"}`)
	h := slack.Sign(secret, time.Now(), []byte(body))
	h.Set("X-Slack-Retry-Num", "1")
	h.Set("X-Slack-Retry-Reason", "http_timeout")
	for range 2 { // the +1 min retry, and the +5 min one
		if resp, _ := f.post(t, "/slack/events", body, h); resp.StatusCode != 200 {
			t.Fatalf("late event: %d", resp.StatusCode)
		}
	}
	posts := f.waitPosts(t, 1)
	if len(posts) != 1 || posts[0] != "D1|1700000000.000500|This arrived 65 s late: run it now?" {
		t.Fatalf("posts:\n%s", strings.Join(posts, "\n"))
	}
	if f.seq(t) != 0 {
		t.Fatal("a late command ran before anyone said yes")
	}
	m := f.postedQuestion(t)
	// The answers follow the click, at its response_url: the question
	// becomes "Running", then the outcome.
	f.click(t, "U1", slack.ActionApprove, m[1])
	if m := f.next(t); !strings.HasPrefix(m.Text, "Running promote demo") {
		t.Errorf("after yes: %+v", m)
	}
	if m := f.next(t); m.Text != "Promoted demo 1.2.0 from staging to production." {
		t.Errorf("outcome: %+v", m)
	}
	if f.seq(t) != 1 {
		t.Errorf("ledger seq %d after one late promote said yes to", f.seq(t))
	}
}

// TestLateEventStillAsksTheStage: the yes to a late command says only that
// it should still run; a stage that asks for confirmation asks its own
// question after it, naming the change, and nothing runs before that yes.
func TestLateEventStillAsksTheStage(t *testing.T) {
	f := newFixtureConfig(t, confirmConfig)
	body := eventBody("EvLate2", time.Now().Add(-65*time.Second), `{"type":"message","user":"U1","channel_type":"im","text":"promote demo","channel":"D1","ts":"1700000000.000600"}`)
	if resp, _ := f.event(t, body); resp.StatusCode != 200 {
		t.Fatalf("late event: %d", resp.StatusCode)
	}
	f.waitPosts(t, 1)
	m := f.postedQuestion(t)
	f.click(t, "U1", slack.ActionApprove, m[1])
	if a := f.next(t); !strings.HasPrefix(a.Text, "Running promote demo") {
		t.Errorf("after the late yes: %+v", a)
	}
	q := f.next(t)
	stage := questionID.FindStringSubmatch(string(q.Blocks))
	if stage == nil || stage[1] == m[1] || !strings.Contains(q.Text, "production") {
		t.Fatalf("the stage's own question: %s %s", q.Text, q.Blocks)
	}
	if f.seq(t) != 0 {
		t.Fatal("the promote ran on the late yes alone")
	}
	f.click(t, "U1", slack.ActionApprove, stage[1])
	f.next(t) // Running
	if a := f.next(t); a.Text != "Promoted demo 1.2.0 from staging to production." {
		t.Errorf("outcome: %+v", a)
	}
}
