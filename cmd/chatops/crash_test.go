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
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const crashSecret = "crash-test-secret"

// crashConfig declares a command whose effect is visible: it appends its
// argument to a file, once per run.
const crashConfig = `
pipelines:
  - name: demo
    stages: [development, staging, production]
    seed: {development: 1.3.0, staging: 1.2.0, production: 1.1.0}
users:
  - {name: alice, slack: U1}
commands:
  - usage: "note <text>"
    summary: Append text to a file
    exec:
      argv: [sh, -c, 'echo "$0" >> "$1"; sleep 0.1', "{text}", "FILE"]
      timeout: 30s
`

// serveProc is a running chatops serve.
type serveProc struct {
	cmd  *exec.Cmd
	addr string
	log  *os.File
}

func startServe(t *testing.T, bin, dir string, extra ...string) *serveProc {
	t.Helper()
	p, err := launchServe(bin, dir, extra...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// launchServe starts chatops serve on dir's data and config, logging to
// dir/serve.log, and returns once it listens.
func launchServe(bin, dir string, extra ...string) (*serveProc, error) {
	return launchServeEnv(bin, dir, nil, extra...)
}

// launchServeEnv is launchServe with more environment.
func launchServeEnv(bin, dir string, env []string, extra ...string) (*serveProc, error) {
	logf, err := os.OpenFile(filepath.Join(dir, "serve.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--workers", "4", "--job-ack-wait", "2s"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SLACK_SIGNING_SECRET="+crashSecret, "CHATOPS_DATA="+filepath.Join(dir, "data"),
		"CHATOPS_CONFIG="+filepath.Join(dir, "chatops.yaml"))
	cmd.Env = append(cmd.Env, env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("serve did not start: %v (log in %s)", err, logf.Name())
	}
	go io.Copy(io.Discard, stdout)
	addr := strings.TrimSpace(strings.TrimPrefix(line, "listening on http://"))
	return &serveProc{cmd: cmd, addr: addr, log: logf}, nil
}

func sign(body string) http.Header {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(crashSecret))
	fmt.Fprintf(mac, "v0:%s:%s", ts, body)
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set("X-Slack-Request-Timestamp", ts)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	return h
}

// answers is a fake response_url host: it fails some answers on purpose and
// keeps the ones it accepts.
type answers struct {
	mu       sync.Mutex
	attempts map[int]int
	got      map[int][]string // accepted answers, by command number
	gotAt    map[int][]time.Time
}

func (a *answers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/resp/"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.attempts[n]++
	switch {
	case n%3 == 0 && a.attempts[n] <= 2: // every third answer fails twice
		http.Error(w, "boom", http.StatusInternalServerError)
		return
	case n%5 == 0 && a.attempts[n] == 1: // every fifth is rate limited
		w.Header().Set("Retry-After", "5")
		http.Error(w, "rate_limited", http.StatusTooManyRequests)
		return
	}
	var m struct{ Text string }
	_ = json.Unmarshal(body, &m)
	a.got[n] = append(a.got[n], m.Text)
	a.gotAt[n] = append(a.gotAt[n], time.Now())
	io.WriteString(w, "ok")
}

// TestCrashAndAnswerFailures: 200 signed slash commands at about 100/s,
// answers failing on purpose, and chatops serve SIGKILLed twice and restarted
// on the same data dir. No command runs twice; every acked command ran once or
// was answered unknown; each got exactly one final answer; the audit holds no
// duplicates.
func TestCrashAndAnswerFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts chatops serve: not in -short")
	}
	bin, dir, ran, fake, hooks := crashSetup(t)
	hookHost := strings.TrimPrefix(hooks.URL, "http://")

	serve := startServe(t, bin, dir, "--response-hosts", hookHost)
	var current atomic.Pointer[serveProc]
	current.Store(serve)
	defer func() {
		if p := current.Load(); p != nil && p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	}()

	const total, kills, workers = 200, 2, 4
	acked := make([]atomic.Bool, total)
	jobIDs := make([]string, total)
	client := &http.Client{Timeout: 5 * time.Second}
	var sent, restarts sync.WaitGroup
	var killedAt, diedAt []time.Time // each SIGKILL: sent, and its process reaped
	start := time.Now()
	for i := range total {
		time.Sleep(time.Until(start.Add(time.Duration(i) * 10 * time.Millisecond))) // about 100/s
		if i == 60 || i == 130 {
			// SIGKILL, and restart on the same data dir while commands keep
			// coming: those sent meanwhile are refused, not acked.
			p := current.Load()
			killedAt = append(killedAt, time.Now())
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			_ = p.cmd.Wait()
			diedAt = append(diedAt, time.Now())
			restarts.Go(func() {
				next, err := launchServe(bin, dir, "--response-hosts", hookHost)
				if err != nil {
					t.Error(err)
					return
				}
				current.Store(next)
			})
		}
		jobIDs[i] = slashID(hooks.URL, i)
		sent.Go(func() { acked[i].Store(slashNote(client, current.Load().addr, hooks.URL, i)) })
	}
	restarts.Wait()
	sent.Wait()

	// Wait for every acked command's final answer.
	deadline := time.Now().Add(120 * time.Second)
	for {
		missing := 0
		fake.mu.Lock()
		for i := range total {
			if acked[i].Load() && len(fake.got[i]) == 0 {
				missing++
			}
		}
		fake.mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d acked commands never got an answer (log: %s)", missing, filepath.Join(dir, "serve.log"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // room for a duplicate to show up

	// SIGTERM: a clean stop, exit status 0.
	p := current.Load()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("serve after SIGTERM: %v, want exit status 0", err)
	}

	data, _ := os.ReadFile(ran)
	times := map[string]int{}
	for _, l := range strings.Fields(string(data)) {
		times[l]++
	}
	nAcked, unknown, excused := 0, 0, 0
	fake.mu.Lock()
	defer fake.mu.Unlock()
	for i := range total {
		arg := fmt.Sprintf("arg%d", i)
		if times[arg] > 1 {
			t.Errorf("%s ran %d times", arg, times[arg])
		}
		if !acked[i].Load() {
			continue
		}
		nAcked++
		got := fake.got[i]
		if len(got) == 2 && killedJustAfter(fake.gotAt[i][0], killedAt, diedAt) {
			// Slack took the answer and the process was killed before it
			// could record so: the one window no record can close (the
			// post is outside the store). It is a few milliseconds wide.
			excused++
			got = got[:1]
		}
		if len(got) != 1 {
			t.Errorf("command %d got %d final answers: %q, the first %s", i, len(got), got, nearestKill(fake.gotAt[i][0], killedAt))
			logJob(t, dir, jobIDs[i])
			continue
		}
		isUnknown := strings.Contains(got[0], "unknown")
		if isUnknown {
			unknown++
		}
		if times[arg] != 1 && !isUnknown {
			t.Errorf("command %d was acked, answered %q, and ran %d times", i, got[0], times[arg])
		}
	}
	if nAcked < total/2 {
		t.Fatalf("only %d of %d commands were acked (log: %s)", nAcked, total, filepath.Join(dir, "serve.log"))
	}
	if unknown > kills*workers {
		t.Errorf("%d commands answered unknown, more than kills × workers = %d", unknown, kills*workers)
	}

	// The audit holds one record per command and outcome.
	out, err := exec.Command(bin, "--data", filepath.Join(dir, "data"), "--config", filepath.Join(dir, "chatops.yaml"),
		"audit", "--limit", "100000", "-o", "json").Output()
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	var recs []struct {
		JobID   string `json:"job_id"`
		Event   string `json:"event"`
		Outcome string `json:"outcome"`
	}
	if err := json.Unmarshal(out, &recs); err != nil {
		t.Fatalf("audit JSON: %v\n%s", err, out)
	}
	seen := map[string]int{}
	for _, r := range recs {
		seen[r.JobID+"/"+r.Event]++
	}
	for k, n := range seen {
		if n > 1 {
			t.Errorf("audit holds %d records of %s", n, k)
		}
	}
	t.Logf("%d commands sent, %d acked, %d ran, %d answered unknown, %d audit records; answers attempted %d times; %d answered twice across a kill",
		total, nAcked, len(times), unknown, len(recs), sumAttempts(fake.attempts), excused)
}

