package github_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatops/chatops/adapters/github"
	"github.com/chatops/chatops/engine"
)

// clock is an After that fires at once and records the waits asked of it.
type clock struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (c *clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- time.Time{}
	return ch
}

// backoffs records what DefaultBackoff would wait and waits nothing, so
// that retries pass without sleeping.
type backoffs struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (b *backoffs) Backoff(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.waits = append(b.waits, github.DefaultBackoff(min, max, attempt, resp))
	return 0
}

// syncBuffer is a log sink safe for the client's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func pipeline() *engine.PipelineConfig {
	return &engine.PipelineConfig{
		Name:   "shop",
		Stages: []string{"staging", "production"},
		Repo:   "acme/shop",
		Deploy: map[string]engine.DeployConfig{
			"production": {GitHub: &engine.GitHubConfig{Environment: "production"}},
		},
	}
}

func promotion() *engine.Deployment {
	return &engine.Deployment{
		Action: "promote", Pipeline: "shop", From: "staging", Stage: "production",
		Version: "v1.4.2", Commit: "a84d88e", Actor: "alice", JobID: "job-123",
	}
}

// harness is a driver wired to a fake, with its clock, backoffs and log.
type harness struct {
	d        *github.Driver
	clock    *clock
	backoffs *backoffs
	log      *syncBuffer
}

func newHarness(t *testing.T, f *fakeGitHub) *harness {
	t.Helper()
	env := map[string]string{"GITHUB_TOKEN": token, "CHATOPS_GITHUB_API_URL": f.url()}
	d, err := github.New(pipeline(), "production", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{d: d, clock: &clock{}, backoffs: &backoffs{}, log: &syncBuffer{}}
	d.After = h.clock.After
	d.Backoff = h.backoffs.Backoff
	d.Logger = slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return h
}

// deploy runs one deployment, returning the progress lines too.
func (h *harness) deploy(ctx context.Context, dep *engine.Deployment) (*engine.Deployed, []string, error) {
	var lines []string
	out, err := h.d.Deploy(ctx, dep, func(l string) { lines = append(lines, l) })
	return out, lines, err
}

func TestDeploySucceeds(t *testing.T) {
	f := newFake(t, "pending|Waiting for a runner", "in_progress|Deploying v1.4.2", "success|Deployed")
	f.links = true
	h := newHarness(t, f)

	out, lines, err := h.deploy(context.Background(), promotion())
	if err != nil {
		t.Fatalf("Deploy: %v", err)
	}
	want := &engine.Deployed{
		Ref:     "1",
		URL:     "https://shop.example.com",
		Message: "GitHub deployment 1 of a84d88e to production: success: Deployed",
	}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("Deployed = %+v, want %+v", out, want)
	}
	wantLines := []string{
		"created GitHub deployment 1 of a84d88e to production",
		"pending: Waiting for a runner https://ci.example.com/runs/42 https://shop.example.com",
		"in_progress: Deploying v1.4.2 https://ci.example.com/runs/42 https://shop.example.com",
		"success: Deployed https://ci.example.com/runs/42 https://shop.example.com",
	}
	if !reflect.DeepEqual(lines, wantLines) {
		t.Errorf("progress:\n%q\nwant\n%q", lines, wantLines)
	}
	wantCalls := []string{
		"GET /repos/acme/shop/deployments",
		"POST /repos/acme/shop/deployments",
		"GET /repos/acme/shop/deployments/1/statuses",
		"GET /repos/acme/shop/deployments/1/statuses",
		"GET /repos/acme/shop/deployments/1/statuses",
	}
	if got := f.calls(); !reflect.DeepEqual(got, wantCalls) {
		t.Errorf("calls:\n%q\nwant\n%q", got, wantCalls)
	}
	if got, want := f.requests[0].Query, "environment=production&per_page=20&ref=a84d88e&task=deploy"; got != want {
		t.Errorf("lookup query = %q, want %q", got, want)
	}
	body := f.posted()[0]
	for k, v := range map[string]any{
		"ref": "a84d88e", "environment": "production", "task": "deploy", "auto_merge": false,
		"description": "promote shop v1.4.2 to production by alice",
	} {
		if body[k] != v {
			t.Errorf("POST body %s = %#v, want %#v", k, body[k], v)
		}
	}
	if _, ok := body["required_contexts"]; ok {
		t.Errorf("POST body has required_contexts %v; only a forced change sends it", body["required_contexts"])
	}
	payload, _ := body["payload"].(map[string]any)
	for k, v := range map[string]any{"job_id": "job-123", "action": "promote", "from": "staging", "version": "v1.4.2", "actor": "alice"} {
		if payload[k] != v {
			t.Errorf("payload %s = %#v, want %#v", k, payload[k], v)
		}
	}
	if want := []time.Duration{2 * time.Second, 2 * time.Second}; !reflect.DeepEqual(h.clock.waits, want) {
		t.Errorf("poll waits = %v, want %v", h.clock.waits, want)
	}
}

