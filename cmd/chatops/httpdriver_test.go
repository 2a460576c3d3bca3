package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatops/chatops/adapters/terminal"
)

// The tests here run the real chatops binary against a signed-webhook
// receiver on 127.0.0.1, written the way a team would write its own: the
// http deploy driver's wire contract (adapters/http/doc.go) seen from the
// other end.

// hookSecret is the signing key both ends share; distinctive, so that any
// leak of it into an output is found by a plain search.
const hookSecret = "hook-secret-5b9e2f71c0d4a8"

// hookSecretEnv is the variable the config names for the key.
const hookSecretEnv = "WEB_DEPLOY_SECRET"

// hookWindow is how far from the receiver's clock a timestamp may be.
const hookWindow = 5 * time.Minute

// hookAnswer is one scripted answer of the receiver.
type hookAnswer struct {
	status int
	header map[string]string
	// body is sent as is; "{status_url}" in it is the receiver's status URL.
	body string
}

// hookRequest is one request the receiver got, signature verified or not.
type hookRequest struct {
	method string
	path   string
	header http.Header
	body   []byte
	// badSig is why the signature was refused, "" when it verified.
	badSig string
}

// hookReceiver is a team's deploy webhook: POST /deploy starts a change,
// GET /status/<job> reports it. Each answers from its script in turn; past
// the script's end, the last answer repeats.
type hookReceiver struct {
	srv    *httptest.Server
	secret []byte
	posts  []hookAnswer
	polls  []hookAnswer

	mu   sync.Mutex
	reqs []hookRequest
}

// hookNewReceiver starts a receiver on 127.0.0.1, port 0, stopped with the
// test.
func hookNewReceiver(t *testing.T, secret string, posts, polls []hookAnswer) *hookReceiver {
	t.Helper()
	h := &hookReceiver{secret: []byte(secret), posts: posts, polls: polls}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) url() string { return h.srv.URL + "/deploy" }

func (h *hookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	req := hookRequest{method: r.Method, path: r.URL.Path, header: r.Header.Clone(), body: body}
	if err := hookVerify(h.secret, r.Header, body, time.Now()); err != nil {
		req.badSig = err.Error()
	}
	h.mu.Lock()
	h.reqs = append(h.reqs, req)
	var script []hookAnswer
	var n int
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/deploy":
		script, n = h.posts, h.countLocked(http.MethodPost)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/status/"):
		script, n = h.polls, h.countLocked(http.MethodGet)
	}
	h.mu.Unlock()
	if req.badSig != "" {
		http.Error(w, req.badSig, http.StatusUnauthorized)
		return
	}
	if len(script) == 0 {
		http.Error(w, "no such endpoint", http.StatusNotFound)
		return
	}
	a := script[min(n, len(script))-1]
	if r.Method == http.MethodPost {
		// Only now, with the signature checked, is the body read as JSON.
		var dep struct {
			JobID string `json:"job_id"`
		}
		if err := json.Unmarshal(body, &dep); err != nil {
			http.Error(w, "not JSON: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	io.WriteString(w, strings.ReplaceAll(a.body, "{status_url}", h.srv.URL+"/status/1"))
}

// countLocked counts the requests of method so far; h.mu is held.
func (h *hookReceiver) countLocked(method string) int {
	n := 0
	for _, r := range h.reqs {
		if r.method == method {
			n++
		}
	}
	return n
}

// requests returns what the receiver got so far.
func (h *hookReceiver) requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.reqs...)
}

// verified returns what the receiver got so far, and fails the test if any
// request came with a bad signature.
func (h *hookReceiver) verified(t *testing.T) []hookRequest {
	t.Helper()
	reqs := h.requests()
	for _, r := range reqs {
		if r.badSig != "" {
			t.Errorf("%s %s arrived with a bad signature: %s", r.method, r.path, r.badSig)
		}
	}
	return reqs
}

// hookSign returns the signature headers' values of body at ts.
func hookSign(secret []byte, ts time.Time, body []byte) (stamp, sig string) {
	stamp = strconv.FormatInt(ts.Unix(), 10)
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "v1:%s:", stamp)
	m.Write(body)
	return stamp, "v1=" + hex.EncodeToString(m.Sum(nil))
}

