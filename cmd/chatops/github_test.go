package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The test here runs the real chatops binary against a fake of GitHub's REST
// Deployments API on 127.0.0.1: the github driver as a person meets it.

// ghToken is the token the binary reads from $GITHUB_TOKEN. It is a secret:
// no output may show it.
const ghToken = "ghp_cl1T3stT0kenN0tReal42"

// ghChecks is GitHub's answer to a deployment whose required status checks
// failed, as its documentation shows it.
const ghChecks = `{"message":"Conflict: Commit status checks failed for main.",` +
	`"errors":[{"contexts":[{"context":"ci/build","state":"success"},{"context":"security/scan","state":"failure"}],` +
	`"resource":"Deployment","field":"required_contexts","code":"invalid"}],` +
	`"documentation_url":"https://docs.github.com/rest/deployments/deployments#create-a-deployment"}`

// ghRequest is one request the fake received.
type ghRequest struct {
	method, path string
	query        url.Values
	body         map[string]any
}

// ghDeployment is a deployment the fake holds, and how many times its
// statuses were read.
type ghDeployment struct {
	id           int64
	ref, env     string
	payload      json.RawMessage
	polls        int
	statusesRead bool
}

// ghFake answers GitHub's Deployments API for the repository acme/web:
// POST and GET /repos/acme/web/deployments and GET
// /repos/acme/web/deployments/{id}/statuses. It checks the headers and body
// of every request and fails the test on anything GitHub would not take.
type ghFake struct {
	t   *testing.T
	srv *httptest.Server
	// failing says the ref's required status checks fail: a POST that does
	// not skip them with "required_contexts": [] is answered 409.
	failing bool
	// states are what the statuses say, oldest first, revealed one more per
	// read of a deployment's statuses. Each is "state" or
	// "state|description".
	states []string

	mu          sync.Mutex
	requests    []ghRequest
	deployments []*ghDeployment
}

func ghNewFake(t *testing.T, failing bool, states ...string) *ghFake {
	t.Helper()
	f := &ghFake{t: t, failing: failing, states: states}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *ghFake) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	call := r.Method + " " + r.URL.Path
	for k, want := range map[string]string{
		"Accept":               "application/vnd.github+json",
		"Authorization":        "Bearer " + ghToken,
		"X-Github-Api-Version": "2022-11-28",
	} {
		if got := r.Header.Get(k); got != want {
			f.t.Errorf("%s: header %s = %q, want %q", call, k, got, want)
		}
	}
	if r.Header.Get("User-Agent") == "" {
		f.t.Errorf("%s: no User-Agent; GitHub requires one", call)
	}
	req := ghRequest{method: r.Method, path: r.URL.Path, query: r.URL.Query()}
	if r.Method == http.MethodPost {
		if got := r.Header.Get("Content-Type"); got != "application/json" {
			f.t.Errorf("%s: Content-Type = %q, want application/json", call, got)
		}
		if err := json.NewDecoder(r.Body).Decode(&req.body); err != nil {
			f.t.Errorf("%s: body is not a JSON object: %v", call, err)
		}
	}
	f.requests = append(f.requests, req)

	rest, ok := strings.CutPrefix(r.URL.Path, "/repos/acme/web/deployments")
	id, statuses := strings.CutSuffix(strings.TrimPrefix(rest, "/"), "/statuses")
	switch {
	case ok && rest == "" && r.Method == http.MethodPost:
		f.create(w, req)
	case ok && rest == "" && r.Method == http.MethodGet:
		f.list(w, req)
	case ok && statuses && r.Method == http.MethodGet:
		f.statuses(w, id)
	default:
		f.t.Errorf("%s: not a call of the Deployments API of acme/web", call)
		ghWrite(w, http.StatusNotFound, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest"}`)
	}
}

