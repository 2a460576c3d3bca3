package webhook_test

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/chatops/chatops/adapters/webhook"
	"github.com/chatops/chatops/engine"
)

const delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958"

func TestGitHubPublishes(t *testing.T) {
	const (
		helloSHA = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
		octoSHA  = "3484a3fb816e0859fd6e1cea078d76385ff50625"
		suiteSHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
	)
	id := func(pipeline string) string { return "github/" + delivery + "/" + pipeline }
	tests := []struct {
		name      string
		event     string
		fixture   string
		versionOf webhook.VersionFunc
		want      []engine.Event
	}{
		{name: "deployment of the default branch", event: "deployment", fixture: "deployment.json", want: []engine.Event{{
			ID: id("hello"), At: now, Pipeline: "hello", Stage: "production", Version: "f95f852", Commit: helloSHA,
			Action: "deployment", State: engine.EventPending, Title: "GitHub deployment", By: "Codertocat", Source: "github",
		}}},
		{name: "deployment of a tag to an alias", event: "deployment", fixture: "deployment-tag.json", want: []engine.Event{{
			ID: id("hello"), At: now, Pipeline: "hello", Stage: "staging", Version: "v1.4.0", Commit: helloSHA,
			Action: "deployment", State: engine.EventPending, Title: "GitHub deployment", Text: "Deploying v1.4.0",
			By: "deploy-bot[bot]", Source: "github",
		}}},
		{name: "deployment status success", event: "deployment_status", fixture: "deployment_status.json", want: []engine.Event{{
			ID: id("hello"), At: now, Pipeline: "hello", Stage: "production", Version: "f95f852", Commit: helloSHA,
			Action: "deployment", State: engine.EventSuccess, Title: "GitHub deployment", By: "Codertocat", Source: "github",
		}}},
		{name: "deployment status error with payload version", event: "deployment_status", fixture: "deployment_status-error.json", want: []engine.Event{{
			ID: id("hello"), At: now, Pipeline: "hello", Stage: "staging", Version: "1.4.1", Commit: helloSHA,
			Action: "deployment", State: engine.EventFailure, Title: "GitHub deployment", Text: "Health check failed after 3 tries",
			URL: "https://github.com/Codertocat/Hello-World/actions/runs/4242/job/77", By: "github-actions[bot]", Source: "github",
		}}},
		{name: "workflow run for two pipelines", event: "workflow_run", fixture: "workflow_run.json", want: []engine.Event{{
			ID: id("api"), At: now, Pipeline: "api", Version: "3484a3f", Commit: octoSHA, Action: "ci", State: engine.EventSuccess,
			Title: "test", URL: "https://github.com/octo-org/octo-repo/actions/runs/289782451", By: "Codertocat", Source: "github",
		}, {
			ID: id("worker"), At: now, Pipeline: "worker", Version: "3484a3f", Commit: octoSHA, Action: "ci", State: engine.EventSuccess,
			Title: "test", URL: "https://github.com/octo-org/octo-repo/actions/runs/289782451", By: "Codertocat", Source: "github",
		}}},
		{name: "workflow run timed out", event: "workflow_run", fixture: "workflow_run-timed_out.json", want: []engine.Event{{
			ID: id("api"), At: now, Pipeline: "api", Version: "3484a3f", Commit: octoSHA, Action: "ci", State: engine.EventFailure,
			Title: "Build and test", Text: "timed out", URL: "https://github.com/octo-org/octo-repo/actions/runs/289782452", By: "octocat", Source: "github",
		}, {
			ID: id("worker"), At: now, Pipeline: "worker", Version: "3484a3f", Commit: octoSHA, Action: "ci", State: engine.EventFailure,
			Title: "Build and test", Text: "timed out", URL: "https://github.com/octo-org/octo-repo/actions/runs/289782452", By: "octocat", Source: "github",
		}}},
		{name: "workflow run with the ledger's version", event: "workflow_run", fixture: "workflow_run.json",
			versionOf: func(_ context.Context, pipeline, commit string) (string, error) {
				switch {
				case commit != octoSHA:
					return "", errors.New("asked for " + commit)
				case pipeline == "api":
					return "2.0.0", nil
				}
				return "", engine.Errorf(engine.NotFound, "no release of %s has commit %s", pipeline, commit)
			},
			want: []engine.Event{{
				ID: id("api"), At: now, Pipeline: "api", Version: "2.0.0", Commit: octoSHA, Action: "ci", State: engine.EventSuccess,
				Title: "test", URL: "https://github.com/octo-org/octo-repo/actions/runs/289782451", By: "Codertocat", Source: "github",
			}, {
				ID: id("worker"), At: now, Pipeline: "worker", Version: "3484a3f", Commit: octoSHA, Action: "ci", State: engine.EventSuccess,
				Title: "test", URL: "https://github.com/octo-org/octo-repo/actions/runs/289782451", By: "Codertocat", Source: "github",
			}}},
		{name: "check suite", event: "check_suite", fixture: "check_suite.json", want: []engine.Event{{
			ID: id("hello"), At: now, Pipeline: "hello", Version: "ec26c3e", Commit: suiteSHA, Action: "ci", State: engine.EventSuccess,
			Title: "octocoders-linter", URL: "https://github.com/Codertocat/Hello-World/commit/" + suiteSHA + "/checks?check_suite_id=118578147",
			By: "Codertocat", Source: "github",
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(r *webhook.Receiver) { r.VersionOf = tt.versionOf })
			body := readFixture(t, tt.fixture)
			a := f.do(t, http.MethodPost, "/hooks/github", githubHeader(tt.event, delivery, githubSecret, body), body)
			want := `{"published":` + strconv.Itoa(len(tt.want)) + "}\n"
			if a.status != http.StatusAccepted || a.body != want {
				t.Fatalf("answer = %s, want 202 %s", a, want)
			}
			if got := f.events.events(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("published\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func itoa(n int) string { return string(rune('0' + n)) }

// TestGitHubAnswers pins every answer that publishes nothing.
func TestGitHubAnswers(t *testing.T) {
	deployment := readFixture(t, "deployment.json")
	signed := func(event string, body []byte) http.Header { return githubHeader(event, delivery, githubSecret, body) }
	edit := func(h http.Header, f func(http.Header)) http.Header { f(h); return h }
	tests := []struct {
		name   string
		method string
		header http.Header
		body   []byte
		edit   func(*webhook.Receiver)
		status int
	}{
		{name: "ping", header: signed("ping", readFixture(t, "ping.json")), body: readFixture(t, "ping.json"), status: http.StatusOK},
		{name: "push is ignored", header: signed("push", readFixture(t, "push.json")), body: readFixture(t, "push.json"), status: http.StatusAccepted},
		{name: "requested workflow run is ignored", header: signed("workflow_run", readFixture(t, "workflow_run-requested.json")),
			body: readFixture(t, "workflow_run-requested.json"), status: http.StatusAccepted},
		{name: "inactive deployment status is ignored", header: signed("deployment_status", readFixture(t, "deployment_status-inactive.json")),
			body: readFixture(t, "deployment_status-inactive.json"), status: http.StatusAccepted},
		{name: "unknown repo", header: signed("deployment_status", readFixture(t, "deployment_status-unknown-repo.json")),
			body: readFixture(t, "deployment_status-unknown-repo.json"), status: http.StatusUnprocessableEntity},
		{name: "unknown environment", header: signed("deployment_status", readFixture(t, "deployment_status-unknown-env.json")),
			body: readFixture(t, "deployment_status-unknown-env.json"), status: http.StatusUnprocessableEntity},
		{name: "no signature", header: edit(signed("deployment", deployment), func(h http.Header) { h.Del("X-Hub-Signature-256") }),
			body: deployment, status: http.StatusUnauthorized},
		{name: "SHA-1 signature only", header: edit(signed("deployment", deployment), func(h http.Header) {
			h.Del("X-Hub-Signature-256")
			h.Set("X-Hub-Signature", "sha1=7d38cdd689735b008b3c702edd92eea23791c5f6")
		}), body: deployment, status: http.StatusUnauthorized},
		{name: "wrong signature", header: edit(signed("deployment", deployment), func(h http.Header) {
			h.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("00", 32))
		}), body: deployment, status: http.StatusUnauthorized},
		{name: "signature not hex", header: edit(signed("deployment", deployment), func(h http.Header) {
			h.Set("X-Hub-Signature-256", "sha256=not-hex")
		}), body: deployment, status: http.StatusUnauthorized},
		{name: "signature without prefix", header: edit(signed("deployment", deployment), func(h http.Header) {
			h.Set("X-Hub-Signature-256", strings.TrimPrefix(h.Get("X-Hub-Signature-256"), "sha256="))
		}), body: deployment, status: http.StatusUnauthorized},
		{name: "wrong secret", header: githubHeader("deployment", delivery, []byte("another secret"), deployment),
			body: deployment, status: http.StatusUnauthorized},
		{name: "tampered body", header: signed("deployment", deployment),
			body: []byte(strings.Replace(string(deployment), `"production"`, `"development"`, 2)), status: http.StatusUnauthorized},
		{name: "no event header", header: edit(signed("deployment", deployment), func(h http.Header) { h.Del("X-GitHub-Event") }),
			body: deployment, status: http.StatusBadRequest},
		{name: "bad delivery id", header: githubHeader("deployment", "../../x", githubSecret, deployment),
			body: deployment, status: http.StatusBadRequest},
		{name: "not JSON", header: signed("deployment", []byte(`{"action": "created",`)), body: []byte(`{"action": "created",`),
			status: http.StatusBadRequest},
		{name: "body too large", header: signed("deployment", deployment), body: deployment,
			edit: func(r *webhook.Receiver) { r.MaxBody = 1 << 10 }, status: http.StatusRequestEntityTooLarge},
		{name: "not configured", header: signed("deployment", deployment), body: deployment,
			edit: func(r *webhook.Receiver) { r.GitHubSecret = nil }, status: http.StatusNotFound},
		{name: "GET", method: http.MethodGet, status: http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.edit)
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			a := f.do(t, method, "/hooks/github", tt.header, tt.body)
			if a.status != tt.status {
				t.Errorf("status = %d, want %d", a.status, tt.status)
			}
			golden(t, goldenName("github", tt.name), a.String())
			if got := f.events.events(); len(got) != 0 {
				t.Errorf("published %+v, want nothing", got)
			}
			if tt.status == http.StatusMethodNotAllowed && a.header.Get("Allow") != "POST" {
				t.Errorf("Allow = %q, want POST", a.header.Get("Allow"))
			}
		})
	}
}

// TestGitHubRefusalLog checks that a refused signature is logged with the
// delivery and the reason, and neither the secret nor the signature.
func TestGitHubRefusalLog(t *testing.T) {
	f := newFixture(t, nil)
	body := readFixture(t, "deployment.json")
	h := githubHeader("deployment", delivery, []byte("hunter2-wrong"), body)
	f.do(t, http.MethodPost, "/hooks/github", h, body)
	log := f.logs.String()
	for _, want := range []string{delivery, "does not match the body"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	sig := strings.TrimPrefix(h.Get("X-Hub-Signature-256"), "sha256=")
	for _, secret := range []string{string(githubSecret), "hunter2-wrong", sig, sig[:16]} {
		if strings.Contains(log, secret) {
			t.Errorf("log holds %q:\n%s", secret, log)
		}
	}
}

// TestGitHubRedelivery checks that GitHub's redelivery, which keeps the
// delivery's GUID, publishes the same event IDs, for the store to drop.
func TestGitHubRedelivery(t *testing.T) {
	f := newFixture(t, nil)
	body := readFixture(t, "deployment_status.json")
	for range 2 {
		if a := f.do(t, http.MethodPost, "/hooks/github", githubHeader("deployment_status", delivery, githubSecret, body), body); a.status != http.StatusAccepted {
			t.Fatalf("answer = %s, want 202", a)
		}
	}
	got := f.events.events()
	if len(got) != 2 || got[0].ID != got[1].ID || got[0].ID != "github/"+delivery+"/hello" {
		t.Errorf("published IDs %+v, want github/%s/hello twice", got, delivery)
	}
}

func TestGitHubPublishFails(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		status  int
		body    string
		logged  string
		notSaid string
	}{
		{name: "store down", err: engine.Errorf(engine.Unavailable, "nats: no responders"), status: http.StatusServiceUnavailable,
			body: `{"error":"the event store is unavailable; try again"}` + "\n", logged: "nats: no responders", notSaid: "nats"},
		{name: "store broken", err: errors.New("stream EVENTS: disk full"), status: http.StatusInternalServerError,
			body: `{"error":"internal error; the details are in the server log"}` + "\n", logged: "disk full", notSaid: "disk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			f.events.err = tt.err
			body := readFixture(t, "deployment.json")
			a := f.do(t, http.MethodPost, "/hooks/github", githubHeader("deployment", delivery, githubSecret, body), body)
			if a.status != tt.status || a.body != tt.body {
				t.Errorf("answer = %s, want %d %s", a, tt.status, tt.body)
			}
			if !strings.Contains(f.logs.String(), tt.logged) {
				t.Errorf("log lacks %q:\n%s", tt.logged, f.logs)
			}
			if strings.Contains(a.body, tt.notSaid) {
				t.Errorf("answer tells %q: %s", tt.notSaid, a.body)
			}
		})
	}
}

func TestGitHubVersionOfUnavailable(t *testing.T) {
	f := newFixture(t, func(r *webhook.Receiver) {
		r.VersionOf = func(context.Context, string, string) (string, error) {
			return "", engine.Errorf(engine.Unavailable, "ledger unreachable")
		}
	})
	body := readFixture(t, "check_suite.json")
	a := f.do(t, http.MethodPost, "/hooks/github", githubHeader("check_suite", delivery, githubSecret, body), body)
	if a.status != http.StatusServiceUnavailable {
		t.Errorf("answer = %s, want 503", a)
	}
	if got := f.events.events(); len(got) != 0 {
		t.Errorf("published %+v, want nothing", got)
	}
}