// hookVerify checks the raw body's signature as a receiver does: the
// timestamp within hookWindow of now, then the HMAC, compared in constant
// time.
func hookVerify(secret []byte, header http.Header, body []byte, now time.Time) error {
	stamp := header.Get("X-Chatops-Timestamp")
	sec, err := strconv.ParseInt(stamp, 10, 64)
	if err != nil {
		return fmt.Errorf("X-Chatops-Timestamp %q is not Unix seconds", stamp)
	}
	if skew := now.Sub(time.Unix(sec, 0)).Abs(); skew > hookWindow {
		return fmt.Errorf("X-Chatops-Timestamp %s is %s from now", stamp, skew)
	}
	hexed, ok := strings.CutPrefix(header.Get("X-Chatops-Signature"), "v1=")
	if !ok {
		return errors.New("X-Chatops-Signature does not start with v1=")
	}
	got, err := hex.DecodeString(hexed)
	if err != nil {
		return errors.New("X-Chatops-Signature is not hex")
	}
	_, want := hookSign(secret, time.Unix(sec, 0), body)
	wantMAC, _ := hex.DecodeString(strings.TrimPrefix(want, "v1="))
	if !hmac.Equal(got, wantMAC) {
		return errors.New("X-Chatops-Signature does not match")
	}
	return nil
}

// hookConfig is the config of pipeline web, whose production deploys
// through the webhook at url, and of alice, who logs in as login.
func hookConfig(url, login string) string {
	return `pipelines:
  - name: web
    stages: [staging, production]
    seed: {staging: 1.2.0, production: 1.1.0}
    deploy:
      production:
        http: {url: "` + url + `", secret_env: ` + hookSecretEnv + `, timeout: 1m}
users:
  - name: alice
    login: ` + strconv.Quote(login) + `
`
}

// hookNewRunner is a runner whose chatops.yaml points production at h and
// whose environment holds the secret.
func hookNewRunner(t *testing.T, bin string, h *hookReceiver) *chatopsRunner {
	t.Helper()
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	r := newRunner(t, bin)
	if err := os.WriteFile(filepath.Join(r.work, "chatops.yaml"), []byte(hookConfig(h.url(), me.Username)), 0o644); err != nil {
		t.Fatal(err)
	}
	r.env = append(r.env, hookSecretEnv+"="+hookSecret)
	return r
}

// hookRun runs chatops on the runner's config and fails the test if the
// secret shows in what it printed.
func hookRun(t *testing.T, r *chatopsRunner, args ...string) outcome {
	t.Helper()
	o := r.run(append([]string{"--config", "chatops.yaml"}, args...)...)
	if o.code < 0 {
		t.Fatalf("chatops %s did not run: %s", strings.Join(args, " "), o.stderr)
	}
	for name, out := range map[string]string{"stdout": o.stdout, "stderr": o.stderr} {
		if strings.Contains(out, hookSecret) {
			t.Errorf("chatops %s: the secret is in its %s:\n%s", strings.Join(args, " "), name, out)
		}
	}
	return o
}

// hookMust is hookRun of a command that has to exit 0, its JSON output
// decoded into v.
func hookMust(t *testing.T, r *chatopsRunner, v any, args ...string) {
	t.Helper()
	o := hookRun(t, r, args...)
	if o.code != 0 {
		t.Fatalf("chatops %s: exit %d\n%s%s", strings.Join(args, " "), o.code, o.stdout, o.stderr)
	}
	if err := json.Unmarshal([]byte(o.stdout), v); err != nil {
		t.Fatalf("chatops %s: %v\n%s", strings.Join(args, " "), err, o.stdout)
	}
}

// hookRelease is what info -o json says of a stage's current release.
type hookRelease struct {
	Version string `json:"version"`
	By      string `json:"by"`
	Action  string `json:"action"`
	From    string `json:"from"`
}

// hookProduction returns production's release, as info -o json shows it.
func hookProduction(t *testing.T, r *chatopsRunner) hookRelease {
	t.Helper()
	var info struct {
		Stages []struct {
			Name    string      `json:"name"`
			Version string      `json:"version"`
			Release hookRelease `json:"release"`
		} `json:"stages"`
	}
	hookMust(t, r, &info, "info", "web", "-o", "json")
	for _, s := range info.Stages {
		if s.Name == "production" {
			if s.Version != s.Release.Version {
				t.Errorf("info web: production runs %s but its release is %s", s.Version, s.Release.Version)
			}
			return s.Release
		}
	}
	t.Fatalf("info web -o json has no production: %+v", info)
	return hookRelease{}
}