// create answers POST /repos/acme/web/deployments.
func (f *ghFake) create(w http.ResponseWriter, req ghRequest) {
	b := req.body
	keys := make([]string, 0, len(b))
	for k := range b {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	allowed := []string{"auto_merge", "description", "environment", "payload", "ref", "required_contexts", "task"}
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			f.t.Errorf("POST deployments: unknown field %q in %v", k, b)
		}
	}
	for k, want := range map[string]any{"ref": "main", "environment": "production", "task": "deploy", "auto_merge": false} {
		if got, ok := b[k]; !ok || got != want {
			f.t.Errorf("POST deployments: %s = %#v (present %v), want %#v", k, got, ok, want)
		}
	}
	if d, ok := b["description"].(string); !ok || d == "" {
		f.t.Errorf("POST deployments: description = %#v, want a string", b["description"])
	}
	payload, ok := b["payload"].(map[string]any)
	if !ok {
		f.t.Errorf("POST deployments: payload = %#v, want an object", b["payload"])
		ghWrite(w, http.StatusUnprocessableEntity, `{"message":"Invalid request.\n\nFor 'properties/payload', nil is not an object.","documentation_url":"https://docs.github.com/rest/deployments/deployments#create-a-deployment"}`)
		return
	}
	for k, want := range map[string]any{"action": "deploy", "pipeline": "web", "stage": "production", "branch": "main", "repo": "acme/web"} {
		if payload[k] != want {
			f.t.Errorf("POST deployments: payload.%s = %#v, want %#v", k, payload[k], want)
		}
	}
	if job, _ := payload["job_id"].(string); job == "" {
		f.t.Errorf("POST deployments: payload.job_id = %#v, want the job's id", payload["job_id"])
	}
	skip := false
	if rc, present := b["required_contexts"]; present {
		list, ok := rc.([]any)
		if !ok || len(list) != 0 {
			f.t.Errorf("POST deployments: required_contexts = %#v, want [] or absent", rc)
		}
		skip = ok && len(list) == 0
	}
	if f.failing && !skip {
		ghWrite(w, http.StatusConflict, ghChecks)
		return
	}
	raw, _ := json.Marshal(payload)
	d := &ghDeployment{id: int64(1000 + len(f.deployments) + 1), ref: b["ref"].(string), env: b["environment"].(string), payload: raw}
	f.deployments = append(f.deployments, d)
	ghWrite(w, http.StatusCreated, f.deploymentJSON(d))
}

// list answers GET /repos/acme/web/deployments?environment=…&task=…&ref=…,
// newest first.
func (f *ghFake) list(w http.ResponseWriter, req ghRequest) {
	q := req.query
	for k, want := range map[string]string{"environment": "production", "task": "deploy", "ref": "main"} {
		if got := q[k]; len(got) != 1 || got[0] != want {
			f.t.Errorf("GET deployments: query %s = %q, want [%q]", k, got, want)
		}
	}
	var out []string
	for i := len(f.deployments) - 1; i >= 0; i-- {
		d := f.deployments[i]
		if d.env == q.Get("environment") && d.ref == q.Get("ref") && q.Get("task") == "deploy" {
			out = append(out, f.deploymentJSON(d))
		}
	}
	ghWrite(w, http.StatusOK, "["+strings.Join(out, ",")+"]")
}