func TestDeployRef(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*engine.Deployment)
		want string
		desc string
	}{
		{"commit first", func(d *engine.Deployment) { d.Branch = "main" }, "a84d88e", "promote shop v1.4.2 to production by alice"},
		{"else branch", func(d *engine.Deployment) {
			d.Action, d.Commit, d.Version, d.Branch = "deploy", "", "", "feature/x"
		}, "feature/x", "deploy shop feature/x to production by alice"},
		{"else version as tag", func(d *engine.Deployment) { d.Commit = "" }, "v1.4.2", "promote shop v1.4.2 to production by alice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, "success")
			h := newHarness(t, f)
			dep := promotion()
			tc.edit(dep)
			if _, _, err := h.deploy(context.Background(), dep); err != nil {
				t.Fatal(err)
			}
			if got := f.posted()[0]["ref"]; got != tc.want {
				t.Errorf("ref = %v, want %s", got, tc.want)
			}
			if got := f.posted()[0]["description"]; got != tc.desc {
				t.Errorf("description = %v, want %s", got, tc.desc)
			}
		})
	}
}

func TestForceSkipsRequiredChecks(t *testing.T) {
	f := newFake(t, "success")
	h := newHarness(t, f)
	dep := promotion()
	dep.Force = true
	if _, _, err := h.deploy(context.Background(), dep); err != nil {
		t.Fatal(err)
	}
	got, ok := f.posted()[0]["required_contexts"]
	if list, isList := got.([]any); !ok || !isList || len(list) != 0 {
		t.Errorf("required_contexts = %#v (sent %v), want []", got, ok)
	}
}

func TestDeployFails(t *testing.T) {
	f := newFake(t, "pending", "in_progress|Running migrations", "failure|Health check failed on web.1")
	h := newHarness(t, f)
	_, lines, err := h.deploy(context.Background(), promotion())
	var de *engine.DriverError
	if !errors.As(err, &de) {
		t.Fatalf("err = %v (%T), want *engine.DriverError", err, err)
	}
	if want := "deployment 1 of a84d88e to production ended in failure: Health check failed on web.1"; de.Msg != want {
		t.Errorf("Msg = %q, want %q", de.Msg, want)
	}
	if de.Driver != "github" {
		t.Errorf("Driver = %q", de.Driver)
	}
	if !reflect.DeepEqual(de.Log, lines) {
		t.Errorf("Log = %q, want the progress lines %q", de.Log, lines)
	}
	if engine.ErrorCode(err) == engine.Conflict {
		t.Error("a failed deployment is no conflict")
	}
}

