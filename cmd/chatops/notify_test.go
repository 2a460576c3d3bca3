package main

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	notifyToken   = "xoxb-notify-test"
	githubSecret  = "github-webhook-secret-for-tests"
	genericSecret = "generic-webhook-secret-for-tests"
)

const notifyConfig = `
pipelines:
  - name: demo
    repo: acme/shop
    stages: [development, staging, production]
    seed: {development: 1.3.0, staging: 1.2.0, production: 1.1.0}
users:
  - {name: alice, slack: U1, login: ME}
`

// notifySlack is a fake Slack Web API recording posts and updates in the
// shapes of Slack's documentation (chat.postMessage returns the channel and
// the message's ts; chat.update the same), and answering 429 with
// Retry-After to the posts it is told to refuse.
type notifySlack struct {
	mu      sync.Mutex
	posts   []slackPost
	updates []slackPost
	// refuse429 lists the post numbers (from 1, counting refusals) to
	// answer 429.
	refuse429 map[int]bool
	calls     int
	refused   int
	srv       *httptest.Server
}

type slackPost struct {
	Channel, ThreadTS, TS, Text string
	At                          time.Time
}

func newNotifySlack(t *testing.T) *notifySlack {
	f := &notifySlack{refuse429: map[int]bool{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *notifySlack) serve(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !strings.HasPrefix(r.URL.Path, "/resp/") && r.Header.Get("Authorization") != "Bearer "+notifyToken && r.PostForm.Get("token") != notifyToken {
		io.WriteString(w, `{"ok":false,"error":"invalid_auth"}`)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/resp/") {
		io.WriteString(w, "ok") // a response_url takes any answer
		return
	}
	p := slackPost{Channel: r.PostForm.Get("channel"), ThreadTS: r.PostForm.Get("thread_ts"), TS: r.PostForm.Get("ts"), Text: r.PostForm.Get("text"), At: time.Now()}
	switch strings.TrimPrefix(r.URL.Path, "/api/") {
	case "auth.test":
		io.WriteString(w, `{"ok":true,"url":"https://acme.slack.com/","team":"Acme","user":"chatops","team_id":"T1","user_id":"UBOT","bot_id":"BBOT"}`)
	case "chat.postMessage":
		f.calls++
		if f.refuse429[f.calls] {
			f.refused++
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"ok":false,"error":"ratelimited"}`)
			return
		}
		p.TS = fmt.Sprintf("1700000000.%06d", len(f.posts)+1)
		f.posts = append(f.posts, p)
		fmt.Fprintf(w, `{"ok":true,"channel":%q,"ts":%q,"message":{"type":"message","text":%q,"ts":%q}}`, p.Channel, p.TS, p.Text, p.TS)
	case "chat.update":
		f.updates = append(f.updates, p)
		fmt.Fprintf(w, `{"ok":true,"channel":%q,"ts":%q,"text":%q}`, p.Channel, p.TS, p.Text)
	default:
		io.WriteString(w, `{"ok":false,"error":"unknown_method"}`)
	}
}

func (f *notifySlack) snapshot() (posts, updates []slackPost) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]slackPost(nil), f.posts...), append([]slackPost(nil), f.updates...)
}

// postsIn returns the posts in channel, and those replying in thread ts.
func postsIn(posts []slackPost, channel, thread string) []slackPost {
	var out []slackPost
	for _, p := range posts {
		if p.Channel == channel && p.ThreadTS == thread {
			out = append(out, p)
		}
	}
	return out
}

func notifySetup(t *testing.T) (bin, dir string, slack *notifySlack, env []string) {
	t.Helper()
	bin = chatopsBinary(t)
	dir = t.TempDir()
	t.Cleanup(func() { _ = stopLocalServer(filepath.Join(dir, "data")) })
	me := "unknown"
	if u, err := user.Current(); err == nil {
		me = u.Username
	}
	if err := os.WriteFile(filepath.Join(dir, "chatops.yaml"), []byte(strings.ReplaceAll(notifyConfig, "login: ME", "login: "+me)), 0o600); err != nil {
		t.Fatal(err)
	}
	slack = newNotifySlack(t)
	env = []string{"SLACK_BOT_TOKEN=" + notifyToken, "CHATOPS_SLACK_API_URL=" + slack.srv.URL + "/api/",
		"GITHUB_WEBHOOK_SECRET=" + githubSecret, "CHATOPS_WEBHOOK_SECRET=" + genericSecret}
	return bin, dir, slack, env
}

func notifyServe(t *testing.T, bin, dir string, env []string) *serveProc {
	t.Helper()
	p, err := launchServeEnv(bin, dir, env)
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "serve.log"))
		t.Fatalf("%v\n%s", err, log)
	}
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); _, _ = p.cmd.Process.Wait() })
	return p
}

func notifyCLI(t *testing.T, bin, dir string, args ...string) string {
	t.Helper()
	out, errOut, code := deployCLI(bin, dir, args...)
	if code != 0 {
		t.Fatalf("chatops %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// sendGitHub sends one signed GitHub delivery and returns the status.
func sendGitHub(t *testing.T, addr, event, delivery, body, secret string) int {
	t.Helper()
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/hooks/github", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// report sends one signed generic report and returns the status.
func report(t *testing.T, addr, body string) int {
	t.Helper()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(genericSecret))
	fmt.Fprintf(mac, "v1:%s:%s", ts, body)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/hooks/generic", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Chatops-Timestamp", ts)
	req.Header.Set("X-Chatops-Signature", "v1="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		t.Logf("report answered %s: %s", resp.Status, msg)
	}
	return resp.StatusCode
}

const ghRepo = `"repository":{"id":1,"name":"shop","full_name":"acme/shop","default_branch":"main","html_url":"https://github.com/acme/shop"},"sender":{"login":"octocat","type":"User"}`

func hookDeployment() string {
	return `{"action":"created","deployment":{"id":42,"sha":"9f2c1e7a1b2c3d4e5f60718293a4b5c6d7e8f901","ref":"v1.4.0","task":"deploy","payload":{},` +
		`"environment":"production","description":"Deploy v1.4.0","creator":{"login":"octocat"},"created_at":"2026-12-03T10:00:00Z"},` + ghRepo + `}`
}

func hookStatus(state string) string {
	return `{"action":"created","deployment_status":{"id":` + strconv.Itoa(len(state)) + `,"state":"` + state + `","description":"` + state + `",` +
		`"environment":"production","log_url":"https://github.com/acme/shop/actions/runs/7","creator":{"login":"octocat"}},` +
		`"deployment":{"id":42,"sha":"9f2c1e7a1b2c3d4e5f60718293a4b5c6d7e8f901","ref":"v1.4.0","payload":{},"environment":"production","creator":{"login":"octocat"}},` + ghRepo + `}`
}

// TestNotifications is the acceptance end to end, on real processes:
// a terminal promote reaches the routed channel; GitHub's deployment events
// make one thread with its parent updated, a redelivery and a forged
// delivery post nothing; a burst (with a 429) is paced and complete; and after
// a restart of chatops serve, events join the same thread.
func TestNotifications(t *testing.T) {
	if testing.Short() {
		t.Skip("starts chatops serve")
	}
	bin, dir, slack, env := notifySetup(t)
	srv := notifyServe(t, bin, dir, env)
	me := "unknown"
	if u, err := user.Current(); err == nil {
		me = u.Username
	}
	_ = me

	// Terminal promote.
	notifyCLI(t, bin, dir, "route", "demo", "to", "C0DEPLOY123")
	notifyCLI(t, bin, dir, "promote", "demo", "--yes")
	var parent slackPost
	deployWait(t, 20*time.Second, "the promote in C0DEPLOY123", func() bool {
		posts, _ := slack.snapshot()
		for _, p := range postsIn(posts, "C0DEPLOY123", "") {
			if strings.Contains(p.Text, "demo 1.2.0") {
				parent = p
				return true
			}
		}
		return false
	})
	for _, want := range []string{"demo", "1.2.0", "staging", "production", "alice", "from a terminal"} {
		if !strings.Contains(parent.Text, want) {
			t.Errorf("the promote's message does not name %q: %s", want, parent.Text)
		}
	}

	// GitHub thread.
	for i, d := range []struct{ event, body string }{
		{"deployment", hookDeployment()},
		{"deployment_status", hookStatus("pending")},
		{"deployment_status", hookStatus("in_progress")},
		{"deployment_status", hookStatus("success")},
	} {
		if code := sendGitHub(t, srv.addr, d.event, fmt.Sprintf("d-%d", i), d.body, githubSecret); code != http.StatusAccepted {
			t.Fatalf("delivery %d: %d", i, code)
		}
	}
	var thread slackPost
	deployWait(t, 30*time.Second, "the deployment's thread", func() bool {
		posts, _ := slack.snapshot()
		for _, p := range postsIn(posts, "C0DEPLOY123", "") {
			if strings.Contains(p.Text, "demo v1.4.0") {
				thread = p
			}
		}
		return thread.TS != "" && len(postsIn(posts, "C0DEPLOY123", thread.TS)) == 3
	})
	replies := func() []string {
		posts, _ := slack.snapshot()
		var out []string
		for _, p := range postsIn(posts, "C0DEPLOY123", thread.TS) {
			out = append(out, p.Text)
		}
		return out
	}
	got := replies()
	for i, state := range []string{"pending", "in progress", "success"} {
		if !strings.Contains(got[i], state) {
			t.Errorf("reply %d is not %s: %s", i+1, state, got[i])
		}
	}
	deployWait(t, 10*time.Second, "the parent updated to success", func() bool {
		_, updates := slack.snapshot()
		for i := len(updates) - 1; i >= 0; i-- {
			if updates[i].TS == thread.TS {
				return strings.Contains(updates[i].Text, "success")
			}
		}
		return false
	})
	// A redelivery and a forged delivery post nothing.
	if code := sendGitHub(t, srv.addr, "deployment_status", "d-3", hookStatus("success"), githubSecret); code != http.StatusAccepted {
		t.Errorf("redelivery: %d", code)
	}
	if code := sendGitHub(t, srv.addr, "deployment_status", "d-9", hookStatus("failure"), "not-the-secret-at-all"); code != http.StatusUnauthorized {
		t.Errorf("forged delivery: %d, want 401", code)
	}

	// Burst: 6 reports for one release, the first post refused with 429.
	before, _ := slack.snapshot()
	slack.mu.Lock()
	slack.refuse429[slack.calls+1] = true
	slack.mu.Unlock()
	for i := range 6 {
		body := fmt.Sprintf(`{"pipeline":"demo","stage":"staging","version":"2.0.0","state":"in_progress","title":"Smoke tests","text":"step %d of 6"}`, i+1)
		if code := report(t, srv.addr, body); code != http.StatusAccepted {
			t.Fatalf("report %d: %d", i, code)
		}
	}
	var burst []slackPost
	deployWait(t, 40*time.Second, "the burst", func() bool {
		posts, _ := slack.snapshot()
		burst = nil
		for _, p := range posts[len(before):] {
			if strings.Contains(p.Text, "step ") || strings.Contains(p.Text, "demo 2.0.0") {
				burst = append(burst, p)
			}
		}
		return len(burst) == 6
	})
	for i, p := range burst {
		if want := fmt.Sprintf("step %d of 6", i+1); !strings.Contains(p.Text, want) && !(i == 0 && strings.Contains(p.Text, "demo 2.0.0")) {
			t.Errorf("burst post %d out of order: %s", i+1, p.Text)
		}
		if i > 0 {
			gap := p.At.Sub(burst[i-1].At)
			t.Logf("burst post %d: %v after the one before", i+1, gap.Round(time.Millisecond))
			if gap < 900*time.Millisecond {
				t.Errorf("posts %d and %d in one channel %v apart: faster than one a second", i, i+1, gap)
			}
		}
	}
	slack.mu.Lock()
	if slack.refused != 1 {
		t.Errorf("the fake refused %d posts with 429, want 1", slack.refused)
	}
	slack.mu.Unlock()
	// Redeliveries and the forged delivery posted nothing: the thread holds
	// exactly its three replies.
	if got := replies(); len(got) != 3 {
		t.Errorf("the deployment's thread has %d replies after the redelivery: %q", len(got), got)
	}

	// Restart: SIGTERM, start again, and a report joins the same thread.
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_, _ = srv.cmd.Process.Wait()
	srv = notifyServe(t, bin, dir, env)
	if code := report(t, srv.addr, `{"pipeline":"demo","stage":"production","version":"v1.4.0","state":"success","title":"Smoke tests","text":"after the restart"}`); code != http.StatusAccepted {
		t.Fatalf("report after restart: %d", code)
	}
	deployWait(t, 20*time.Second, "the report after the restart in the thread", func() bool {
		got := replies()
		return len(got) == 4 && strings.Contains(got[3], "after the restart")
	})
	posts, _ := slack.snapshot()
	parents := 0
	for _, p := range postsIn(posts, "C0DEPLOY123", "") {
		if strings.Contains(p.Text, "demo v1.4.0") {
			parents++
		}
	}
	if parents != 1 {
		t.Errorf("%d parents for demo v1.4.0, want 1", parents)
	}
}

// TestWatch: chatops watch demo -o json prints a promote made from another
// terminal, as one JSON object, and exits on Ctrl-C (SIGINT).
func TestWatch(t *testing.T) {
	bin, dir, _, _ := notifySetup(t)
	notifyCLI(t, bin, dir, "info", "demo") // the local server runs from here on
	cmd := exec.Command(bin, "--data", filepath.Join(dir, "data"), "--config", filepath.Join(dir, "chatops.yaml"), "watch", "demo", "-o", "json")
	cmd.Env = append(os.Environ(), "CHATOPS_CONFIG=", "CHATOPS_NATS_URL=")
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	ready, err := bufio.NewReader(stderr).ReadString('\n')
	if err != nil || ready != "watching demo; Ctrl-C stops\n" {
		t.Fatalf("watch said %q, %v", ready, err)
	}
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	start := time.Now()
	notifyCLI(t, bin, dir, "promote", "demo", "--yes")
	done := time.Now()
	var ev struct {
		Pipeline, Stage, Version, State, Action, By, Source, From string
	}
	select {
	case line := <-lines:
		t.Logf("watch printed the promote %v after chatops promote started (it ran %v)", time.Since(start).Round(time.Millisecond), done.Sub(start).Round(time.Millisecond))
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch printed nothing of the promote")
	}
	want := "demo production 1.2.0 success promote alice terminal staging"
	if got := strings.Join([]string{ev.Pipeline, ev.Stage, ev.Version, ev.State, ev.Action, ev.By, ev.Source, ev.From}, " "); got != want {
		t.Errorf("watch printed %s, want %s", got, want)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("watch after Ctrl-C: %v, want exit 0", err)
	}
}

// TestNotifyFromSlackAndBeforeServe: a route set with /h in Slack, and a
// promote made from a terminal while no chatops serve ran, are posted once
// chatops serve runs.
func TestNotifyFromSlackAndBeforeServe(t *testing.T) {
	if testing.Short() {
		t.Skip("starts chatops serve")
	}
	bin, dir, slack, env := notifySetup(t)
	notifyCLI(t, bin, dir, "route", "demo", "to", "C0DEPLOY123")
	notifyCLI(t, bin, dir, "promote", "demo", "--yes")
	srv := notifyServe(t, bin, dir, env)
	deployWait(t, 20*time.Second, "the promote made before serve ran", func() bool {
		posts, _ := slack.snapshot()
		for _, p := range postsIn(posts, "C0DEPLOY123", "") {
			if strings.Contains(p.Text, "demo 1.2.0") {
				return true
			}
		}
		return false
	})
	ack := deploySlash(t, srv.addr, slack.srv.URL, "route demo to <#C0OPS0001|ops>", 1)
	if !strings.Contains(ack, "route demo to") {
		t.Logf("ack: %s", ack)
	}
	deployWait(t, 20*time.Second, "the route set in Slack, said in its new channel", func() bool {
		posts, _ := slack.snapshot()
		for _, p := range postsIn(posts, "C0OPS0001", "") {
			if strings.Contains(p.Text, "alice sent demo's notifications here (from Slack)") {
				return true
			}
		}
		return false
	})
	out := notifyCLI(t, bin, dir, "info", "demo", "-o", "json")
	var info struct {
		Route struct{ Channel, Name, Workspace, By string }
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatal(err)
	}
	if got := info.Route; got.Channel != "C0OPS0001" || got.Name != "ops" || got.Workspace != "T1" || got.By != "alice" {
		t.Errorf("route set in Slack: %+v", got)
	}
}