// hookJobID returns the id of the one job whose command is command.
func hookJobID(t *testing.T, r *chatopsRunner, command string) string {
	t.Helper()
	var jobs []struct {
		ID      string `json:"id"`
		Command string `json:"command"`
	}
	hookMust(t, r, &jobs, "jobs", "-o", "json")
	var ids []string
	for _, j := range jobs {
		if j.Command == command {
			ids = append(ids, j.ID)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("jobs: %d jobs %q, want 1: %v", len(ids), command, ids)
	}
	return ids[0]
}

// hookNoSecretInAudit fails the test if the audit holds the secret.
func hookNoSecretInAudit(t *testing.T, r *chatopsRunner) {
	t.Helper()
	var audit []map[string]any
	hookMust(t, r, &audit, "audit", "-o", "json")
	if len(audit) == 0 {
		t.Fatal("audit -o json is empty")
	}
	b, _ := json.Marshal(audit)
	if strings.Contains(string(b), hookSecret) {
		t.Errorf("the secret is in the audit:\n%s", b)
	}
}

// hookPosts returns the POSTs among reqs, and fails the test if the
// secret itself went over the wire.
func hookPosts(t *testing.T, reqs []hookRequest) []hookRequest {
	t.Helper()
	var posts []hookRequest
	for _, q := range reqs {
		if strings.Contains(string(q.body), hookSecret) || strings.Contains(fmt.Sprint(q.header), hookSecret) {
			t.Errorf("%s %s carries the secret itself", q.method, q.path)
		}
		if q.method == http.MethodPost {
			posts = append(posts, q)
		}
	}
	return posts
}

// hookLines splits output into its lines.
func hookLines(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// hookSameLines fails the test unless got holds exactly the lines want.
func hookSameLines(t *testing.T, what, got string, want []string) {
	t.Helper()
	if g := hookLines(got); !reflect.DeepEqual(g, want) {
		t.Errorf("%s:\n got %q\nwant %q", what, g, want)
	}
}

// TestHTTPDriverCLI runs chatops promote through the http deploy driver to
// a signed-webhook receiver on 127.0.0.1.
func TestHTTPDriverCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds chatops and runs it against a local webhook")
	}
	bin := chatopsBinary(t)
	t.Run("receiver rejects bad signatures", hookTestVerifier)
	t.Run("202 polled to success", func(t *testing.T) { hookTestPolled(t, bin) })
	t.Run("400 not retried", func(t *testing.T) { hookTestRefused(t, bin) })
	t.Run("503 retried with one key", func(t *testing.T) { hookTestRetried(t, bin) })
	t.Run("secret stays out", func(t *testing.T) { hookTestSecret(t, bin) })
}

// hookTestVerifier proves the receiver's verifier can fail: a request
// signed, then changed, is refused, as are another key's signature and a
// stale or missing timestamp, while the same request intact is accepted.
func hookTestVerifier(t *testing.T) {
	h := hookNewReceiver(t, hookSecret, []hookAnswer{{status: http.StatusOK, body: `{}`}}, nil)
	body := []byte(`{"action":"promote","pipeline":"web","from":"staging","stage":"production","version":"1.2.0","commit":"","actor":"alice","job_id":"J1"}`)
	now := time.Now()
	cases := []struct {
		name     string
		secret   string
		at       time.Time
		sent     []byte
		unsigned bool
		want     int
	}{
		{name: "intact", secret: hookSecret, at: now, sent: body, want: http.StatusOK},
		{name: "altered body", secret: hookSecret, at: now, sent: bytes.Replace(body, []byte("1.2.0"), []byte("9.9.9"), 1), want: http.StatusUnauthorized},
		{name: "other secret", secret: hookSecret + "x", at: now, sent: body, want: http.StatusUnauthorized},
		{name: "stale timestamp", secret: hookSecret, at: now.Add(-hookWindow - time.Minute), sent: body, want: http.StatusUnauthorized},
		{name: "future timestamp", secret: hookSecret, at: now.Add(hookWindow + time.Minute), sent: body, want: http.StatusUnauthorized},
		{name: "unsigned", sent: body, unsigned: true, want: http.StatusUnauthorized},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, h.url(), bytes.NewReader(c.sent))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			if !c.unsigned {
				stamp, sig := hookSign([]byte(c.secret), c.at, body)
				req.Header.Set("X-Chatops-Timestamp", stamp)
				req.Header.Set("X-Chatops-Signature", sig)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Errorf("answered %d, want %d", resp.StatusCode, c.want)
			}
			reqs := h.requests()
			if len(reqs) != i+1 {
				t.Fatalf("the receiver got %d requests, want %d", len(reqs), i+1)
			}
			if bad := reqs[i].badSig != ""; bad != (c.want == http.StatusUnauthorized) {
				t.Errorf("the receiver's verdict: bad signature %v (%q), want %v", bad, reqs[i].badSig, !bad)
			}
		})
	}
}

