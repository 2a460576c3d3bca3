package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

// The Heroku driver's acceptance test: the real chatops binary promotes and
// rolls back a pipeline whose stages deploy through a fake of Heroku's
// Platform API on 127.0.0.1, reached through CHATOPS_HEROKU_API_URL.

const (
	herokuToken      = "hrku-CLI-t0ken-9f8e7d6c5b4a"
	herokuPipelineID = "2f1b7c1e-8b7a-4a52-9a34-2e1d1c7f0a11"
	herokuStagingID  = "01234567-89ab-4def-8123-456789abcdef"
	herokuProdID     = "11111111-2222-4333-8444-555555555555"
)

// herokuConfig has both stages of web deploy through Heroku, each its own app.
var herokuConfig = `pipelines:
  - name: web
    stages: [staging, production]
    seed: {staging: 1.2.0, production: 1.1.0}
    deploy:
      staging:
        heroku: {app: web-staging, pipeline: ` + herokuPipelineID + `, token_env: HEROKU_API_TOKEN}
      production:
        heroku: {app: web-production, pipeline: ` + herokuPipelineID + `, token_env: HEROKU_API_TOKEN}
`

// herokuCIConfig is the same pipeline with no driver in staging: how a
// release reaches staging in the test, as if CI had made it, since the Heroku
// driver refuses releases.
var herokuCIConfig = `pipelines:
  - name: web
    stages: [staging, production]
    seed: {staging: 1.2.0, production: 1.1.0}
    deploy:
      production:
        heroku: {app: web-production, pipeline: ` + herokuPipelineID + `, token_env: HEROKU_API_TOKEN}
`

// herokuRequest is one request the fake received.
type herokuRequest struct {
	method, path string
	// key is the Idempotency-Key header.
	key  string
	body string
}

// herokuPromotion is a pipeline promotion the fake created.
type herokuPromotion struct {
	id    string
	polls int
	// release is the release it made on the target app, once it succeeded.
	release string
}

// herokuRelease is a release of web-production.
type herokuRelease struct {
	id          string
	version     int
	description string
}

// herokuFake answers the calls of Heroku's Platform API the driver makes, in
// the shapes Heroku documents, and fails the test on any request Heroku
// would not take: a wrong Accept or Authorization header, a body that is
// not the documented one, a route it does not have. Like Heroku, it ignores
// the Idempotency-Key: every promotion it is asked for, it creates.
type herokuFake struct {
	t   *testing.T
	srv *httptest.Server
	mux *http.ServeMux

	mu         sync.Mutex
	script     herokuScript
	requests   []herokuRequest
	promotions []*herokuPromotion
	releases   []*herokuRelease
}

// herokuScript says how the fake answers, where Heroku could answer
// otherwise.
type herokuScript struct {
	// unavailable is how many POST /pipeline-promotions are answered 503,
	// creating nothing, before one is created.
	unavailable int
	// pending is how many reads of a promotion's targets answer "pending"
	// before the target ends.
	pending int
	// failWith, when set, makes targets end "failed" with this
	// error_message; otherwise they succeed.
	failWith string
	// refuseWith, when set, answers every POST /pipeline-promotions 422
	// with this message.
	refuseWith string
}

func herokuNewFake(t *testing.T, script herokuScript) *herokuFake {
	t.Helper()
	f := &herokuFake{t: t, mux: http.NewServeMux(), script: script}
	f.mux.HandleFunc("GET /apps/{app}", f.app)
	f.mux.HandleFunc("POST /pipeline-promotions", f.promote)
	f.mux.HandleFunc("GET /pipeline-promotions/{id}/promotion-targets", f.targets)
	f.mux.HandleFunc("POST /apps/{app}/releases", f.rollback)
	f.mux.HandleFunc("GET /apps/{app}/releases/{id}", f.release)
	f.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("%s %s: not a route of Heroku's API the driver uses", r.Method, r.URL.Path)
		herokuError(w, http.StatusNotFound, "not_found", "The requested API endpoint was not found.")
	})
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

