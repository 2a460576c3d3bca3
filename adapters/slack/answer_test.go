package slack_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chatops/chatops/engine"
)

// ackedJob returns the job id an ack names ("· job <id>").
func ackedJob(t *testing.T, ack string) string {
	t.Helper()
	_, rest, ok := strings.Cut(ack, "· job ")
	if !ok {
		t.Fatalf("ack without a job id: %s", ack)
	}
	id, _, _ := strings.Cut(rest, `"`)
	return strings.TrimSpace(id)
}

// waitJob polls a job's record until ok says it is as wanted.
func (f *fixture) waitJob(t *testing.T, id string, ok func(*engine.Job) bool) *engine.Job {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		j, err := f.engine.Jobs.Get(context.Background(), id)
		if err == nil && ok(j) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: %+v, %v", id, j, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestExpiredResponseURL: a response_url answering 404 expired_url is not
// retried; the answer goes by chat.postMessage, and the job shows done and how
// its answer went.
func TestExpiredResponseURL(t *testing.T) {
	f := newFixture(t)
	f.rc.status.Store(http.StatusNotFound)
	resp, ack := f.signedPost(t, f.form("U1", "info demo"))
	if resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	posts := f.waitPosts(t, 1)
	if len(posts) != 1 || posts[0] != "C1||Pipeline demo" {
		t.Errorf("posts: %q", posts)
	}
	j := f.waitJob(t, ackedJob(t, ack), func(j *engine.Job) bool { return j.Answer == engine.AnswerDelivered })
	if j.State != engine.JobDone || j.AnswerNote != "chat.postMessage" {
		t.Errorf("job %s: state %q, answer %q by %q", j.ID, j.State, j.Answer, j.AnswerNote)
	}
}

// TestUndeliverable: when no route works (the response_url expired, the bot
// may not post in the channel nor open a DM), the job is marked undelivered,
// its outcome kept, and the audit says so once.
func TestUndeliverable(t *testing.T) {
	f := newFixture(t)
	f.rc.status.Store(http.StatusGone)
	f.api.fail.Store("channel_not_found")
	resp, ack := f.signedPost(t, f.form("U1", "info demo"))
	if resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	id := ackedJob(t, ack)
	j := f.waitJob(t, id, func(j *engine.Job) bool { return j.State == engine.JobUndelivered })
	if j.Outcome != "ok" || j.Answer != engine.AnswerUndelivered || j.AnswerNote == "" {
		t.Errorf("job %+v", j)
	}
	recs, err := f.engine.Audit.Read(context.Background(), engine.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.JobID == id && r.Event == "undelivered" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d undelivered audit records for %s, want 1", n, id)
	}
}

// TestStallDelaysNoOtherAnswer reproduces "a rate limit stalls unrelated
// answers": with four answers held by 429 Retry-After: 30, twenty /h info demo
// answers each arrive within a second of their command.
func TestStallDelaysNoOtherAnswer(t *testing.T) {
	f := newFixture(t)
	f.rc.held.Store("/held/")
	slash := func(path string) {
		body := url.Values{"team_id": {"T1"}, "channel_id": {"C1"}, "user_id": {"U1"}, "command": {"/h"},
			"text": {"info demo"}, "response_url": {f.rc.srv.URL + path}}.Encode()
		if resp, _ := f.signedPost(t, body); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
	}
	for i := range 4 {
		slash(fmt.Sprintf("/held/%d", i))
	}
	for wait := time.Now().Add(10 * time.Second); f.rc.heldHits.Load() < 4; { // the held answers wait out their Retry-After
		if time.Now().After(wait) {
			t.Fatal("the held answers were never tried")
		}
		time.Sleep(10 * time.Millisecond)
	}
	sent := map[string]time.Time{}
	for i := range 20 {
		path := fmt.Sprintf("/free/%d", i)
		sent[path] = time.Now()
		slash(path)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.rc.mu.Lock()
		n := 0
		for p := range sent {
			if _, ok := f.rc.arrived[p]; ok {
				n++
			}
		}
		f.rc.mu.Unlock()
		if n == len(sent) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d answers arrived", n, len(sent))
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.rc.mu.Lock()
	defer f.rc.mu.Unlock()
	var worst time.Duration
	for p, at := range sent {
		d := f.rc.arrived[p].Sub(at)
		worst = max(worst, d)
		if d > time.Second {
			t.Errorf("%s answered after %v, behind the held answers", p, d)
		}
	}
	t.Logf("worst of 20 answers behind 4 held by Retry-After 30: %v", worst)
}