func TestDeployFinalStates(t *testing.T) {
	for _, tc := range []struct {
		state string
		ok    bool
	}{
		{"success", true}, {"failure", false}, {"error", false}, {"inactive", false},
	} {
		t.Run(tc.state, func(t *testing.T) {
			f := newFake(t, "queued", tc.state+"|done")
			h := newHarness(t, f)
			_, _, err := h.deploy(context.Background(), promotion())
			if (err == nil) != tc.ok {
				t.Errorf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	checks := `{"message":"Conflict: Commit status checks failed for a84d88e.","errors":[{"contexts":[{"context":"ci/build","state":"success"},{"context":"security/scan","state":"failure"}],"resource":"Deployment","field":"required_contexts","code":"invalid"}],"documentation_url":"https://docs.github.com/rest/deployments/deployments#create-a-deployment"}`
	for _, tc := range []struct {
		name  string
		reply reply
		force bool
		code  engine.Code // "" for a *engine.DriverError
		msg   string
	}{
		{
			name:  "409 failing checks",
			reply: reply{code: 409, body: checks},
			code:  engine.Conflict,
			msg:   `GitHub refused to deploy a84d88e to production: Conflict: Commit status checks failed for a84d88e. (failing: security/scan (failure)); "promote!" forces it past failing checks, if you may`,
		},
		{
			name:  "409 merge conflict forced",
			reply: reply{code: 409, body: `{"message":"Conflict merging main into a84d88e."}`},
			force: true,
			code:  engine.Conflict,
			msg:   `GitHub refused to deploy a84d88e to production: Conflict merging main into a84d88e.`,
		},
		{
			name:  "202 auto-merged",
			reply: reply{code: 202, body: `{"message":"Auto-merged main into a84d88e on deployment."}`},
			code:  engine.Conflict,
			msg:   `GitHub did not deploy a84d88e to production: Auto-merged main into a84d88e on deployment.`,
		},
		{
			name:  "422 no such ref",
			reply: reply{code: 422, body: `{"message":"No ref found for: a84d88e","documentation_url":"https://docs.github.com/rest"}`},
			msg:   `creating the deployment in acme/shop: GitHub answered 422 Unprocessable Entity: No ref found for: a84d88e`,
		},
		{
			name:  "401 bad token",
			reply: reply{code: 401, body: `{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}`},
			msg:   `creating the deployment in acme/shop: GitHub answered 401 Unauthorized: Bad credentials; check the token in $GITHUB_TOKEN`,
		},
		{
			name:  "403 no access",
			reply: reply{code: 403, body: `{"message":"Resource not accessible by integration"}`},
			msg:   `creating the deployment in acme/shop: GitHub answered 403 Forbidden: Resource not accessible by integration; check that the repository exists and that the token in $GITHUB_TOKEN may write its deployments`,
		},
		{
			name:  "404",
			reply: reply{code: 404, body: `{"message":"Not Found"}`},
			msg:   `creating the deployment in acme/shop: GitHub answered 404 Not Found: Not Found; check that the repository exists and that the token in $GITHUB_TOKEN may write its deployments`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.posts = []reply{tc.reply}
			h := newHarness(t, f)
			dep := promotion()
			dep.Force = tc.force
			_, _, err := h.deploy(context.Background(), dep)
			if err == nil {
				t.Fatal("Deploy succeeded")
			}
			if tc.code != "" {
				if got := engine.ErrorCode(err); got != tc.code {
					t.Errorf("code = %q, want %q (%v)", got, tc.code, err)
				}
				if got := engine.ErrorMessage(err); got != tc.msg {
					t.Errorf("message:\n%s\nwant\n%s", got, tc.msg)
				}
			} else {
				var de *engine.DriverError
				if !errors.As(err, &de) {
					t.Fatalf("err = %v (%T), want *engine.DriverError", err, err)
				}
				if de.Msg != tc.msg {
					t.Errorf("Msg:\n%s\nwant\n%s", de.Msg, tc.msg)
				}
			}
			if n := len(f.posted()); n != 1 {
				t.Errorf("%d POSTs, want 1: a refusal is not retried", n)
			}
			if len(h.backoffs.waits) != 0 {
				t.Errorf("backoffs %v, want none", h.backoffs.waits)
			}
		})
	}
}

func TestRetries(t *testing.T) {
	for _, tc := range []struct {
		name               string
		posts, lists, poll []reply
		wantPosts          int
		wantWaits          []time.Duration
		wantFirstLine      string
	}{
		{
			name:          "503 then created",
			posts:         []reply{{code: 503, body: `{"message":"Service Unavailable"}`, header: map[string]string{"Retry-After": "3"}}},
			wantPosts:     2,
			wantWaits:     []time.Duration{3 * time.Second},
			wantFirstLine: "created GitHub deployment 1 of a84d88e to production",
		},
		{
			name:          "429 with Retry-After",
			posts:         []reply{{code: 429, body: `{"message":"API rate limit exceeded"}`, header: map[string]string{"Retry-After": "7"}}},
			wantPosts:     2,
			wantWaits:     []time.Duration{7 * time.Second},
			wantFirstLine: "created GitHub deployment 1 of a84d88e to production",
		},
		{
			name: "403 secondary rate limit",
			posts: []reply{{code: 403, body: `{"message":"You have exceeded a secondary rate limit."}`,
				header: map[string]string{"Retry-After": "5", "X-Ratelimit-Remaining": "0"}}},
			wantPosts:     2,
			wantWaits:     []time.Duration{5 * time.Second},
			wantFirstLine: "created GitHub deployment 1 of a84d88e to production",
		},
		{
			name:          "502 after creating",
			posts:         []reply{{code: 502, body: `<html>Bad Gateway</html>`, create: true}},
			wantPosts:     1,
			wantFirstLine: "created GitHub deployment 1 of a84d88e to production (found after a failed answer)",
		},
		{
			name:          "statuses 500 once",
			poll:          []reply{{code: 500, body: `{"message":"Server Error"}`}},
			wantPosts:     1,
			wantFirstLine: "created GitHub deployment 1 of a84d88e to production",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, "in_progress", "success")
			f.posts, f.lists, f.polls = tc.posts, tc.lists, tc.poll
			h := newHarness(t, f)
			out, lines, err := h.deploy(context.Background(), promotion())
			if err != nil {
				t.Fatalf("Deploy: %v", err)
			}
			if out.Ref != "1" {
				t.Errorf("Ref = %q, want 1", out.Ref)
			}
			if n := f.created(); n != 1 {
				t.Errorf("%d deployments created, want exactly 1", n)
			}
			if n := len(f.posted()); n != tc.wantPosts {
				t.Errorf("%d POSTs, want %d", n, tc.wantPosts)
			}
			// Retry-After counts on 429, 503 and rate limits; other
			// answers back off exponentially from RetryWaitMin (1s).
			if w := h.backoffs.waits; len(w) != 1 ||
				(tc.wantWaits != nil && !reflect.DeepEqual(w, tc.wantWaits)) ||
				(tc.wantWaits == nil && (w[0] < time.Second || w[0] > 1500*time.Millisecond)) {
				t.Errorf("backoffs = %v, want %v (or one in [1s, 1.5s])", w, tc.wantWaits)
			}
			if len(lines) == 0 || lines[0] != tc.wantFirstLine {
				t.Errorf("progress = %q, want first %q", lines, tc.wantFirstLine)
			}
		})
	}
}

func TestRetriedJobFollowsItsDeployment(t *testing.T) {
	f := newFake(t, "success|Deployed")
	h := newHarness(t, f)
	if _, _, err := h.deploy(context.Background(), promotion()); err != nil {
		t.Fatal(err)
	}
	f.nPolls = 0
	// The same job runs again, as after a crash: it must find deployment 1.
	out, lines, err := h.deploy(context.Background(), promotion())
	if err != nil {
		t.Fatal(err)
	}
	if n := f.created(); n != 1 || out.Ref != "1" {
		t.Errorf("%d deployments, Ref %q; want 1 and \"1\"", n, out.Ref)
	}
	if want := "following GitHub deployment 1 of a84d88e to production, created earlier for job job-123"; lines[0] != want {
		t.Errorf("first line %q, want %q", lines[0], want)
	}
	// Another job of the same ref creates its own.
	other := promotion()
	other.JobID = "job-456"
	if out, _, err = h.deploy(context.Background(), other); err != nil || out.Ref != "2" {
		t.Errorf("other job: %v, %+v; want deployment 2", err, out)
	}
}

func TestPersistentOutage(t *testing.T) {
	f := newFake(t)
	for range 4 {
		f.posts = append(f.posts, reply{code: 503, body: `{"message":"Service Unavailable"}`})
	}
	h := newHarness(t, f)
	h.d.RetryMax = 3
	_, _, err := h.deploy(context.Background(), promotion())
	var de *engine.DriverError
	if !errors.As(err, &de) {
		t.Fatalf("err = %v, want *engine.DriverError", err)
	}
	if want := "creating the deployment in acme/shop: GitHub answered 503 Service Unavailable: Service Unavailable (after retries)"; de.Msg != want {
		t.Errorf("Msg = %q, want %q", de.Msg, want)
	}
	if n := len(f.posted()); n != 4 {
		t.Errorf("%d POSTs, want 4 (3 retries)", n)
	}
	// One lookup before the first POST, and one before each retry.
	if n := strings.Count(strings.Join(f.calls(), "\n"), "GET /repos/acme/shop/deployments\n"); n != 4 {
		t.Errorf("%d lookups, want 4: %q", n, f.calls())
	}
}

func TestSecretsStayOut(t *testing.T) {
	for _, tc := range []struct {
		name string
		prep func(*fakeGitHub, *harness)
	}{
		{"401 echoing the token", func(f *fakeGitHub, _ *harness) {
			f.posts = []reply{{code: 401, body: `{"message":"Bad credentials: Bearer ` + token + `"}`}}
		}},
		{"5xx to the end", func(f *fakeGitHub, h *harness) {
			h.d.RetryMax = 2
			for range 3 {
				f.posts = append(f.posts, reply{code: 500, body: `{"message":"boom"}`})
			}
		}},
		{"failure status echoing the token", func(f *fakeGitHub, _ *harness) {
			f.states = []string{"failure|bad token " + token}
		}},
		{"connection refused", func(f *fakeGitHub, h *harness) {
			h.d.RetryMax = 1
			f.srv.Close()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, "success")
			h := newHarness(t, f)
			tc.prep(f, h)
			_, lines, err := h.deploy(context.Background(), promotion())
			if err == nil {
				t.Fatal("Deploy succeeded")
			}
			var de *engine.DriverError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v, want *engine.DriverError", err)
			}
			t.Log(err)
			if tc.name == "connection refused" && de.Unknown {
				t.Error("a refused connection started nothing, but the outcome is Unknown")
			}
			if !strings.Contains(h.log.String(), "performing request") {
				t.Errorf("the client logged nothing; the check would prove nothing:\n%s", h.log.String())
			}
			for what, text := range map[string]string{
				"error":    err.Error() + engine.ErrorMessage(err),
				"log":      h.log.String(),
				"progress": strings.Join(lines, "\n"),
				"tail":     strings.Join(de.Log, "\n"),
			} {
				if strings.Contains(text, token) {
					t.Errorf("%s holds the token: %s", what, text)
				}
			}
		})
	}
}