// hookTestPolled: a promotion answered 202 is followed at its status_url,
// pending then success, its log shown as progress, and recorded.
func hookTestPolled(t *testing.T, bin string) {
	h := hookNewReceiver(t, hookSecret,
		[]hookAnswer{{status: http.StatusAccepted, body: `{"status_url": "{status_url}"}`}},
		[]hookAnswer{
			{status: http.StatusOK, body: `{"state": "pending", "log": ["pulling image web:1.3.0", "rolling out 1 of 3"]}`},
			{status: http.StatusOK, body: `{"state": "success", "log": ["pulling image web:1.3.0", "rolling out 1 of 3", "rolled out 3 of 3"]}`},
		})
	r := hookNewRunner(t, bin, h)
	o := hookRun(t, r, "release", "web", "1.3.0", "--commit", "4f2a9c1")
	if o.code != 0 {
		t.Fatalf("release: exit %d\n%s%s", o.code, o.stdout, o.stderr)
	}
	hookSameLines(t, "release: stdout", o.stdout, []string{"Released web 1.3.0 into staging."})
	if n := len(h.requests()); n != 0 {
		t.Fatalf("a release into staging, which has no driver, sent %d requests", n)
	}

	o = hookRun(t, r, "promote", "web", "--yes")
	if o.code != 0 {
		t.Fatalf("promote: exit %d\n%s%s", o.code, o.stdout, o.stderr)
	}
	hookSameLines(t, "promote: stdout", o.stdout, []string{"Promoted web 1.3.0 from staging to production."})
	hookSameLines(t, "promote: stderr", o.stderr, []string{
		"production: promote web 1.3.0",
		"production: accepted by " + h.url() + "; following " + h.srv.URL + "/status/1",
		"production: pulling image web:1.3.0",
		"production: rolling out 1 of 3",
		"production: rolled out 3 of 3",
	})

	reqs := h.verified(t)
	var got []string
	for _, q := range reqs {
		got = append(got, q.method+" "+q.path)
	}
	if want := []string{"POST /deploy", "GET /status/1", "GET /status/1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("the receiver got %q, want %q", got, want)
	}
	posts := hookPosts(t, reqs)
	job := hookJobID(t, r, "promote web")
	var dep map[string]any
	if err := json.Unmarshal(posts[0].body, &dep); err != nil {
		t.Fatalf("the POST's body: %v\n%s", err, posts[0].body)
	}
	want := map[string]any{
		"action": "promote", "pipeline": "web", "from": "staging", "stage": "production",
		"version": "1.3.0", "commit": "4f2a9c1", "actor": "alice", "job_id": job,
		"previous": "1.1.0",
	}
	if !reflect.DeepEqual(dep, want) {
		t.Errorf("the POST's body:\n got %v\nwant %v", dep, want)
	}
	for k, v := range map[string]string{"Idempotency-Key": job, "Content-Type": "application/json", "Accept": "application/json"} {
		if g := posts[0].header.Get(k); g != v {
			t.Errorf("the POST's %s is %q, want %q", k, g, v)
		}
	}
	for _, q := range reqs[1:] {
		if len(q.body) != 0 {
			t.Errorf("a poll of the status_url has a body: %q", q.body)
		}
	}
	if got, want := hookProduction(t, r), (hookRelease{Version: "1.3.0", By: "alice", Action: "promote", From: "staging"}); got != want {
		t.Errorf("info web: production's release is %+v, want %+v", got, want)
	}
	hookNoSecretInAudit(t, r)
}

// hookTestRefused: a 400 is the receiver's answer, not a passing failure:
// one POST, the command fails with the receiver's message, and the ledger
// stays as it was.
func hookTestRefused(t *testing.T, bin string) {
	h := hookNewReceiver(t, hookSecret,
		[]hookAnswer{{status: http.StatusBadRequest, body: `{"message": "web is frozen until the release train leaves"}`}}, nil)
	r := hookNewRunner(t, bin, h)
	o := hookRun(t, r, "promote", "web", "--yes")
	if o.code != terminal.ExitFailed {
		t.Errorf("promote: exit %d, want %d\n%s%s", o.code, terminal.ExitFailed, o.stdout, o.stderr)
	}
	if o.stdout != "" {
		t.Errorf("promote: stdout %q, want none", o.stdout)
	}
	hookSameLines(t, "promote: stderr", o.stderr, []string{
		"production: promote web 1.2.0",
		"error: promote web 1.2.0 to production failed: http driver: " + h.url() + " answered 400 Bad Request: web is frozen until the release train leaves. The ledger is unchanged.",
	})
	reqs := h.verified(t)
	if posts := hookPosts(t, reqs); len(posts) != 1 || len(reqs) != 1 {
		t.Errorf("the receiver got %d requests, %d of them POSTs; want exactly 1 POST", len(reqs), len(posts))
	}
	if got, want := hookProduction(t, r), (hookRelease{Version: "1.1.0", By: "config", Action: "seed"}); got != want {
		t.Errorf("info web: production's release is %+v, want %+v", got, want)
	}
	hookNoSecretInAudit(t, r)
}

