package slack_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chatops/chatops/adapters/exec"
)

const execConfig = `
pipelines:
  - name: demo
    stages: [staging, production]
users:
  - {name: alice, slack: U1}
commands:
  - usage: "restart <client>"
    exec:
      argv: [sh, -c, "echo stopping {client}; echo starting {client}"]
`

// TestProgressInThread: a command's output goes to a thread of its own, its
// result to the response_url.
func TestProgressInThread(t *testing.T) {
	f := newFixtureConfig(t, execConfig)
	f.engine.Runner = exec.Runner{}
	if resp, ack := f.signedPost(t, f.form("U1", "restart acme")); resp.StatusCode != 200 || !strings.Contains(ack, "Running restart acme") {
		t.Fatalf("ack %d %s", resp.StatusCode, ack)
	}
	if m := f.next(t); m.Text != "stopping acme\nstarting acme" || !strings.Contains(string(m.Blocks), "stopping acme\\nstarting acme") {
		t.Errorf("result: %s %s", m.Text, m.Blocks)
	}
	// The first line goes at once, the next wait for a second or the end.
	posts := f.waitPosts(t, 3)
	if len(posts) != 3 || !strings.HasPrefix(posts[0], "C1||:hourglass_flowing_sand: Running `restart acme`") ||
		posts[1] != "C1|1700000000.000200|```stopping acme```" || posts[2] != "C1|1700000000.000200|```starting acme```" {
		t.Errorf("thread: %q", posts)
	}
}

// TestLateAnswerUsesWebAPI: past a response_url's 30 minutes, the answer goes
// through the Web API.
func TestLateAnswerUsesWebAPI(t *testing.T) {
	f := newFixtureConfig(t, execConfig)
	f.skew.Store(int64(31 * time.Minute)) // the job is answered 31 minutes after it was enqueued
	if resp, _ := f.signedPost(t, f.form("U1", "info demo")); resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	posts := f.waitPosts(t, 1)
	if len(posts) != 1 || posts[0] != "C1||Pipeline demo" {
		t.Errorf("posts: %q", posts)
	}
	f.rc.mu.Lock()
	defer f.rc.mu.Unlock()
	if len(f.rc.msgs) != 0 {
		t.Errorf("the stale response_url was used: %+v", f.rc.msgs)
	}
}
