package github_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// This package has no golden files; it accepts -update so that
// "go test ./... -update" runs across the whole module.
var _ = flag.Bool("update", false, "rewrite golden files (none here)")

const (
	token  = "ghp_s3cr3tT0kenValue"
	prefix = "/api/v3" // as GitHub Enterprise Server, to test the joining of paths
)

// reply is one scripted answer of the fake.
type reply struct {
	code   int
	header map[string]string
	body   string
	// create says the fake creates the deployment even though it answers
	// code: the answer was lost on the way back.
	create bool
}

// request is what the fake received.
type request struct {
	Method, Path, Query string
	Header              http.Header
	Body                map[string]any
}

// fakeDeployment is a deployment the fake holds.
type fakeDeployment struct {
	ID      int64
	Ref     string
	Env     string
	Payload json.RawMessage
}

// fakeGitHub answers the Deployments API as GitHub documents it: POST and
// GET /repos/{owner}/{repo}/deployments and GET …/deployments/{id}/statuses,
// checking the headers of every request.
type fakeGitHub struct {
	t   *testing.T
	srv *httptest.Server

	mu          sync.Mutex
	requests    []request
	deployments []fakeDeployment
	// posts, lists and polls script the first answers to each kind of
	// call; once spent, the fake answers normally.
	posts, lists, polls []reply
	// states are revealed one per poll: poll n lists the first n+1,
	// newest first. Each is "state" or "state|description".
	states []string
	nPolls int
	// links adds log_url and environment_url to the statuses.
	links bool
}

func newFake(t *testing.T, states ...string) *fakeGitHub {
	t.Helper()
	f := &fakeGitHub{t: t, states: states}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGitHub) url() string { return f.srv.URL + prefix }

func (f *fakeGitHub) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	req := request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone()}
	for k, want := range map[string]string{
		"Accept":               "application/vnd.github+json",
		"Authorization":        "Bearer " + token,
		"X-Github-Api-Version": "2022-11-28",
	} {
		if got := r.Header.Get(k); got != want {
			f.t.Errorf("%s %s: header %s = %q, want %q", r.Method, r.URL.Path, k, got, want)
		}
	}
	if r.Header.Get("User-Agent") == "" {
		f.t.Errorf("%s %s: no User-Agent", r.Method, r.URL.Path)
	}
	if r.Method == http.MethodPost {
		if got := r.Header.Get("Content-Type"); got != "application/json" {
			f.t.Errorf("POST: Content-Type = %q, want application/json", got)
		}
		if err := json.NewDecoder(r.Body).Decode(&req.Body); err != nil {
			f.t.Errorf("POST body: %v", err)
		}
	}
	f.requests = append(f.requests, req)

	path, ok := strings.CutPrefix(r.URL.Path, prefix+"/repos/acme/shop/deployments")
	switch {
	case !ok:
		writeJSON(w, 404, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest"}`)
	case path == "" && r.Method == http.MethodPost:
		f.post(w, req)
	case path == "" && r.Method == http.MethodGet:
		f.list(w, r)
	case strings.HasSuffix(path, "/statuses") && r.Method == http.MethodGet:
		f.poll(w)
	default:
		writeJSON(w, 404, `{"message":"Not Found"}`)
	}
}

// next pops the next scripted reply of *script, if any.
func next(script *[]reply) (reply, bool) {
	if len(*script) == 0 {
		return reply{}, false
	}
	r := (*script)[0]
	*script = (*script)[1:]
	return r, true
}

func (f *fakeGitHub) post(w http.ResponseWriter, req request) {
	rp, scripted := next(&f.posts)
	if scripted && !rp.create {
		f.write(w, rp)
		return
	}
	payload, _ := json.Marshal(req.Body["payload"])
	d := fakeDeployment{ID: int64(len(f.deployments) + 1), Ref: fmt.Sprint(req.Body["ref"]), Env: fmt.Sprint(req.Body["environment"]), Payload: payload}
	f.deployments = append(f.deployments, d)
	if scripted {
		f.write(w, rp)
		return
	}
	writeJSON(w, 201, f.deploymentJSON(d))
}

