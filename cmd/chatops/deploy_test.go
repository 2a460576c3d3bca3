package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// deployConfig is a pipeline whose production stage deploys through an exec
// driver: a script that writes its pid to STARTS, prints progress and
// takes SLEEP seconds.
const deployConfig = `
pipelines:
  - name: web
    stages: [staging, production]
    seed: {staging: 1.2.0, production: 1.1.0}
    deploy:
      production:
        exec:
          argv: [sh, -c, 'echo $$ >> STARTS; echo "rolling out $0"; sleep SLEEP; echo "healthy"', "{version}"]
          timeout: 1m
users:
  - {name: me, login: ME, groups: [admins]}
  - {name: alice, slack: U1}
groups: [admins]
policy:
  force: [admins]
`

// deploySetup writes the config into a new dir and returns the dir and the
// file the driver writes its starts to.
func deploySetup(t *testing.T, sleep string) (dir, starts string) {
	t.Helper()
	dir = t.TempDir()
	t.Cleanup(func() { _ = stopLocalServer(filepath.Join(dir, "data")) })
	starts = filepath.Join(dir, "starts")
	me := "unknown"
	if u, err := user.Current(); err == nil {
		me = u.Username
	}
	cfg := strings.NewReplacer("STARTS", starts, "SLEEP", sleep, "login: ME", "login: "+me).Replace(deployConfig)
	if err := os.WriteFile(filepath.Join(dir, "chatops.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, starts
}

// deployStarts is how many times the driver has started.
func deployStarts(t *testing.T, starts string) int {
	t.Helper()
	data, err := os.ReadFile(starts)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return len(strings.Fields(string(data)))
}

// deployCLI runs a one-shot chatops on dir's data and config.
func deployCLI(bin, dir string, args ...string) (string, string, int) {
	cmd := exec.Command(bin, append([]string{"--data", filepath.Join(dir, "data"), "--config", filepath.Join(dir, "chatops.yaml")}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "CHATOPS_CONFIG=", "CHATOPS_NATS_URL=")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
	}
	return stdout.String(), stderr.String(), code
}

// deployProduction is production's version and status in info's JSON.
func deployProduction(t *testing.T, bin, dir string) (version, status string) {
	t.Helper()
	out, errOut, code := deployCLI(bin, dir, "info", "web", "-o", "json")
	if code != 0 {
		t.Fatalf("info: exit %d\n%s", code, errOut)
	}
	var info struct {
		Stages []struct {
			Name      string
			Version   string
			Deploying *struct {
				Version string
				Unknown bool
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("info JSON: %v\n%s", err, out)
	}
	for _, s := range info.Stages {
		if s.Name == "production" {
			switch d := s.Deploying; {
			case d == nil:
			case d.Unknown:
				status = "unknown " + d.Version
			default:
				status = "deploying " + d.Version
			}
			return s.Version, status
		}
	}
	t.Fatalf("info has no production:\n%s", out)
	return "", ""
}

// deploySlack is a fake Slack: response_urls under /resp/ and the Web API
// under /api/, answering in the shapes of Slack's documentation.
type deploySlack struct {
	mu      sync.Mutex
	answers []string     // texts posted to response_urls
	posts   []url.Values // chat.postMessage calls
	srv     *httptest.Server
}

func newDeploySlack(t *testing.T) *deploySlack {
	f := &deploySlack{}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *deploySlack) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if strings.HasPrefix(r.URL.Path, "/resp/") {
		var m struct{ Text string }
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &m)
		f.answers = append(f.answers, m.Text)
		io.WriteString(w, "ok")
		return
	}
	_ = r.ParseForm()
	w.Header().Set("Content-Type", "application/json")
	// Slack takes the token in the Authorization header or as a token field.
	if r.Header.Get("Authorization") != "Bearer xoxb-deploy-test" && r.PostForm.Get("token") != "xoxb-deploy-test" {
		io.WriteString(w, `{"ok":false,"error":"invalid_auth"}`)
		return
	}
	switch strings.TrimPrefix(r.URL.Path, "/api/") {
	case "auth.test":
		io.WriteString(w, `{"ok":true,"url":"https://acme.slack.com/","team":"Acme","user":"chatops","team_id":"T1","user_id":"UBOT","bot_id":"BBOT"}`)
	case "chat.postMessage":
		f.posts = append(f.posts, r.PostForm)
		ts := fmt.Sprintf("1700000000.%06d", len(f.posts))
		fmt.Fprintf(w, `{"ok":true,"channel":%q,"ts":%q,"message":{"type":"message","text":%q,"ts":%q}}`,
			r.PostForm.Get("channel"), ts, r.PostForm.Get("text"), ts)
	default:
		io.WriteString(w, `{"ok":false,"error":"unknown_method"}`)
	}
}

func (f *deploySlack) snapshot() (answers []string, posts []url.Values) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.answers...), append([]url.Values(nil), f.posts...)
}