// statuses answers GET /repos/acme/web/deployments/{id}/statuses, newest
// first: one more of states at each read.
func (f *ghFake) statuses(w http.ResponseWriter, id string) {
	var d *ghDeployment
	for _, x := range f.deployments {
		if strconv.FormatInt(x.id, 10) == id {
			d = x
		}
	}
	if d == nil {
		f.t.Errorf("GET statuses of deployment %q, which does not exist", id)
		ghWrite(w, http.StatusNotFound, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest"}`)
		return
	}
	d.polls++
	n := min(d.polls, len(f.states))
	out := make([]string, 0, n)
	for i := n - 1; i >= 0; i-- {
		state, desc, _ := strings.Cut(f.states[i], "|")
		b, _ := json.Marshal(map[string]any{
			"url":             fmt.Sprintf("%s/repos/acme/web/deployments/%d/statuses/%d", f.srv.URL, d.id, i+1),
			"id":              d.id*100 + int64(i) + 1,
			"node_id":         "MDE2OkRlcGxveW1lbnRTdGF0dXMx",
			"state":           state,
			"description":     desc,
			"environment":     d.env,
			"target_url":      "",
			"log_url":         "",
			"environment_url": "",
			"created_at":      "2012-07-20T01:19:13Z",
			"updated_at":      "2012-07-20T01:19:13Z",
			"deployment_url":  fmt.Sprintf("%s/repos/acme/web/deployments/%d", f.srv.URL, d.id),
			"repository_url":  f.srv.URL + "/repos/acme/web",
			"creator":         map[string]any{"login": "octocat", "id": 1},
		})
		out = append(out, string(b))
	}
	ghWrite(w, http.StatusOK, "["+strings.Join(out, ",")+"]")
}

// deploymentJSON is GitHub's deployment object.
func (f *ghFake) deploymentJSON(d *ghDeployment) string {
	u := fmt.Sprintf("%s/repos/acme/web/deployments/%d", f.srv.URL, d.id)
	b, _ := json.Marshal(map[string]any{
		"url":                    u,
		"id":                     d.id,
		"node_id":                "MDEwOkRlcGxveW1lbnQx",
		"sha":                    "a84d88e7554fc1fa21bcbc4efae3c782a70d2b9d",
		"ref":                    d.ref,
		"task":                   "deploy",
		"payload":                d.payload,
		"original_environment":   d.env,
		"environment":            d.env,
		"description":            "",
		"creator":                map[string]any{"login": "octocat", "id": 1},
		"created_at":             "2012-07-20T01:19:13Z",
		"updated_at":             "2012-07-20T01:19:13Z",
		"statuses_url":           u + "/statuses",
		"repository_url":         f.srv.URL + "/repos/acme/web",
		"transient_environment":  false,
		"production_environment": true,
	})
	return string(b)
}

func ghWrite(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprint(w, body)
}

// setStates replaces the statuses of the deployments created from now on.
func (f *ghFake) setStates(states ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.states = states
}

// calls lists the requests received, as "METHOD path".
func (f *ghFake) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []string{}
	for _, r := range f.requests {
		out = append(out, r.method+" "+r.path)
	}
	return out
}

// posted lists the bodies of the POSTs received.
func (f *ghFake) posted() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []map[string]any
	for _, r := range f.requests {
		if r.method == http.MethodPost {
			out = append(out, r.body)
		}
	}
	return out
}

// created is the number of deployments the fake holds.
func (f *ghFake) created() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.deployments)
}

// ghConfig is the config: web's production deploys through GitHub; the
// person running the test (their OS login) is an admin, who may force and
// act as someone else; bob may deploy but not force.
func ghConfig(login string) string {
	return fmt.Sprintf(`pipelines:
  - name: web
    stages: [staging, production]
    repo: acme/web
    seed: {staging: 1.2.0, production: 1.1.0}
    deploy:
      production:
        github: {environment: production, token_env: GITHUB_TOKEN}
groups: [admins, deployers]
users:
  - name: me
    login: %q
    groups: [admins, deployers]
  - name: bob
    login: bob
    groups: [deployers]
policy:
  stages:
    - stage: production
      groups: [deployers]
  force: [admins]
  impersonate: [admins]
`, login)
}

// TestGitHubCLI is the acceptance test of the github driver from the command
// line: web's production deploys through GitHub's Deployments API, here a
// fake on 127.0.0.1 that checks every request.
func TestGitHubCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds chatops and runs it against a fake GitHub")
	}
	bin := chatopsBinary(t)
	t.Run("deploy follows the statuses", func(t *testing.T) { t.Parallel(); ghTestDeploy(t, bin) })
	t.Run("failing checks refuse", func(t *testing.T) { t.Parallel(); ghTestChecks(t, bin) })
	t.Run("forced by an admin", func(t *testing.T) { t.Parallel(); ghTestForce(t, bin) })
	t.Run("forced by bob", func(t *testing.T) { t.Parallel(); ghTestForceDenied(t, bin) })
	t.Run("token never shown", func(t *testing.T) { t.Parallel(); ghTestToken(t, bin) })
}