// ServeHTTP records the request and checks what every request must carry.
func (f *herokuFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := f.t
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Errorf("%s %s: reading the body: %v", r.Method, r.URL.Path, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, herokuRequest{method: r.Method, path: r.URL.Path, key: r.Header.Get("Idempotency-Key"), body: string(body)})

	what := r.Method + " " + r.URL.Path
	if got, want := r.Header.Get("Accept"), "application/vnd.heroku+json; version=3"; got != want {
		t.Errorf("%s: Accept = %q, want %q", what, got, want)
	}
	if got, want := r.Header.Get("Authorization"), "Bearer "+herokuToken; got != want {
		t.Errorf("%s: Authorization = %q, want %q", what, got, want)
		herokuError(w, http.StatusUnauthorized, "unauthorized", "Invalid credentials provided.")
		return
	}
	switch r.Method {
	case http.MethodPost:
		if got := r.Header.Get("Content-Type"); got != "application/json" {
			t.Errorf("%s: Content-Type = %q, want application/json", what, got)
		}
		if r.Header.Get("Idempotency-Key") == "" {
			t.Errorf("%s: no Idempotency-Key", what)
		}
	case http.MethodGet:
		if len(body) > 0 {
			t.Errorf("%s: a body on a GET: %q", what, body)
		}
		if k := r.Header.Get("Idempotency-Key"); k != "" {
			t.Errorf("%s: Idempotency-Key %q on a GET", what, k)
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Request-Id", fmt.Sprintf("req-%d", len(f.requests)))
	f.mux.ServeHTTP(w, r)
}

// herokuApps are the apps the fake knows, by name.
var herokuApps = map[string]string{"web-staging": herokuStagingID, "web-production": herokuProdID}

// app answers GET /apps/{app_id_or_name}.
func (f *herokuFake) app(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("app")
	id, ok := herokuApps[name]
	if !ok {
		f.t.Errorf("GET /apps/%s: no such app", name)
		herokuError(w, http.StatusNotFound, "not_found", "Couldn't find that app.")
		return
	}
	fmt.Fprintf(w, `{"id":%q,"name":%q,"web_url":"https://%s.herokuapp.com/","created_at":"2026-01-02T10:00:00Z","region":{"id":"59accabd-516d-4f0e-83e6-6e3757701145","name":"us"}}`, id, name, name)
}

// promote answers POST /pipeline-promotions.
func (f *herokuFake) promote(w http.ResponseWriter, r *http.Request) {
	herokuSameJSON(f.t, "POST /pipeline-promotions", r.Body, fmt.Sprintf(
		`{"pipeline":{"id":%q},"source":{"app":{"id":%q}},"targets":[{"app":{"id":%q}}]}`, herokuPipelineID, herokuStagingID, herokuProdID))
	switch {
	case f.script.unavailable > 0:
		f.script.unavailable--
		herokuError(w, http.StatusServiceUnavailable, "unavailable", "The API is temporarily unavailable.")
		return
	case f.script.refuseWith != "":
		herokuError(w, http.StatusUnprocessableEntity, "invalid_params", f.script.refuseWith)
		return
	}
	p := &herokuPromotion{id: fmt.Sprintf("aaaaaaaa-0000-4000-8000-%012d", len(f.promotions)+1)}
	f.promotions = append(f.promotions, p)
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"id":%q,"pipeline":{"id":%q},"source":{"app":{"id":%q},"release":{"id":"cccccccc-0000-4000-8000-000000000001"}},"status":"pending","created_at":"2026-12-02T10:00:00Z","updated_at":null}`,
		p.id, herokuPipelineID, herokuStagingID)
}

// targets answers GET /pipeline-promotions/{id}/promotion-targets.
func (f *herokuFake) targets(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	i := slices.IndexFunc(f.promotions, func(p *herokuPromotion) bool { return p.id == id })
	if i < 0 {
		f.t.Errorf("GET promotion-targets of %s: no such promotion", id)
		herokuError(w, http.StatusNotFound, "not_found", "Couldn't find that pipeline promotion.")
		return
	}
	p := f.promotions[i]
	p.polls++
	status, errMsg, rel := "pending", "null", "null"
	switch {
	case p.polls <= f.script.pending:
	case f.script.failWith != "":
		status, errMsg = "failed", fmt.Sprintf("%q", f.script.failWith)
	default:
		status = "succeeded"
		if p.release == "" {
			p.release = f.newRelease(fmt.Sprintf("Promote web-staging v%d", 10+i)).id
		}
		rel = fmt.Sprintf(`{"id":%q}`, p.release)
	}
	fmt.Fprintf(w, `[{"app":{"id":%q},"error_message":%s,"id":"eeeeeeee-0000-4000-8000-%012d","pipeline_promotion":{"id":%q},"release":%s,"status":%q,"created_at":"2026-12-02T10:00:00Z","updated_at":"2026-12-02T10:00:05Z"}]`,
		herokuProdID, errMsg, i+1, p.id, rel, status)
}

// newRelease adds a release to web-production.
func (f *herokuFake) newRelease(description string) *herokuRelease {
	n := len(f.releases) + 1
	rel := &herokuRelease{id: fmt.Sprintf("dddddddd-0000-4000-8000-%012d", n), version: 41 + n, description: description}
	f.releases = append(f.releases, rel)
	return rel
}

// rollback answers POST /apps/{app}/releases, Heroku's Release Rollback.
func (f *herokuFake) rollback(w http.ResponseWriter, r *http.Request) {
	if app := r.PathValue("app"); app != "web-production" {
		f.t.Errorf("POST /apps/%s/releases: only web-production is rolled back", app)
		herokuError(w, http.StatusNotFound, "not_found", "Couldn't find that app.")
		return
	}
	var body struct {
		Release string `json:"release"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		f.t.Errorf("POST /apps/web-production/releases: body: %v", err)
	}
	i := slices.IndexFunc(f.releases, func(rel *herokuRelease) bool { return rel.id == body.Release })
	if i < 0 {
		f.t.Errorf("POST /apps/web-production/releases: no release %q to roll back to", body.Release)
		herokuError(w, http.StatusNotFound, "not_found", "Couldn't find that release.")
		return
	}
	rel := f.newRelease(fmt.Sprintf("Rollback to v%d", f.releases[i].version))
	w.WriteHeader(http.StatusCreated)
	herokuWriteRelease(w, rel, "pending")
}