// hookTestRetried: a 503 is retried at once, as its Retry-After asks, with
// the same Idempotency-Key and body, and the 200 after it completes the
// promotion.
func hookTestRetried(t *testing.T, bin string) {
	h := hookNewReceiver(t, hookSecret, []hookAnswer{
		{status: http.StatusServiceUnavailable, header: map[string]string{"Retry-After": "0"}, body: `{"message": "the deployer is restarting"}`},
		{status: http.StatusOK, body: `{"message": "deployed web 1.2.0", "url": "https://ci.example.com/runs/7"}`},
	}, nil)
	r := hookNewRunner(t, bin, h)
	o := hookRun(t, r, "promote", "web", "--yes")
	if o.code != 0 {
		t.Fatalf("promote: exit %d\n%s%s", o.code, o.stdout, o.stderr)
	}
	hookSameLines(t, "promote: stdout", o.stdout, []string{"Promoted web 1.2.0 from staging to production."})
	hookSameLines(t, "promote: stderr", o.stderr, []string{"production: promote web 1.2.0"})
	reqs := h.verified(t)
	posts := hookPosts(t, reqs)
	if len(posts) != 2 || len(reqs) != 2 {
		t.Fatalf("the receiver got %d requests, %d of them POSTs; want exactly 2 POSTs", len(reqs), len(posts))
	}
	job := hookJobID(t, r, "promote web")
	for i, q := range posts {
		if k := q.header.Get("Idempotency-Key"); k != job {
			t.Errorf("POST %d: Idempotency-Key %q, want the job id %q", i+1, k, job)
		}
		var dep struct {
			JobID string `json:"job_id"`
		}
		if err := json.Unmarshal(q.body, &dep); err != nil || dep.JobID != job {
			t.Errorf("POST %d: job_id %q (%v), want %q", i+1, dep.JobID, err, job)
		}
	}
	if !bytes.Equal(posts[0].body, posts[1].body) {
		t.Errorf("the retried POST's body differs:\n%s\n%s", posts[0].body, posts[1].body)
	}
	if got, want := hookProduction(t, r), (hookRelease{Version: "1.2.0", By: "alice", Action: "promote", From: "staging"}); got != want {
		t.Errorf("info web: production's release is %+v, want %+v", got, want)
	}
	hookNoSecretInAudit(t, r)
}

// hookTestSecret: a receiver that verifies with another key answers 401;
// the error names the variable to fix, and the secret itself shows
// nowhere: not in the output, the audit, or on the wire.
func hookTestSecret(t *testing.T, bin string) {
	h := hookNewReceiver(t, "hook-secret-rotated-on-the-ci-side",
		[]hookAnswer{{status: http.StatusOK, body: `{}`}}, nil)
	r := hookNewRunner(t, bin, h)
	o := hookRun(t, r, "promote", "web", "--yes")
	if o.code != terminal.ExitFailed {
		t.Errorf("promote: exit %d, want %d\n%s%s", o.code, terminal.ExitFailed, o.stdout, o.stderr)
	}
	hookSameLines(t, "promote: stderr", o.stderr, []string{
		"production: promote web 1.2.0",
		"error: promote web 1.2.0 to production failed: http driver: " + h.url() + " answered 401 Unauthorized: X-Chatops-Signature does not match (is $" + hookSecretEnv + " the secret the receiver verifies with?). The ledger is unchanged.",
	})
	reqs := h.requests()
	if len(reqs) != 1 || reqs[0].badSig == "" {
		t.Errorf("the receiver got %d requests (%+v), want 1 with a bad signature", len(reqs), reqs)
	}
	hookPosts(t, reqs)
	for _, args := range [][]string{{"audit"}, {"jobs"}, {"info", "web"}, {"config", "check"}} {
		if o := hookRun(t, r, args...); o.code != 0 {
			t.Errorf("chatops %s: exit %d\n%s%s", strings.Join(args, " "), o.code, o.stdout, o.stderr)
		}
	}
	hookNoSecretInAudit(t, r)
}
