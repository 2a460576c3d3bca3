package slack_test

import (
	"context"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chatops/chatops/adapters/slack"
	"github.com/chatops/chatops/engine"
)

const confirmConfig = `
pipelines:
  - name: demo
    stages: [development, staging, production]
    seed: {development: 1.3.0, staging: 1.2.0, production: 1.1.0}
groups: [deployers]
users:
  - {name: alice, slack: U1, groups: [deployers]}
  - {name: bob, slack: U2}
  - {name: carol, slack: U3, groups: [deployers]}
policy:
  stages:
    - {stage: production, confirm: true}
    - {stage: staging, groups: [deployers], approval: true}
`

// next waits for the next message at the response_url.
func (f *fixture) next(t *testing.T) answer {
	t.Helper()
	select {
	case <-f.rc.got:
	case <-time.After(10 * time.Second):
		t.Fatal("nothing reached the response_url")
	}
	f.rc.mu.Lock()
	defer f.rc.mu.Unlock()
	m := f.rc.msgs[f.rc.read]
	f.rc.read++
	return m
}

var questionID = regexp.MustCompile(`"value":"(q[0-9a-z]+)"`)

// click sends a signed block_actions payload from user.
func (f *fixture) click(t *testing.T, user, action, id string) string {
	t.Helper()
	payload, _ := json.Marshal(map[string]any{
		"type": "block_actions", "user": map[string]string{"id": user},
		"response_url": f.rc.srv.URL + "/actions/1",
		"actions":      []map[string]string{{"block_id": "chatops_question", "action_id": action, "value": id, "type": "button"}},
	})
	body := url.Values{"payload": {string(payload)}}.Encode()
	resp, _ := f.post(t, "/slack/interactivity", body, slack.Sign(secret, time.Now(), []byte(body)))
	if resp.StatusCode != 200 {
		t.Fatalf("click: %d", resp.StatusCode)
	}
	return body
}

