package heroku_test

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

	"github.com/chatops/chatops/adapters/heroku"
	"github.com/chatops/chatops/engine"
)

// now answers a poll's wait at once.
func now(time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	c <- time.Time{}
	return c
}

// never is a poll's wait that does not end.
func never(time.Duration) <-chan time.Time { return nil }

// noWait retries at once.
func noWait(time.Duration, time.Duration, int, *http.Response) time.Duration { return 0 }

// syncBuffer is a log sink safe for the retry client's goroutine.
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

func newDriver(f *fakeHeroku, logs *syncBuffer) *heroku.Driver {
	return &heroku.Driver{
		Pipeline:       "shop",
		HerokuPipeline: pipelineID,
		App:            "web-production",
		Apps:           map[string]string{"staging": "web-staging", "production": "web-production"},
		BaseURL:        f.srv.URL,
		Token:          token,
		TokenEnv:       "HEROKU_API_KEY",
		Backoff:        noWait,
		After:          now,
		Logger:         slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func promotion() *engine.Deployment {
	return &engine.Deployment{
		Action: "promote", Pipeline: "shop", From: "staging", Stage: "production",
		Version: "v1.4.2", Actor: "alice", JobID: "job-7f3a",
	}
}

func rollback(ref string) *engine.Deployment {
	return &engine.Deployment{
		Action: "rollback", Pipeline: "shop", Stage: "production",
		Version: "v1.4.1", Actor: "alice", JobID: "job-8b21", Ref: ref,
	}
}

// collect returns a progress func and the lines it received.
func collect() (func(string), *[]string) {
	var lines []string
	return func(s string) { lines = append(lines, s) }, &lines
}

func TestPromote(t *testing.T) {
	f := newFake(t)
	f.targets = []string{"pending", "pending", "succeeded"}
	var logs syncBuffer
	d := newDriver(f, &logs)
	progress, lines := collect()

	out, err := d.Deploy(context.Background(), promotion(), progress)
	if err != nil {
		t.Fatal(err)
	}
	want := &engine.Deployed{
		Ref:     "dddddddd-0000-4000-8000-000000000042",
		URL:     "https://dashboard.heroku.com/apps/web-production/activity",
		Message: "promoted web-staging to web-production",
	}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("Deployed = %+v, want %+v", out, want)
	}
	wantLines := []string{
		"promoting web-staging to web-production: promotion aaaaaaaa-0000-4000-8000-000000000001 pending",
		"web-production: pending",
		"web-production: succeeded",
	}
	if !reflect.DeepEqual(*lines, wantLines) {
		t.Errorf("progress =\n%q\nwant\n%q", *lines, wantLines)
	}

	var paths []string
	for _, r := range f.got() {
		paths = append(paths, r.Method+" "+r.Path)
	}
	wantPaths := []string{
		"GET /apps/web-staging",
		"GET /apps/web-production",
		"POST /pipeline-promotions",
		"GET /pipeline-promotions/aaaaaaaa-0000-4000-8000-000000000001/promotion-targets",
		"GET /pipeline-promotions/aaaaaaaa-0000-4000-8000-000000000001/promotion-targets",
		"GET /pipeline-promotions/aaaaaaaa-0000-4000-8000-000000000001/promotion-targets",
	}
	if !reflect.DeepEqual(paths, wantPaths) {
		t.Errorf("requests =\n%q\nwant\n%q", paths, wantPaths)
	}
	post := f.got()[2]
	wantBody := map[string]any{
		"pipeline": map[string]any{"id": pipelineID},
		"source":   map[string]any{"app": map[string]any{"id": stagingID}},
		"targets":  []any{map[string]any{"app": map[string]any{"id": prodID}}},
	}
	if !reflect.DeepEqual(post.Body, wantBody) {
		t.Errorf("POST body = %v, want %v", post.Body, wantBody)
	}
	if got := post.Header.Get("Idempotency-Key"); got != "job-7f3a" {
		t.Errorf("Idempotency-Key = %q, want the job id", got)
	}

	t.Run("app ids are cached", func(t *testing.T) {
		if _, err := d.Deploy(context.Background(), promotion(), nil); err != nil {
			t.Fatal(err)
		}
		if n := f.count("GET", "/apps/web-staging"); n != 1 {
			t.Errorf("GET /apps/web-staging %d times, want once", n)
		}
	})
	t.Run("apps given by id need no lookup", func(t *testing.T) {
		f := newFake(t)
		d := newDriver(f, &logs)
		d.App = prodID
		d.Apps["staging"] = stagingID
		if _, err := d.Deploy(context.Background(), promotion(), nil); err != nil {
			t.Fatal(err)
		}
		if got := f.got()[0]; got.Method != "POST" {
			t.Errorf("first request %s %s, want the POST", got.Method, got.Path)
		}
	})
}

func TestPromoteRetries(t *testing.T) {
	tests := []struct {
		name  string
		posts []reply
	}{
		{"503 twice", []reply{
			{code: 503, body: `{"id":"unavailable","message":"Service Unavailable"}`},
			{code: 503, body: `{"id":"unavailable","message":"Service Unavailable"}`},
		}},
		{"503 twice after starting it", []reply{
			{code: 503, body: `{"id":"unavailable","message":"Service Unavailable"}`, create: true},
			{code: 503, body: `{"id":"unavailable","message":"Service Unavailable"}`, create: true},
		}},
		{"429 with Retry-After", []reply{
			{code: 429, header: map[string]string{"Retry-After": "7"}, body: `{"id":"rate_limit","message":"Your account reached the API rate limit"}`},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.posts = tt.posts
			var logs syncBuffer
			d := newDriver(f, &logs)
			var mu sync.Mutex
			var waits []time.Duration
			d.Backoff = func(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
				mu.Lock()
				waits = append(waits, heroku.DefaultBackoff(min, max, attempt, resp))
				mu.Unlock()
				return 0
			}
			if _, err := d.Deploy(context.Background(), promotion(), nil); err != nil {
				t.Fatal(err)
			}
			if n := f.count("POST", "/pipeline-promotions"); n != len(tt.posts)+1 {
				t.Errorf("%d POSTs, want %d", n, len(tt.posts)+1)
			}
			if n := len(f.promotions); n != 1 {
				t.Errorf("%d promotions created, want exactly 1", n)
			}
			for _, r := range f.got() {
				if r.Method == "POST" && r.Header.Get("Idempotency-Key") != "job-7f3a" {
					t.Errorf("a POST carried Idempotency-Key %q, want job-7f3a", r.Header.Get("Idempotency-Key"))
				}
			}
			if tt.posts[0].code == 429 && (len(waits) == 0 || waits[0] != 7*time.Second) {
				t.Errorf("backoff waits %v, want Retry-After's 7s first", waits)
			}
		})
	}
}

func TestPromoteFails(t *testing.T) {
	f := newFake(t)
	f.targets = []string{"pending", "failed|Release phase command failed: rake db:migrate exited 1"}
	var logs syncBuffer
	d := newDriver(f, &logs)
	progress, lines := collect()
	_, err := d.Deploy(context.Background(), promotion(), progress)
	var de *engine.DriverError
	if !errors.As(err, &de) {
		t.Fatalf("err = %v (%T), want *engine.DriverError", err, err)
	}
	if want := "Release phase command failed: rake db:migrate exited 1"; de.Msg != want || de.Driver != "heroku" {
		t.Errorf("DriverError = %s %q, want heroku %q", de.Driver, de.Msg, want)
	}
	if !reflect.DeepEqual(de.Log, *lines) || len(de.Log) != 3 || de.Log[2] != "web-production: failed" {
		t.Errorf("Log = %q, want the progress lines %q", de.Log, *lines)
	}
}

func TestRefusals(t *testing.T) {
	tests := []struct {
		name  string
		reply reply
		msg   string
	}{
		{
			name:  "401",
			reply: reply{code: 401, body: `{"id":"unauthorized","message":"Invalid credentials provided."}`},
			msg:   "heroku driver: Heroku rejected the API token in $HEROKU_API_KEY (401 Unauthorized): Invalid credentials provided.",
		},
		{
			name:  "403",
			reply: reply{code: 403, body: `{"id":"forbidden","message":"You do not have access to the app web-staging."}`},
			msg:   "heroku driver: the API token in $HEROKU_API_KEY may not find app web-staging (403 Forbidden): You do not have access to the app web-staging.",
		},
		{
			name:  "404",
			reply: reply{code: 404, body: `{"id":"not_found","message":"Couldn't find that app."}`},
			msg:   "heroku driver: could not find app web-staging: Heroku answered 404 Not Found: Couldn't find that app.",
		},
		{
			name:  "422",
			reply: reply{code: 422, body: `{"id":"invalid_params","message":"Pipeline promotion source app has no release"}`},
			msg:   "heroku driver: could not find app web-staging: Heroku answered 422 Unprocessable Entity: Pipeline promotion source app has no release",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.all = &tt.reply
			var logs syncBuffer
			_, err := newDriver(f, &logs).Deploy(context.Background(), promotion(), nil)
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != tt.msg {
				t.Errorf("error = %q\nwant    %q", err, tt.msg)
			}
			var de *engine.DriverError
			if !errors.As(err, &de) {
				t.Errorf("err is %T, want *engine.DriverError", err)
			}
			if n := len(f.got()); n != 1 {
				t.Errorf("%d requests, want 1: a %d is not retried", n, tt.reply.code)
			}
		})
	}
	t.Run("409 on the POST is a conflict", func(t *testing.T) {
		f := newFake(t)
		f.posts = []reply{{code: 409, body: `{"id":"conflict","message":"A promotion is already in progress for this pipeline."}`}}
		var logs syncBuffer
		_, err := newDriver(f, &logs).Deploy(context.Background(), promotion(), nil)
		want := "Heroku refused to promote web-staging to web-production (409 Conflict): A promotion is already in progress for this pipeline."
		if engine.ErrorCode(err) != engine.Conflict || err.Error() != want {
			t.Errorf("error = %v (code %q)\nwant conflict %s", err, engine.ErrorCode(err), want)
		}
		if n := f.count("POST", "/pipeline-promotions"); n != 1 {
			t.Errorf("%d POSTs, want 1", n)
		}
	})
	t.Run("422 on the POST", func(t *testing.T) {
		f := newFake(t)
		f.posts = []reply{{code: 422, body: `{"id":"invalid_params","message":"Pipeline promotion source app has no release"}`}}
		var logs syncBuffer
		_, err := newDriver(f, &logs).Deploy(context.Background(), promotion(), nil)
		want := "heroku driver: could not promote web-staging to web-production: Heroku answered 422 Unprocessable Entity: Pipeline promotion source app has no release"
		if err == nil || err.Error() != want {
			t.Errorf("error = %v\nwant    %s", err, want)
		}
		if n := f.count("POST", "/pipeline-promotions"); n != 1 {
			t.Errorf("%d POSTs, want 1", n)
		}
	})
}