// ghTestDeploy: deploy creates exactly one deployment and follows its
// statuses, each said once, oldest first, although every read lists the
// earlier ones again; the ledger records the change with GitHub's id.
func ghTestDeploy(t *testing.T, bin string) {
	f := ghNewFake(t, false, "pending|queued", "in_progress|rolling out", "success|live")
	r := ghRunner(t, bin, f)
	o := ghRun(t, r, "deploy", "web", "to", "production", "--yes")
	ghExpect(t, o, 0,
		[]string{"Deployed web/main into production as 1.1.0-main.1."},
		[]string{
			"building web from branch main",
			"production: deploy web 1.1.0-main.1",
			"production: created GitHub deployment 1001 of main to production",
			"production: pending: queued",
			"production: in_progress: rolling out",
			"production: success: live",
		})
	ghCalls(t, f,
		"GET /repos/acme/web/deployments",
		"POST /repos/acme/web/deployments",
		"GET /repos/acme/web/deployments/1001/statuses",
		"GET /repos/acme/web/deployments/1001/statuses",
		"GET /repos/acme/web/deployments/1001/statuses")
	if n := f.created(); n != 1 {
		t.Errorf("GitHub holds %d deployments, want 1", n)
	}
	post := f.posted()[0]
	if _, ok := post["required_contexts"]; ok {
		t.Errorf("an unforced deploy sent required_contexts: %v", post)
	}
	job, _ := post["payload"].(map[string]any)["job_id"].(string)
	if recs := ghAudit(t, r, "deploy web to production"); len(recs) != 1 || recs[0].Outcome != "ok" || recs[0].JobID != job {
		t.Errorf("audit of deploy web to production: %+v, want one record, ok, of job %q (the deployment's payload.job_id)", recs, job)
	}
	want := ghStage{Name: "production", Version: "1.1.0-main.1"}
	want.Release.Version, want.Release.Branch, want.Release.By, want.Release.Action, want.Release.Ref = "1.1.0-main.1", "main", "me", "deploy", "1001"
	if got := ghProduction(t, r); got != want {
		t.Errorf("info web -o json: production is %+v, want %+v", got, want)
	}
}

// ghTestChecks: GitHub's 409 of failing required checks refuses the change
// with GitHub's message and the failing checks, exit 4, and the ledger stays
// as it was.
func ghTestChecks(t *testing.T, bin string) {
	f := ghNewFake(t, true, "success")
	r := ghRunner(t, bin, f)
	before := ghRun(t, r, "info", "web", "-o", "json")
	if before.code != 0 {
		t.Fatalf("info web: exit %d\n%s%s", before.code, before.stdout, before.stderr)
	}
	o := ghRun(t, r, "deploy", "web", "to", "production", "--yes")
	msg := `GitHub refused to deploy main to production: Conflict: Commit status checks failed for main. (failing: security/scan (failure)); "deploy!" forces it past failing checks, if you may`
	ghExpect(t, o, 4, nil, []string{
		"building web from branch main",
		"production: deploy web 1.1.0-main.1",
		"error: " + msg,
	})
	ghCalls(t, f, "GET /repos/acme/web/deployments", "POST /repos/acme/web/deployments")
	if n := f.created(); n != 0 {
		t.Errorf("GitHub holds %d deployments after a 409, want 0", n)
	}
	after := ghRun(t, r, "info", "web", "-o", "json")
	if after.code != 0 || after.stdout != before.stdout {
		t.Errorf("info web -o json after the refusal: exit %d\n%s\nwant it as before:\n%s", after.code, after.stdout, before.stdout)
	}
	if got := ghProduction(t, r); got.Version != "1.1.0" || got.Release.Action != "seed" {
		t.Errorf("production after the refusal: %+v, want the seed 1.1.0", got)
	}
	deploys := ghAudit(t, r, "deploy web to production")
	if len(deploys) != 1 || deploys[0].Outcome != "conflict" || deploys[0].Message != msg {
		t.Errorf("audit of deploy web to production: %+v, want one record, conflict, with message %q", deploys, msg)
	}
}