// release answers GET /apps/{app}/releases/{id_or_version}.
func (f *herokuFake) release(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	i := slices.IndexFunc(f.releases, func(rel *herokuRelease) bool { return rel.id == id })
	if r.PathValue("app") != "web-production" || i < 0 {
		f.t.Errorf("GET %s: no such release", r.URL.Path)
		herokuError(w, http.StatusNotFound, "not_found", "Couldn't find that release.")
		return
	}
	herokuWriteRelease(w, f.releases[i], "succeeded")
}

func herokuWriteRelease(w io.Writer, rel *herokuRelease, status string) {
	fmt.Fprintf(w, `{"addon_plan_names":["heroku-postgresql:essential-0"],"app":{"id":%q,"name":"web-production"},"created_at":"2026-12-02T10:00:00Z","description":%q,"id":%q,"status":%q,"current":%t,"version":%d,"user":{"email":"alice@example.com","id":"99999999-0000-4000-8000-000000000001"}}`,
		herokuProdID, rel.description, rel.id, status, status == "succeeded", rel.version)
}

// herokuError writes Heroku's error body.
func herokuError(w http.ResponseWriter, code int, id, msg string) {
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"id":%q,"message":%q}`, id, msg)
}

// herokuSameJSON fails the test unless body holds exactly the JSON want.
func herokuSameJSON(t *testing.T, what string, body io.Reader, want string) {
	t.Helper()
	var got, exp any
	b, _ := io.ReadAll(body)
	if err := json.Unmarshal(b, &got); err != nil {
		t.Errorf("%s: body %q is not JSON: %v", what, b, err)
		return
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Errorf("%s: the wanted body %q is not JSON: %v", what, want, err)
		return
	}
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("%s: body\n%s\nwant\n%s", what, b, want)
	}
}

// got returns the requests so far.
func (f *herokuFake) got() []herokuRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// promoted says how many promotions the fake created.
func (f *herokuFake) promoted() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.promotions)
}

// calls counts the requests, as "METHOD path" → how many.
func (f *herokuFake) calls() map[string]int {
	n := map[string]int{}
	for _, r := range f.got() {
		n[r.method+" "+r.path]++
	}
	return n
}

// herokuCLI is a chatops runner whose pipeline web deploys through a fake
// Heroku.
type herokuCLI struct {
	*chatopsRunner
	fake *herokuFake
	// seen is everything chatops printed, for the token check.
	seen []outcome
}

func herokuNewCLI(t *testing.T, bin string, script herokuScript) *herokuCLI {
	t.Helper()
	c := &herokuCLI{chatopsRunner: newRunner(t, bin), fake: herokuNewFake(t, script)}
	c.writeConfig(t, "chatops.yaml", herokuConfig)
	c.env = append(c.env, "CHATOPS_HEROKU_API_URL="+c.fake.srv.URL, "HEROKU_API_TOKEN="+herokuToken, "HEROKU_API_KEY=")
	return c
}

func (c *herokuCLI) writeConfig(t *testing.T, name, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(c.work, name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// chatops runs chatops with chatops.yaml and keeps what it printed.
func (c *herokuCLI) chatops(args ...string) outcome {
	return c.chatopsWith("chatops.yaml", args...)
}

// chatopsWith runs chatops with the config file and keeps what it printed.
func (c *herokuCLI) chatopsWith(config string, args ...string) outcome {
	o := c.run(append([]string{"--config", config}, args...)...)
	c.seen = append(c.seen, o)
	return o
}

// herokuWant fails the test unless o exited with code and printed stdout exactly.
func herokuWant(t *testing.T, o outcome, code int, stdout string) {
	t.Helper()
	if o.code != code || o.stdout != stdout {
		t.Fatalf("chatops %s: exit %d, stdout %q; want exit %d, stdout %q\nstderr:\n%s", strings.Join(o.args, " "), o.code, o.stdout, code, stdout, o.stderr)
	}
}

// herokuWantStderr fails the test unless stderr is these lines, exactly.
func herokuWantStderr(t *testing.T, o outcome, lines ...string) {
	t.Helper()
	if want := strings.Join(lines, "\n") + "\n"; o.stderr != want {
		t.Errorf("chatops %s: stderr\n%s\nwant\n%s", strings.Join(o.args, " "), o.stderr, want)
	}
}

// herokuStage is a stage as info -o json shows it.
type herokuStage struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Release struct {
		Action string `json:"action"`
		Ref    string `json:"ref"`
	} `json:"release"`
}

// stages returns info web -o json's stages as "name version action", with
// the Heroku release of the stage's release when chatops keeps one.
func (c *herokuCLI) stages(t *testing.T) []string {
	t.Helper()
	o := c.chatops("info", "web", "-o", "json")
	var info struct {
		Stages []herokuStage `json:"stages"`
	}
	if o.code != 0 || json.Unmarshal([]byte(o.stdout), &info) != nil {
		t.Fatalf("chatops info web -o json: exit %d\n%s%s", o.code, o.stdout, o.stderr)
	}
	var out []string
	for _, s := range info.Stages {
		line := s.Name + " " + s.Version + " " + s.Release.Action
		if s.Release.Ref != "" {
			line += " " + s.Release.Ref
		}
		out = append(out, line)
	}
	return out
}

// herokuAudit is an audit record as audit -o json shows it.
type herokuAudit struct {
	JobID   string `json:"job_id"`
	Command string `json:"command"`
	Outcome string `json:"outcome"`
	Message string `json:"message"`
}

// audit returns the audit records of the runs of command, oldest first.
func (c *herokuCLI) audit(t *testing.T, command string) []herokuAudit {
	t.Helper()
	o := c.chatops("audit", "-o", "json")
	var recs []herokuAudit
	if o.code != 0 || json.Unmarshal([]byte(o.stdout), &recs) != nil {
		t.Fatalf("chatops audit -o json: exit %d\n%s%s", o.code, o.stdout, o.stderr)
	}
	var out []herokuAudit
	for _, r := range recs {
		if r.Command == command {
			out = append(out, r)
		}
	}
	return out
}

// jobs returns the job ids of the audited runs of command, oldest first.
func (c *herokuCLI) jobs(t *testing.T, command string) []string {
	t.Helper()
	var ids []string
	for _, r := range c.audit(t, command) {
		ids = append(ids, r.JobID)
	}
	return ids
}

// jobOf returns the job id of the audited command, which must be there once.
func (c *herokuCLI) jobOf(t *testing.T, command string) string {
	t.Helper()
	ids := c.jobs(t, command)
	if len(ids) != 1 || ids[0] == "" {
		t.Fatalf("audit records of %q: job ids %q, want one", command, ids)
	}
	return ids[0]
}

// noToken fails the test if the token appears in anything chatops printed,
// audit -o json included.
func (c *herokuCLI) noToken(t *testing.T) {
	t.Helper()
	if o := c.chatops("audit", "-o", "json"); o.code != 0 || !strings.HasPrefix(o.stdout, "[\n  {") {
		t.Errorf("chatops audit -o json: exit %d\n%s%s", o.code, o.stdout, o.stderr)
	}
	for _, o := range c.seen {
		if strings.Contains(o.stdout+o.stderr, herokuToken) {
			t.Errorf("chatops %s printed the Heroku token:\nstdout:\n%s\nstderr:\n%s", strings.Join(o.args, " "), o.stdout, o.stderr)
		}
	}
}

// herokuWantAudit fails the test unless the records are want, job ids aside.
func herokuWantAudit(t *testing.T, got, want []herokuAudit) {
	t.Helper()
	got = slices.Clone(got)
	for i := range got {
		got[i].JobID = ""
	}
	if !slices.Equal(got, want) {
		t.Errorf("audit records\n%+v\nwant\n%+v", got, want)
	}
}

// herokuWantCalls fails the test unless the fake got exactly these calls.
func herokuWantCalls(t *testing.T, f *herokuFake, want map[string]int) {
	t.Helper()
	if got := f.calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("Heroku got calls %v, want %v", got, want)
	}
}

// TestHerokuCLI runs the chatops binary on a pipeline deployed through a fake
// of Heroku's Platform API.
func TestHerokuCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds chatops and runs it against a fake Heroku")
	}
	bin := chatopsBinary(t)

	t.Run("promote", func(t *testing.T) {
		c := herokuNewCLI(t, bin, herokuScript{pending: 1})
		o := c.chatops("promote", "web", "--yes")
		herokuWant(t, o, 0, "Promoted web 1.2.0 from staging to production.\n")
		herokuWantStderr(t, o,
			"production: promote web 1.2.0",
			"production: promoting web-staging to web-production: promotion aaaaaaaa-0000-4000-8000-000000000001 pending",
			"production: web-production: pending",
			"production: web-production: succeeded",
		)
		herokuWantCalls(t, c.fake, map[string]int{
			"GET /apps/web-staging":     1,
			"GET /apps/web-production":  1,
			"POST /pipeline-promotions": 1,
			"GET /pipeline-promotions/aaaaaaaa-0000-4000-8000-000000000001/promotion-targets": 2,
		})
		if n := c.fake.promoted(); n != 1 {
			t.Errorf("%d promotions, want 1", n)
		}
		job := c.jobOf(t, "promote web")
		for _, r := range c.fake.got() {
			if r.method == http.MethodPost && r.key != job {
				t.Errorf("POST %s: Idempotency-Key %q, want the job id %q", r.path, r.key, job)
			}
		}
		if got, want := c.stages(t), []string{"staging 1.2.0 seed", "production 1.2.0 promote dddddddd-0000-4000-8000-000000000001"}; !slices.Equal(got, want) {
			t.Errorf("info web: %q, want %q", got, want)
		}
		c.noToken(t)
	})

	t.Run("promote after two 503s", func(t *testing.T) {
		c := herokuNewCLI(t, bin, herokuScript{unavailable: 2})
		o := c.chatops("promote", "web", "--yes")
		herokuWant(t, o, 0, "Promoted web 1.2.0 from staging to production.\n")
		herokuWantStderr(t, o,
			"production: promote web 1.2.0",
			"production: promoting web-staging to web-production: promotion aaaaaaaa-0000-4000-8000-000000000001 pending",
			"production: web-production: succeeded",
		)
		herokuWantCalls(t, c.fake, map[string]int{
			"GET /apps/web-staging":     1,
			"GET /apps/web-production":  1,
			"POST /pipeline-promotions": 3,
			"GET /pipeline-promotions/aaaaaaaa-0000-4000-8000-000000000001/promotion-targets": 1,
		})
		if n := c.fake.promoted(); n != 1 {
			t.Errorf("%d promotions, want 1", n)
		}
		job := c.jobOf(t, "promote web")
		var keys []string
		for _, r := range c.fake.got() {
			if r.method == http.MethodPost {
				keys = append(keys, r.key)
			}
		}
		if want := []string{job, job, job}; !slices.Equal(keys, want) {
			t.Errorf("the POSTs' Idempotency-Keys are %q, want the job id each time: %q", keys, want)
		}
		if got, want := c.stages(t), []string{"staging 1.2.0 seed", "production 1.2.0 promote dddddddd-0000-4000-8000-000000000001"}; !slices.Equal(got, want) {
			t.Errorf("info web: %q, want %q", got, want)
		}
		c.noToken(t)
	})

	t.Run("failed target", func(t *testing.T) {
		c := herokuNewCLI(t, bin, herokuScript{failWith: "Release phase failed: bin/release exited with status 1"})
		o := c.chatops("promote", "web", "--yes")
		herokuWant(t, o, 1, "")
		herokuWantStderr(t, o,
			"production: promote web 1.2.0",
			"production: promoting web-staging to web-production: promotion aaaaaaaa-0000-4000-8000-000000000001 pending",
			"production: web-production: failed",
			"error: promote web 1.2.0 to production failed: heroku driver: Release phase failed: bin/release exited with status 1. The ledger is unchanged.",
			"promoting web-staging to web-production: promotion aaaaaaaa-0000-4000-8000-000000000001 pending",
			"web-production: failed",
		)
		herokuWantCalls(t, c.fake, map[string]int{
			"GET /apps/web-staging":     1,
			"GET /apps/web-production":  1,
			"POST /pipeline-promotions": 1,
			"GET /pipeline-promotions/aaaaaaaa-0000-4000-8000-000000000001/promotion-targets": 1,
		})
		if got, want := c.stages(t), []string{"staging 1.2.0 seed", "production 1.1.0 seed"}; !slices.Equal(got, want) {
			t.Errorf("info web: %q, want %q", got, want)
		}
		want := []herokuAudit{{Command: "promote web", Outcome: "failed",
			Message: "promote web 1.2.0 to production failed: heroku driver: Release phase failed: bin/release exited with status 1. The ledger is unchanged.\n" +
				"promoting web-staging to web-production: promotion aaaaaaaa-0000-4000-8000-000000000001 pending\n" +
				"web-production: failed"}}
		herokuWantAudit(t, c.audit(t, "promote web"), want)
		c.noToken(t)
	})

	t.Run("token echoed by Heroku", func(t *testing.T) {
		c := herokuNewCLI(t, bin, herokuScript{refuseWith: "Bearer " + herokuToken + " may not promote this pipeline."})
		o := c.chatops("promote", "web", "--yes")
		herokuWant(t, o, 1, "")
		herokuWantStderr(t, o,
			"production: promote web 1.2.0",
			"error: promote web 1.2.0 to production failed: heroku driver: could not promote web-staging to web-production: Heroku answered 422 Unprocessable Entity: Bearer [token] may not promote this pipeline. The ledger is unchanged.",
		)
		if got, want := c.stages(t), []string{"staging 1.2.0 seed", "production 1.1.0 seed"}; !slices.Equal(got, want) {
			t.Errorf("info web: %q, want %q", got, want)
		}
		want := []herokuAudit{{Command: "promote web", Outcome: "failed",
			Message: "promote web 1.2.0 to production failed: heroku driver: could not promote web-staging to web-production: Heroku answered 422 Unprocessable Entity: Bearer [token] may not promote this pipeline. The ledger is unchanged."}}
		herokuWantAudit(t, c.audit(t, "promote web"), want)
		c.noToken(t)
	})

	t.Run("rollback", func(t *testing.T) {
		c := herokuNewCLI(t, bin, herokuScript{})
		herokuWant(t, c.chatops("promote", "web", "--yes"), 0, "Promoted web 1.2.0 from staging to production.\n")

		// The seed 1.1.0 was never deployed through Heroku: there is no
		// release of Heroku's to go back to, and nothing is asked of it.
		o := c.chatops("rollback", "web", "--yes")
		herokuWant(t, o, 2, "")
		herokuWantStderr(t, o, "production: rollback web 1.1.0", `error: cannot roll web production back to 1.1.0 through Heroku: chatops does not know Heroku's release for 1.1.0 (it keeps one only for releases the heroku driver made); roll back with "heroku releases:rollback" instead`)

		c.writeConfig(t, "ci.yaml", herokuCIConfig)
		herokuWant(t, c.chatopsWith("ci.yaml", "release", "web", "1.3.0", "--commit", "abc123"), 0, "Released web 1.3.0 into staging.\n")
		herokuWant(t, c.chatops("promote", "web", "--yes"), 0, "Promoted web 1.3.0 from staging to production.\n")

		o = c.chatops("rollback", "web", "--yes")
		herokuWant(t, o, 0, "Rolled web back in production from 1.3.0 to 1.2.0.\n")
		herokuWantStderr(t, o,
			"production: rollback web 1.2.0",
			"production: web-production: release v44 Rollback to v42: pending",
			"production: web-production: release v44 Rollback to v42: succeeded",
		)
		jobs := c.jobs(t, "rollback web")
		if len(jobs) != 2 {
			t.Fatalf("audit records of rollback web: job ids %q, want two", jobs)
		}
		rollbacks := 0
		for _, r := range c.fake.got() {
			if r.method == http.MethodPost && r.path == "/apps/web-production/releases" {
				rollbacks++
				if want := `{"release":"dddddddd-0000-4000-8000-000000000001"}`; r.body != want {
					t.Errorf("the rollback's body is %s, want %s", r.body, want)
				}
				if r.key != jobs[1] {
					t.Errorf("the rollback's Idempotency-Key is %q, want its job id %q", r.key, jobs[1])
				}
			}
		}
		if rollbacks != 1 {
			t.Errorf("%d rollbacks asked of Heroku, want 1", rollbacks)
		}
		herokuWantCalls(t, c.fake, map[string]int{
			"GET /apps/web-staging":     2,
			"GET /apps/web-production":  2,
			"POST /pipeline-promotions": 2,
			"GET /pipeline-promotions/aaaaaaaa-0000-4000-8000-000000000001/promotion-targets": 1,
			"GET /pipeline-promotions/aaaaaaaa-0000-4000-8000-000000000002/promotion-targets": 1,
			"POST /apps/web-production/releases":                                              1,
			"GET /apps/web-production/releases/dddddddd-0000-4000-8000-000000000003":          1,
		})
		if got, want := c.stages(t), []string{"staging 1.3.0 release", "production 1.2.0 rollback dddddddd-0000-4000-8000-000000000003"}; !slices.Equal(got, want) {
			t.Errorf("info web: %q, want %q", got, want)
		}
		c.noToken(t)
	})
}