func TestRollback(t *testing.T) {
	f := newFake(t)
	f.rels = []string{"pending", "pending", "succeeded"}
	var logs syncBuffer
	d := newDriver(f, &logs)
	progress, lines := collect()
	out, err := d.Deploy(context.Background(), rollback("dddddddd-0000-4000-8000-000000000040"), progress)
	if err != nil {
		t.Fatal(err)
	}
	want := &engine.Deployed{
		Ref:     "ffffffff-0000-4000-8000-000000000001",
		URL:     "https://dashboard.heroku.com/apps/web-production/activity",
		Message: "Rollback to dddddddd-0000-4000-8000-000000000040",
	}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("Deployed = %+v, want %+v", out, want)
	}
	wantLines := []string{
		"web-production: release v43 Rollback to dddddddd-0000-4000-8000-000000000040: pending",
		"web-production: release v43 Rollback to dddddddd-0000-4000-8000-000000000040: succeeded",
	}
	if !reflect.DeepEqual(*lines, wantLines) {
		t.Errorf("progress =\n%q\nwant\n%q", *lines, wantLines)
	}
	reqs := f.got()
	if len(reqs) != 3 || reqs[0].Method != "POST" || reqs[0].Path != "/apps/web-production/releases" ||
		reqs[1].Path != "/apps/web-production/releases/ffffffff-0000-4000-8000-000000000001" {
		t.Fatalf("requests = %+v", reqs)
	}
	if got := reqs[0].Body; !reflect.DeepEqual(got, map[string]any{"release": "dddddddd-0000-4000-8000-000000000040"}) {
		t.Errorf("POST body = %v", got)
	}
	if got := reqs[0].Header.Get("Idempotency-Key"); got != "job-8b21" {
		t.Errorf("Idempotency-Key = %q, want job-8b21", got)
	}

	t.Run("failed", func(t *testing.T) {
		f := newFake(t)
		f.rels = []string{"pending", "failed"}
		_, err := newDriver(f, &logs).Deploy(context.Background(), rollback("40"), nil)
		var de *engine.DriverError
		if !errors.As(err, &de) || de.Msg != "release v43 of web-production (Rollback to 40) failed" {
			t.Errorf("err = %v, want the failed release", err)
		}
	})
}