func (f *fakeGitHub) list(w http.ResponseWriter, r *http.Request) {
	if rp, ok := next(&f.lists); ok {
		f.write(w, rp)
		return
	}
	q := r.URL.Query()
	var out []string
	for i := len(f.deployments) - 1; i >= 0; i-- { // newest first
		d := f.deployments[i]
		if d.Env == q.Get("environment") && d.Ref == q.Get("ref") && q.Get("task") == "deploy" {
			out = append(out, f.deploymentJSON(d))
		}
	}
	writeJSON(w, 200, "["+strings.Join(out, ",")+"]")
}

func (f *fakeGitHub) poll(w http.ResponseWriter) {
	if rp, ok := next(&f.polls); ok {
		f.write(w, rp)
		return
	}
	n := min(f.nPolls+1, len(f.states))
	f.nPolls++
	var out []string
	for i := n - 1; i >= 0; i-- {
		state, desc, _ := strings.Cut(f.states[i], "|")
		s := map[string]any{
			"url":            fmt.Sprintf("%s/repos/acme/shop/deployments/1/statuses/%d", f.url(), i+1),
			"id":             i + 1,
			"node_id":        "MDE2OkRlcGxveW1lbnRTdGF0dXMx",
			"state":          state,
			"description":    desc,
			"environment":    "production",
			"target_url":     "",
			"created_at":     "2012-07-20T01:19:13Z",
			"deployment_url": f.url() + "/repos/acme/shop/deployments/1",
			"repository_url": f.url() + "/repos/acme/shop",
		}
		if f.links {
			s["log_url"] = "https://ci.example.com/runs/42"
			s["target_url"] = "https://ci.example.com/runs/42"
			s["environment_url"] = "https://shop.example.com"
		}
		b, _ := json.Marshal(s)
		out = append(out, string(b))
	}
	writeJSON(w, 200, "["+strings.Join(out, ",")+"]")
}

func (f *fakeGitHub) deploymentJSON(d fakeDeployment) string {
	b, _ := json.Marshal(map[string]any{
		"url":                    f.url() + "/repos/acme/shop/deployments/" + strconv.FormatInt(d.ID, 10),
		"id":                     d.ID,
		"node_id":                "MDEwOkRlcGxveW1lbnQx",
		"sha":                    "a84d88e7554fc1fa21bcbc4efae3c782a70d2b9d",
		"ref":                    d.Ref,
		"task":                   "deploy",
		"payload":                d.Payload,
		"original_environment":   d.Env,
		"environment":            d.Env,
		"description":            "",
		"creator":                map[string]any{"login": "octocat", "id": 1},
		"created_at":             "2012-07-20T01:19:13Z",
		"updated_at":             "2012-07-20T01:19:13Z",
		"statuses_url":           f.url() + "/repos/acme/shop/deployments/" + strconv.FormatInt(d.ID, 10) + "/statuses",
		"repository_url":         f.url() + "/repos/acme/shop",
		"transient_environment":  false,
		"production_environment": true,
	})
	return string(b)
}

func (f *fakeGitHub) write(w http.ResponseWriter, rp reply) {
	for k, v := range rp.header {
		w.Header().Set(k, v)
	}
	writeJSON(w, rp.code, rp.body)
}

func writeJSON(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprint(w, body)
}

// calls returns the requests received, as "METHOD path".
func (f *fakeGitHub) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.requests {
		out = append(out, r.Method+" "+strings.TrimPrefix(r.Path, prefix))
	}
	return out
}

// posted returns the bodies of the POSTs received.
func (f *fakeGitHub) posted() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []map[string]any
	for _, r := range f.requests {
		if r.Method == http.MethodPost {
			out = append(out, r.Body)
		}
	}
	return out
}

func (f *fakeGitHub) created() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.deployments)
}