func TestCancel(t *testing.T) {
	for _, tc := range []struct {
		name string
		prep func(*fakeGitHub, *harness, chan<- struct{})
	}{
		{"while polling", func(f *fakeGitHub, h *harness, waiting chan<- struct{}) {
			h.d.After = func(time.Duration) <-chan time.Time { waiting <- struct{}{}; return nil }
		}},
		{"while backing off", func(f *fakeGitHub, h *harness, waiting chan<- struct{}) {
			f.posts = []reply{{code: 503, body: `{}`}}
			h.d.Backoff = func(time.Duration, time.Duration, int, *http.Response) time.Duration {
				waiting <- struct{}{}
				return time.Hour
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, "in_progress|Deploying")
			h := newHarness(t, f)
			waiting := make(chan struct{}, 1)
			tc.prep(f, h, waiting)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, _, err := h.deploy(ctx, promotion())
				done <- err
			}()
			<-waiting
			cancel()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second): // a hang guard, not a timing assertion
				t.Fatal("Deploy did not return after cancel")
			}
			if !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want context.Canceled in its chain", err)
			}
			var de *engine.DriverError
			if !errors.As(err, &de) || !strings.HasPrefix(de.Msg, "canceled; ") {
				t.Errorf("err = %#v, want a DriverError saying canceled", err)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	f := newFake(t, "in_progress|Deploying")
	h := newHarness(t, f)
	h.d.Timeout = 50 * time.Millisecond
	h.d.After = func(time.Duration) <-chan time.Time { return nil } // never: only the deadline ends it
	_, _, err := h.deploy(context.Background(), promotion())
	var de *engine.DriverError
	if !errors.As(err, &de) {
		t.Fatalf("err = %v, want *engine.DriverError", err)
	}
	if want := "timed out after 50ms; GitHub deployment 1 was in_progress: Deploying"; de.Msg != want {
		t.Errorf("Msg = %q, want %q", de.Msg, want)
	}
	if !de.Unknown {
		t.Error("a deadline while the deployment was in progress is not Unknown")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want DeadlineExceeded in its chain", err)
	}
}