func (f *fixture) seq(t *testing.T) uint64 {
	st, _, err := f.engine.Store.Load(context.Background(), "demo")
	if engine.ErrorCode(err) == engine.NotFound {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return st.Seq
}

func (f *fixture) ask(t *testing.T, user, text string) string {
	t.Helper()
	// Asked, not running: the ack says so.
	if resp, ack := f.signedPost(t, f.form(user, text)); resp.StatusCode != 200 || !strings.Contains(ack, `"text":"Asking before `) {
		t.Fatalf("ack %d %s", resp.StatusCode, ack)
	}
	q := f.next(t)
	m := questionID.FindStringSubmatch(string(q.Blocks))
	if m == nil {
		t.Fatalf("no question with buttons: %s %s", q.Text, q.Blocks)
	}
	return m[1]
}

func TestConfirmationFlow(t *testing.T) {
	f := newFixtureConfig(t, confirmConfig)
	id := f.ask(t, "U1", "promote demo")

	// Someone else's click, and a forged one, change nothing.
	f.click(t, "U2", slack.ActionApprove, id)
	if m := f.next(t); !strings.Contains(m.Text, "Only the person who ran `promote demo` can answer this.") || m.ResponseType != "ephemeral" {
		t.Errorf("other user's click: %+v", m)
	}
	payload := `payload=` + url.QueryEscape(`{"type":"block_actions","user":{"id":"U1"},"actions":[{"block_id":"chatops_question","action_id":"chatops_approve","value":"`+id+`"}]}`)
	if resp, _ := f.post(t, "/slack/interactivity", payload, slack.Sign("forged", time.Now(), []byte(payload))); resp.StatusCode != 401 {
		t.Errorf("forged click: %d", resp.StatusCode)
	}
	if f.seq(t) != 0 {
		t.Fatal("the ledger changed before the confirmation")
	}

	// The requester confirms: the message is replaced, then by the outcome.
	body := f.click(t, "U1", slack.ActionApprove, id)
	if m := f.next(t); !strings.HasPrefix(m.Text, "Running promote demo") {
		t.Errorf("after the click: %+v", m)
	}
	if m := f.next(t); m.Text != "Promoted demo 1.2.0 from staging to production." {
		t.Errorf("outcome: %+v", m)
	}
	// Replaying the click does nothing.
	f.post(t, "/slack/interactivity", body, slack.Sign(secret, time.Now(), []byte(body)))
	if m := f.next(t); !strings.Contains(m.Text, "already answered") {
		t.Errorf("replayed click: %+v", m)
	}
	if f.seq(t) != 1 {
		t.Errorf("ledger seq %d after one confirmed promote", f.seq(t))
	}

	// Cancel, and an expired question.
	id = f.ask(t, "U1", "rollback demo")
	f.click(t, "U1", slack.ActionCancel, id)
	if m := f.next(t); !strings.Contains(m.Text, "Cancelled by alice") {
		t.Errorf("cancel: %+v", m)
	}
	id = f.ask(t, "U1", "rollback demo in production")
	f.skew.Store(int64(11 * time.Minute))
	f.click(t, "U1", slack.ActionApprove, id)
	if m := f.next(t); !strings.Contains(m.Text, "This question expired") {
		t.Errorf("expired: %+v", m)
	}
	f.skew.Store(0)
	if f.seq(t) != 1 {
		t.Errorf("ledger seq %d: a cancelled or expired question ran", f.seq(t))
	}
	// Every click that ran nothing is audited, with why.
	recs, err := f.engine.Audit.Read(context.Background(), engine.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	clicks := map[string]int{}
	for _, r := range recs {
		if r.Decision == "denied" || r.Outcome == "cancelled" {
			clicks[r.Actor+" "+r.Outcome]++
		}
	}
	for _, want := range []string{"bob denied", "unknown forged", "alice not_found", "alice cancelled", "alice expired"} {
		if clicks[want] != 1 {
			t.Errorf("audit of clicks: %v, want one %q", clicks, want)
		}
	}
}

func TestApprovalBySecondPerson(t *testing.T) {
	f := newFixtureConfig(t, confirmConfig)
	id := f.ask(t, "U1", "promote demo to staging")
	f.click(t, "U1", slack.ActionApprove, id)
	if m := f.next(t); !strings.Contains(m.Text, "someone else of deployers must approve it") {
		t.Errorf("self-approval: %+v", m)
	}
	f.click(t, "U2", slack.ActionApprove, id)
	if m := f.next(t); !strings.Contains(m.Text, "Only members of deployers other than the requester") {
		t.Errorf("outsider approval: %+v", m)
	}
	f.click(t, "U3", slack.ActionApprove, id)
	f.next(t) // running
	if m := f.next(t); m.Text != "Promoted demo 1.3.0 from development to staging." {
		t.Errorf("outcome: %+v", m)
	}
	recs, err := f.engine.Audit.Read(context.Background(), engine.AuditQuery{Pipeline: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	last := recs[len(recs)-1]
	if last.Actor != "alice" || last.Approver != "carol" || last.Outcome != "ok" {
		t.Errorf("audit: %+v", last)
	}
}

// TestStageDenialAtOnce: a stage rule's denial is the ack itself, only to
// the person, naming the rule; nothing is enqueued and nothing follows at
// the response_url. The denial is audited.
func TestStageDenialAtOnce(t *testing.T) {
	f := newFixtureConfig(t, confirmConfig)
	resp, ack := f.signedPost(t, f.form("U2", "promote demo to staging"))
	if resp.StatusCode != 200 || !strings.Contains(ack, `"response_type":"ephemeral"`) ||
		!strings.Contains(ack, "bob may not change staging: that needs group deployers (policy.stages[1])") || strings.Contains(ack, "Running") {
		t.Fatalf("ack %d %s", resp.StatusCode, ack)
	}
	if strings.Contains(f.mustGet(t, "/metrics"), `chatops_jobs_enqueued_total{result="enqueued"}`) {
		t.Error("a denied command was enqueued")
	}
	select {
	case <-f.rc.got:
		t.Error("something followed the denial at the response_url")
	case <-time.After(300 * time.Millisecond):
	}
	recs, err := f.engine.Audit.Read(context.Background(), engine.AuditQuery{Pipeline: "demo"})
	if err != nil || len(recs) != 1 || recs[0].Decision != "denied" || recs[0].Actor != "bob" || !strings.HasPrefix(recs[0].Rule, "policy.stages[1]") {
		t.Errorf("audit: %+v %v", recs, err)
	}
}