// deploySlash sends /h <text> as alice in C1, answered at /resp/<n>, and
// returns the ack.
func deploySlash(t *testing.T, addr, slackURL, text string, n int) string {
	t.Helper()
	body := url.Values{"team_id": {"T1"}, "channel_id": {"C1"}, "user_id": {"U1"}, "command": {"/h"},
		"text": {text}, "response_url": {fmt.Sprintf("%s/resp/%d", slackURL, n)}}.Encode()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/slack/commands", strings.NewReader(body))
	req.Header = sign(body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	ack, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("slash %q: %s %s", text, resp.Status, ack)
	}
	return string(ack)
}

// deployServe starts chatops serve on dir, failing the test with its log
// when it does not start.
func deployServe(t *testing.T, bin, dir string, extra ...string) *serveProc {
	t.Helper()
	p, err := launchServe(bin, dir, extra...)
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "serve.log"))
		t.Fatalf("%v\n%s", err, log)
	}
	return p
}

// deployWait polls cond until it holds, for at most d.
func deployWait(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSlackPromoteThroughDriver: /h promote through a driver shows the
// driver's progress in a thread and answers once, with the outcome.
func TestSlackPromoteThroughDriver(t *testing.T) {
	if testing.Short() {
		t.Skip("runs chatops serve: not in -short")
	}
	bin := chatopsBinary(t)
	dir, starts := deploySetup(t, "1")
	slack := newDeploySlack(t)
	serve := deployServe(t, bin, dir, "--response-hosts", strings.TrimPrefix(slack.srv.URL, "http://"),
		"--bot-token", "xoxb-deploy-test", "--slack-api-url", slack.srv.URL+"/api/")
	defer func() { _ = serve.cmd.Process.Kill(); _ = serve.cmd.Wait() }()

	if ack := deploySlash(t, serve.addr, slack.srv.URL, "promote web", 1); !strings.Contains(ack, "Running") {
		t.Fatalf("ack %s", ack)
	}
	deployWait(t, 20*time.Second, "the final answer", func() bool { a, _ := slack.snapshot(); return len(a) > 0 })
	time.Sleep(2 * time.Second) // room for a second answer to show up
	answers, posts := slack.snapshot()
	if len(answers) != 1 || !strings.Contains(answers[0], "Promoted web 1.2.0 from staging to production") {
		t.Errorf("answers at the response_url: %q, want one saying it promoted", answers)
	}
	if len(posts) < 2 {
		t.Fatalf("chat.postMessage calls: %v, want a parent and progress in its thread", posts)
	}
	if p := posts[0]; p.Get("channel") != "C1" || p.Get("thread_ts") != "" || !strings.Contains(p.Get("text"), "progress in the thread") {
		t.Errorf("first post %v, want the thread's parent in C1", p)
	}
	var progress []string
	for _, p := range posts[1:] {
		if p.Get("channel") != "C1" || p.Get("thread_ts") != "1700000000.000001" {
			t.Errorf("post %v is not in the parent's thread", p)
		}
		progress = append(progress, p.Get("text"))
	}
	all := strings.Join(progress, "\n")
	t.Logf("answer %q; thread %q", answers, all)
	for _, line := range []string{"production: rolling out 1.2.0", "production: healthy"} {
		if strings.Count(all, line) != 1 {
			t.Errorf("progress in the thread %q has %q %d times, want once", all, line, strings.Count(all, line))
		}
	}
	if n := deployStarts(t, starts); n != 1 {
		t.Errorf("the driver started %d times", n)
	}
	if v, status := deployProduction(t, bin, dir); v != "1.2.0" || status != "" {
		t.Errorf("production after the promotion: %s %q", v, status)
	}
}

// TestDriverKilledMidDeploy: chatops serve SIGKILLed while a driver runs.
// The restarted serve never starts the driver again; it answers that the
// outcome is unknown, and the stage says so, refusing changes, until
// someone who may force records what happened.
func TestDriverKilledMidDeploy(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts chatops serve: not in -short")
	}
	bin := chatopsBinary(t)
	dir, starts := deploySetup(t, "3")
	slack := newDeploySlack(t)
	hooks := strings.TrimPrefix(slack.srv.URL, "http://")
	serve := deployServe(t, bin, dir, "--response-hosts", hooks)
	running := serve
	defer func() { _ = running.cmd.Process.Kill(); _ = running.cmd.Wait() }()

	if ack := deploySlash(t, serve.addr, slack.srv.URL, "promote web", 1); !strings.Contains(ack, "Running") {
		t.Fatalf("ack %s", ack)
	}
	deployWait(t, 20*time.Second, "the driver's start", func() bool { return deployStarts(t, starts) == 1 })
	if v, status := deployProduction(t, bin, dir); v != "1.1.0" || status != "deploying 1.2.0" {
		t.Errorf("production while the driver runs: %s %q, want 1.1.0 deploying 1.2.0", v, status)
	}
	_ = serve.cmd.Process.Signal(syscall.SIGKILL)
	_ = serve.cmd.Wait()

	running = deployServe(t, bin, dir, "--response-hosts", hooks)
	deployWait(t, 30*time.Second, "the answer after the restart", func() bool { a, _ := slack.snapshot(); return len(a) > 0 })
	time.Sleep(4 * time.Second) // longer than the driver would take, were it run again
	answers, _ := slack.snapshot()
	if len(answers) != 1 || !strings.Contains(answers[0], "whether production changed is unknown") {
		t.Errorf("answers: %q, want one saying the outcome is unknown", answers)
	}
	if n := deployStarts(t, starts); n != 1 {
		t.Errorf("the driver started %d times, want once", n)
	}
	if v, status := deployProduction(t, bin, dir); v != "1.1.0" || status != "unknown 1.2.0" {
		t.Errorf("production after the restart: %s %q, want 1.1.0 unknown 1.2.0", v, status)
	}

	// Until someone decides, the stage refuses changes: a conflict.
	_, errOut, code := deployCLI(bin, dir, "promote", "web", "--yes")
	if code != 4 || !strings.Contains(errOut, "promote of 1.2.0 unknown") {
		t.Errorf("promote over an unknown outcome: exit %d, %s", code, errOut)
	}
	if n := deployStarts(t, starts); n != 1 {
		t.Errorf("a refused promote started the driver: %d starts", n)
	}
	// Forced, it runs the driver and records the outcome.
	out, errOut, code := deployCLI(bin, dir, "promote!", "web", "--yes")
	if code != 0 || !strings.Contains(out, "Promoted web 1.2.0 from staging to production") {
		t.Errorf("promote!: exit %d\n%s%s", code, out, errOut)
	}
	if v, status := deployProduction(t, bin, dir); v != "1.2.0" || status != "" {
		t.Errorf("production once resolved: %s %q", v, status)
	}
}
