package webhook_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatops/chatops/adapters/webhook"
	"github.com/chatops/chatops/engine"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

var _ engine.Events = (*recorder)(nil)

// recorder is an engine.Events that keeps what is published.
type recorder struct {
	mu        sync.Mutex
	published []engine.Event
	// err, when set, is what Publish returns.
	err error
}

func (r *recorder) Publish(_ context.Context, ev *engine.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.published = append(r.published, *ev)
	return nil
}

func (r *recorder) Follow(context.Context, string, func(*engine.Event)) error {
	return errors.New("unused")
}

func (r *recorder) Consume(context.Context, string, func(context.Context, *engine.Event) error) error {
	return errors.New("unused")
}

func (r *recorder) events() []engine.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]engine.Event(nil), r.published...)
}

const testConfig = `
pipelines:
  - name: hello
    stages: [development, staging, production]
    repo: Codertocat/Hello-World
  - name: api
    stages: [staging, production]
    repo: octo-org/octo-repo
  - name: worker
    stages: [production]
    repo: octo-org/octo-repo
`

var (
	githubSecret  = []byte("It's a Secret to Everybody")
	genericSecret = []byte("shhh-webhook-key")
	now           = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

// fixture is a test's receiver, behind a server on 127.0.0.1.
type fixture struct {
	url    string
	events *recorder
	logs   *bytes.Buffer
	rcv    *webhook.Receiver
}

// newFixture serves a Receiver of testConfig; edit, when set, changes it
// before it serves.
func newFixture(t *testing.T, edit func(*webhook.Receiver)) *fixture {
	t.Helper()
	cfg, err := engine.ParseConfig("chatops.yaml", []byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{events: &recorder{}, logs: &bytes.Buffer{}}
	f.rcv = &webhook.Receiver{
		Config: cfg, Events: f.events, GitHubSecret: githubSecret, Secret: genericSecret,
		Now: func() time.Time { return now }, Log: slog.New(slog.NewTextHandler(f.logs, nil)),
	}
	if edit != nil {
		edit(f.rcv)
	}
	srv := httptest.NewServer(f.rcv.Handler())
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

// answer is what the receiver said.
type answer struct {
	status int
	header http.Header
	body   string
}

func (f *fixture) do(t *testing.T, method, path string, header http.Header, body []byte) answer {
	t.Helper()
	req, err := http.NewRequest(method, f.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	return answer{resp.StatusCode, resp.Header, string(b)}
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "github", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// githubHeader is what GitHub sends with body.
func githubHeader(event, delivery string, secret, body []byte) http.Header {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "GitHub-Hookshot/044aadd")
	h.Set("X-GitHub-Event", event)
	h.Set("X-GitHub-Delivery", delivery)
	h.Set("X-GitHub-Hook-ID", "292430182")
	h.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	return h
}

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("answer differs from %s (go test -update rewrites it)\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

// goldenName turns a test case's name into a file name.
func goldenName(prefix, name string) string {
	return prefix + "-" + strings.NewReplacer(" ", "-", "/", "-", "'", "").Replace(name) + ".txt"
}

func (a answer) String() string {
	return fmt.Sprintf("%d %s\n%s", a.status, http.StatusText(a.status), a.body)
}