// ghTestForce: deploy! by an admin skips the failing checks with
// "required_contexts": [] and succeeds.
func ghTestForce(t *testing.T, bin string) {
	f := ghNewFake(t, true, "in_progress", "success")
	r := ghRunner(t, bin, f)
	o := ghRun(t, r, "deploy!", "web", "to", "production", "--yes")
	ghExpect(t, o, 0,
		[]string{"Deployed web/main into production as 1.1.0-main.1."},
		[]string{
			"building web from branch main",
			"production: deploy web 1.1.0-main.1",
			"production: created GitHub deployment 1001 of main to production",
			"production: in_progress",
			"production: success",
		})
	ghCalls(t, f,
		"GET /repos/acme/web/deployments",
		"POST /repos/acme/web/deployments",
		"GET /repos/acme/web/deployments/1001/statuses",
		"GET /repos/acme/web/deployments/1001/statuses")
	posts := f.posted()
	if len(posts) != 1 {
		t.Fatalf("%d POSTs, want 1", len(posts))
	}
	rc, ok := posts[0]["required_contexts"].([]any)
	if !ok || len(rc) != 0 {
		t.Errorf("the forced POST's required_contexts = %#v, want []", posts[0]["required_contexts"])
	}
	if p, _ := posts[0]["payload"].(map[string]any); p["force"] != true {
		t.Errorf("the forced POST's payload.force = %#v, want true", p["force"])
	}
	if got := ghProduction(t, r); got.Version != "1.1.0-main.1" || got.Release.Ref != "1001" {
		t.Errorf("production after the forced deploy: %+v, want 1.1.0-main.1 with ref 1001", got)
	}
}

// ghTestForceDenied: bob may not force, so deploy! as bob is denied, exit
// 3, before anything reaches GitHub.
func ghTestForceDenied(t *testing.T, bin string) {
	f := ghNewFake(t, true, "success")
	r := ghRunner(t, bin, f)
	o := ghRun(t, r, "deploy!", "web", "to", "production", "--yes", "--as", "bob")
	ghExpect(t, o, 3, nil, []string{
		"error: bob may not force deploy with !: forcing needs group admins (policy.force at chatops.yaml:21)",
	})
	ghCalls(t, f)
	if got := ghProduction(t, r); got.Version != "1.1.0" || got.Release.Action != "seed" {
		t.Errorf("production after the denial: %+v, want the seed 1.1.0", got)
	}
}

// ghTestToken: the token reaches GitHub in the Authorization header only
// (the fake checks it), and no output shows it, not even when GitHub echoes
// it in a status: ghRun checks every output, the audit's included.
func ghTestToken(t *testing.T, bin string) {
	f := ghNewFake(t, false, "pending", "failure|token "+ghToken+" may not deploy")
	r := ghRunner(t, bin, f)
	o := ghRun(t, r, "deploy", "web", "to", "production", "--yes")
	msg := "deploy web 1.1.0-main.1 to production failed: github driver: deployment 1001 of main to production ended in failure: token [redacted] may not deploy. The ledger is unchanged."
	ghExpect(t, o, 1, nil, []string{
		"building web from branch main",
		"production: deploy web 1.1.0-main.1",
		"production: created GitHub deployment 1001 of main to production",
		"production: pending",
		"production: failure: token [redacted] may not deploy",
		"error: " + msg,
		"created GitHub deployment 1001 of main to production",
		"pending",
		"failure: token [redacted] may not deploy",
	})
	want := msg + "\ncreated GitHub deployment 1001 of main to production\npending\nfailure: token [redacted] may not deploy"
	if recs := ghAudit(t, r, "deploy web to production"); len(recs) != 1 || recs[0].Outcome != "failed" || recs[0].Message != want {
		t.Errorf("audit of deploy web to production: %+v\nwant one record, failed, with message %q", recs, want)
	}
	// A deployment that succeeds, and the jobs, show no token either.
	f.setStates("success")
	ghExpect(t, ghRun(t, r, "deploy!", "web", "to", "production", "--yes"), 0,
		[]string{"Deployed web/main into production as 1.1.0-main.3."},
		[]string{
			"building web from branch main",
			"production: deploy web 1.1.0-main.3",
			"production: created GitHub deployment 1002 of main to production",
			"production: success",
		})
	if recs := ghAudit(t, r, "deploy! web to production"); len(recs) != 1 || recs[0].Outcome != "ok" {
		t.Errorf("audit of deploy! web to production: %+v, want one record, ok", recs)
	}
	if o := ghRun(t, r, "jobs", "-o", "json"); o.code != 0 {
		t.Errorf("jobs -o json: exit %d\n%s%s", o.code, o.stdout, o.stderr)
	}
}