func TestInvalid(t *testing.T) {
	tests := []struct {
		name string
		dep  *engine.Deployment
		msg  string
	}{
		{"rollback without ref", rollback(""),
			`cannot roll shop production back to v1.4.1 through Heroku: chatops does not know Heroku's release for v1.4.1 (it keeps one only for releases the heroku driver made); roll back with "heroku releases:rollback" instead`},
		{"release", &engine.Deployment{Action: "release", Pipeline: "shop", Stage: "production", Version: "v2"},
			"the heroku driver of shop production promotes and rolls back; release or deploy into production is not supported: promote into it"},
		{"deploy", &engine.Deployment{Action: "deploy", Pipeline: "shop", Stage: "production", Branch: "main"},
			"the heroku driver of shop production promotes and rolls back; release or deploy into production is not supported: promote into it"},
		{"promote from a stage without heroku", &engine.Deployment{Action: "promote", Pipeline: "shop", From: "development", Stage: "production"},
			`cannot promote shop development to production through Heroku: stage "development" has no heroku app (deploy.development.heroku.app)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			var logs syncBuffer
			_, err := newDriver(f, &logs).Deploy(context.Background(), tt.dep, nil)
			if engine.ErrorCode(err) != engine.Invalid {
				t.Fatalf("err = %v (code %q), want invalid", err, engine.ErrorCode(err))
			}
			if err.Error() != tt.msg {
				t.Errorf("error = %q\nwant    %q", err, tt.msg)
			}
			if n := len(f.got()); n != 0 {
				t.Errorf("%d requests, want none", n)
			}
		})
	}
}

func TestSecretsStayOut(t *testing.T) {
	tests := []struct {
		name  string
		reply reply
	}{
		{"401", reply{code: 401, body: `{"id":"unauthorized","message":"Invalid credentials provided."}`}},
		{"500 on every try", reply{code: 500, body: `{"id":"internal","message":"Internal server error."}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.all = &tt.reply
			var logs syncBuffer
			d := newDriver(f, &logs)
			d.RetryMax = 2
			progress, lines := collect()
			_, err := d.Deploy(context.Background(), promotion(), progress)
			if err == nil {
				t.Fatal("no error")
			}
			var de *engine.DriverError
			errors.As(err, &de)
			for what, s := range map[string]string{
				"error": err.Error(), "logs": logs.String(),
				"progress": strings.Join(*lines, "\n"), "log lines": strings.Join(de.Log, "\n"),
			} {
				if strings.Contains(s, token) || strings.Contains(s, "s3cr3t") {
					t.Errorf("the token is in the %s: %s", what, s)
				}
			}
			if logs.String() == "" {
				t.Error("nothing was logged; the test proves nothing")
			}
		})
	}
	t.Run("a message echoing the token", func(t *testing.T) {
		f := newFake(t)
		f.all = &reply{code: 422, body: `{"id":"invalid_params","message":"bad token ` + token + `"}`}
		var logs syncBuffer
		_, err := newDriver(f, &logs).Deploy(context.Background(), promotion(), nil)
		if err == nil || strings.Contains(err.Error(), token) {
			t.Errorf("error = %v, want it without the token", err)
		}
	})
}