// killedJustAfter reports whether an answer was taken while its process was
// being killed, or up to 250 ms before: too soon for the killed process to
// have recorded it. The record is one KV write beside the outbox's ack, a
// few milliseconds on an idle machine; under -race on two busy cores it was
// seen to take longer. A SIGKILL takes effect a moment after it is sent,
// and a request the dying process sent can be taken by the fake host after
// that: the window runs until 100 ms after the process was reaped.
func killedJustAfter(answered time.Time, kills, died []time.Time) bool {
	for i, k := range kills {
		if k.Sub(answered) < 250*time.Millisecond && i < len(died) && answered.Before(died[i].Add(100*time.Millisecond)) {
			return true
		}
	}
	return false
}

// nearestKill says how far from an answer the nearest kill was, for a
// failure's message.
func nearestKill(answered time.Time, kills []time.Time) string {
	best := time.Duration(1<<62 - 1)
	for _, k := range kills {
		if d := k.Sub(answered); d.Abs() < best.Abs() {
			best = d
		}
	}
	if len(kills) == 0 {
		return "with no kill"
	}
	return fmt.Sprintf("%v before the nearest kill", best.Round(time.Microsecond))
}

// crashSetup builds chatops, writes a config whose note command appends to
// the file ran, and starts a fake response_url host, closed with the test.
func crashSetup(t *testing.T) (bin, dir, ran string, fake *answers, hooks *httptest.Server) {
	t.Helper()
	bin, dir = chatopsBinary(t), t.TempDir()
	t.Cleanup(func() { _ = stopLocalServer(filepath.Join(dir, "data")) })
	ran = filepath.Join(dir, "ran")
	if err := os.WriteFile(filepath.Join(dir, "chatops.yaml"), []byte(strings.ReplaceAll(crashConfig, "FILE", ran)), 0o600); err != nil {
		t.Fatal(err)
	}
	fake = &answers{attempts: map[int]int{}, got: map[int][]string{}, gotAt: map[int][]time.Time{}}
	hooks = httptest.NewServer(fake)
	t.Cleanup(hooks.Close)
	return bin, dir, ran, fake, hooks
}