func TestInvalidChanges(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*engine.Deployment)
		msg  string
	}{
		{"unknown action", func(d *engine.Deployment) { d.Action = "destroy" },
			"the github driver cannot destroy: it releases, deploys, promotes and rolls back"},
		{"nothing to deploy", func(d *engine.Deployment) { d.Commit, d.Version = "", "" },
			"the github driver needs a commit, a branch or a version to promote shop to production"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			h := newHarness(t, f)
			dep := promotion()
			tc.edit(dep)
			_, _, err := h.deploy(context.Background(), dep)
			if engine.ErrorCode(err) != engine.Invalid || engine.ErrorMessage(err) != tc.msg {
				t.Errorf("err = %v (%s), want invalid %q", err, engine.ErrorCode(err), tc.msg)
			}
			if calls := f.calls(); len(calls) != 0 {
				t.Errorf("calls %q, want none", calls)
			}
		})
	}
}

func TestDriverLiteral(t *testing.T) {
	f := newFake(t, "success")
	d := &github.Driver{Repo: "acme/shop", BaseURL: f.url() + "/", Token: token, After: (&clock{}).After}
	out, err := d.Deploy(context.Background(), promotion(), nil)
	if err != nil || out.Ref != "1" {
		t.Fatalf("Deploy = %+v, %v", out, err)
	}
	if got := f.posted()[0]["environment"]; got != "production" {
		t.Errorf("environment = %v, want the stage", got)
	}
}