// ghRunner is a runner whose chatops.yaml is ghConfig, with the token in
// $GITHUB_TOKEN and f as GitHub's API.
func ghRunner(t *testing.T, bin string, f *ghFake) *chatopsRunner {
	t.Helper()
	r := newRunner(t, bin)
	if err := os.WriteFile(filepath.Join(r.work, "chatops.yaml"), []byte(ghConfig(localUser())), 0o600); err != nil {
		t.Fatal(err)
	}
	r.env = append(r.env, "GITHUB_TOKEN="+ghToken, "CHATOPS_GITHUB_API_URL="+f.srv.URL)
	return r
}

// ghRun runs chatops --config chatops.yaml args… and fails the test if the
// token shows in what it printed.
func ghRun(t *testing.T, r *chatopsRunner, args ...string) outcome {
	t.Helper()
	o := r.run(append([]string{"--config", "chatops.yaml"}, args...)...)
	if strings.Contains(o.stdout, ghToken) || strings.Contains(o.stderr, ghToken) {
		t.Errorf("chatops %s shows the token:\n%s%s", strings.Join(args, " "), o.stdout, o.stderr)
	}
	return o
}

// ghExpect checks an outcome's exit status and its exact lines of stdout and
// stderr.
func ghExpect(t *testing.T, o outcome, code int, stdout, stderr []string) {
	t.Helper()
	cmd := strings.Join(o.args[2:], " ")
	if o.code != code {
		t.Errorf("chatops %s: exit %d, want %d", cmd, o.code, code)
	}
	if got := ghLines(o.stdout); !slices.Equal(got, stdout) {
		t.Errorf("chatops %s: stdout\n%s\nwant\n%s", cmd, strings.Join(got, "\n"), strings.Join(stdout, "\n"))
	}
	if got := ghLines(o.stderr); !slices.Equal(got, stderr) {
		t.Errorf("chatops %s: stderr\n%s\nwant\n%s", cmd, strings.Join(got, "\n"), strings.Join(stderr, "\n"))
	}
}

func ghLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// ghCalls checks the requests GitHub received, in order.
func ghCalls(t *testing.T, f *ghFake, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if got := f.calls(); !slices.Equal(got, want) {
		t.Errorf("GitHub received\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// ghRecord is a record of audit -o json.
type ghRecord struct {
	JobID                     string `json:"job_id"`
	Command, Outcome, Message string
}

// ghAudit reads the audit, through ghRun, and returns the records of one
// command.
func ghAudit(t *testing.T, r *chatopsRunner, command string) []ghRecord {
	t.Helper()
	o := ghRun(t, r, "audit", "-o", "json")
	var all []ghRecord
	if err := json.Unmarshal([]byte(o.stdout), &all); err != nil || o.code != 0 {
		t.Fatalf("audit -o json: exit %d, %v\n%s%s", o.code, err, o.stdout, o.stderr)
	}
	var out []ghRecord
	for _, rec := range all {
		if rec.Command == command {
			out = append(out, rec)
		}
	}
	return out
}

// ghStage is a stage of info -o json.
type ghStage struct {
	Name, Version string
	Release       struct {
		Version, Branch, By, Action, Ref string
	}
}

// ghProduction reads production's stage from info web -o json.
func ghProduction(t *testing.T, r *chatopsRunner) ghStage {
	t.Helper()
	o := ghRun(t, r, "info", "web", "-o", "json")
	var info struct{ Stages []ghStage }
	if err := json.Unmarshal([]byte(o.stdout), &info); err != nil || o.code != 0 {
		t.Fatalf("info web -o json: exit %d, %v\n%s%s", o.code, err, o.stdout, o.stderr)
	}
	for _, s := range info.Stages {
		if s.Name == "production" {
			return s
		}
	}
	t.Fatalf("info web -o json has no production:\n%s", o.stdout)
	return ghStage{}
}