// slashForm is the signed body of slash command i: /h note arg<i>, answered
// at the fake host's /resp/<i>.
func slashForm(hooksURL string, i int) string {
	return url.Values{"team_id": {"T1"}, "channel_id": {"C1"}, "user_id": {"U1"}, "command": {"/h"},
		"text": {fmt.Sprintf("note arg%d", i)}, "response_url": {fmt.Sprintf("%s/resp/%d", hooksURL, i)}}.Encode()
}

// slashID is the job id the gateway gives slash command i.
func slashID(hooksURL string, i int) string {
	sum := sha256.Sum256([]byte(slashForm(hooksURL, i)))
	return "s" + hex.EncodeToString(sum[:12])
}

// slashNote sends slash command i to the gateway at addr and reports whether
// it was acked.
func slashNote(client *http.Client, addr, hooksURL string, i int) bool {
	body := slashForm(hooksURL, i)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/slack/commands", strings.NewReader(body))
	req.Header = sign(body)
	resp, err := client.Do(req)
	if err != nil {
		return false // not acked: the process was being stopped
	}
	ack, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK && strings.Contains(string(ack), "Running")
}

// logJob logs what serve's log says of a job.
func logJob(t *testing.T, dir, id string) {
	logText, _ := os.ReadFile(filepath.Join(dir, "serve.log"))
	for _, l := range strings.Split(string(logText), "\n") {
		if strings.Contains(l, id) {
			t.Log(l)
		}
	}
}

func sumAttempts(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// chatopsBinary builds the real chatops command, with its own main and signal
// handling, once per test run; TestMain removes it.
func chatopsBinary(tb testing.TB) string {
	tb.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "chatops-test"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "chatops")
		if runtime.GOOS == "windows" {
			binPath += ".exe"
		}
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		tb.Fatal(binErr)
	}
	return binPath
}

// TestSIGTERMUnderLoad: chatops serve told to stop while commands arrive and
// run exits 0, and no acked command is lost: a restarted serve answers every
// one, and none runs twice.
func TestSIGTERMUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("stops and restarts chatops serve: not in -short")
	}
	bin, dir, ran, fake, hooks := crashSetup(t)
	host := strings.TrimPrefix(hooks.URL, "http://")
	p := startServe(t, bin, dir, "--response-hosts", host, "--shutdown-timeout", "2s")
	const total = 100
	acked := make([]atomic.Bool, total)
	client := &http.Client{Timeout: 5 * time.Second}
	var sent sync.WaitGroup
	for i := range total {
		time.Sleep(10 * time.Millisecond)
		if i == total/2 {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
		sent.Go(func() { acked[i].Store(slashNote(client, p.addr, hooks.URL, i)) })
	}
	sent.Wait()
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v, want exit status 0 (log: %s)", err, filepath.Join(dir, "serve.log"))
	}
	// What the stopped server handed back, a new one finishes.
	p = startServe(t, bin, dir, "--response-hosts", host)
	defer func() { _ = p.cmd.Process.Signal(syscall.SIGTERM); _ = p.cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	nAcked := 0
	for i := range total {
		if !acked[i].Load() {
			continue
		}
		nAcked++
		for {
			fake.mu.Lock()
			n := len(fake.got[i])
			fake.mu.Unlock()
			if n > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("acked command %d was lost: no answer", i)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	time.Sleep(2 * time.Second)
	data, _ := os.ReadFile(ran)
	times := map[string]int{}
	for _, l := range strings.Fields(string(data)) {
		times[l]++
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	unknown := 0
	for i := range total {
		if times[fmt.Sprintf("arg%d", i)] > 1 {
			t.Errorf("arg%d ran %d times", i, times[fmt.Sprintf("arg%d", i)])
		}
		if acked[i].Load() && len(fake.got[i]) != 1 {
			t.Errorf("command %d got %d answers: %q", i, len(fake.got[i]), fake.got[i])
			logJob(t, dir, slashID(hooks.URL, i))
		}
		if len(fake.got[i]) > 0 && strings.Contains(fake.got[i][0], "unknown") {
			unknown++
		}
	}
	if nAcked < total/2 {
		t.Errorf("only %d of %d acked", nAcked, total)
	}
	if unknown > 0 {
		t.Errorf("%d commands answered unknown after a clean stop", unknown)
	}
	t.Logf("%d sent, %d acked before and during the stop, %d ran, 0 lost", total, nAcked, len(times))
}