func TestCancel(t *testing.T) {
	f := newFake(t)
	f.targets = []string{"pending"}
	var logs syncBuffer
	d := newDriver(f, &logs)
	d.After = never
	ctx, cancel := context.WithCancel(context.Background())
	pending := make(chan struct{})
	progress := func(line string) {
		if line == "web-production: pending" {
			close(pending)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := d.Deploy(ctx, promotion(), progress)
		done <- err
	}()
	<-pending
	cancel()
	err := <-done
	var de *engine.DriverError
	if !errors.As(err, &de) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want a DriverError wrapping context.Canceled", err)
	}
	if want := "canceled; promotion aaaaaaaa-0000-4000-8000-000000000001: web-production was pending"; de.Msg != want {
		t.Errorf("Msg = %q, want %q", de.Msg, want)
	}
}

// TestTimeout lets the deployment's own deadline pass while its target stays
// pending and the poll's wait never ends.
func TestTimeout(t *testing.T) {
	f := newFake(t)
	f.targets = []string{"pending"}
	var logs syncBuffer
	d := newDriver(f, &logs)
	d.After = never
	d.Timeout = time.Second
	_, err := d.Deploy(context.Background(), promotion(), nil)
	var de *engine.DriverError
	if !errors.As(err, &de) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a DriverError wrapping the deadline", err)
	}
	if want := "timed out after 1s; promotion aaaaaaaa-0000-4000-8000-000000000001: web-production was pending"; de.Msg != want {
		t.Errorf("Msg = %q, want %q", de.Msg, want)
	}
	if !de.Unknown {
		t.Error("a deadline while the promotion was pending is not Unknown")
	}
}
