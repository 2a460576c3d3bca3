package heroku_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// This package has no golden files; it accepts -update so that
// "go test ./... -update" runs across the whole module.
var _ = flag.Bool("update", false, "rewrite golden files (none here)")

const (
	token      = "hrku-s3cr3t-T0kenValue"
	pipelineID = "4a1d2c3e-0000-4000-8000-00000000000a"
	stagingID  = "01234567-89ab-cdef-0123-456789abcdef"
	prodID     = "11111111-2222-4333-8444-555555555555"
)

// reply is one scripted answer of the fake.
type reply struct {
	code   int
	header map[string]string
	body   string
	// create says the fake starts the change even though it answers code:
	// the answer was lost on the way back.
	create bool
}

// request is what the fake received.
type request struct {
	Method, Path string
	Header       http.Header
	Body         map[string]any
}

// fakeHeroku answers the parts of Heroku's Platform API the driver uses, in
// the shapes Heroku documents: GET /apps/{name}, POST /pipeline-promotions,
// GET /pipeline-promotions/{id}/promotion-targets, POST /apps/{app}/releases
// and GET /apps/{app}/releases/{id}. It checks every request's headers and
// honours the Idempotency-Key of POSTs.
type fakeHeroku struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	requests []request
	apps     map[string]string // name → id
	// all, when set, answers every request.
	all *reply
	// posts scripts the first answers to POSTs; once spent, the fake
	// answers normally.
	posts []reply
	// promotions and releases created, by idempotency key.
	promotions map[string]string
	releases   map[string]string
	rolledTo   map[string]any // release id → the release it returns to
	// targets are the statuses of the promotion's target, one per poll
	// (the last repeats): "pending", "succeeded" or "failed|message".
	targets []string
	nPolls  int
	// rels are the statuses of the rolled back release, the first in the
	// POST's answer, then one per GET (the last repeats).
	rels  []string
	nRels int
}

func newFake(t *testing.T) *fakeHeroku {
	t.Helper()
	f := &fakeHeroku{
		t:          t,
		apps:       map[string]string{"web-staging": stagingID, "web-production": prodID},
		promotions: map[string]string{},
		releases:   map[string]string{},
		rolledTo:   map[string]any{},
		targets:    []string{"pending", "succeeded"},
		rels:       []string{"pending", "succeeded"},
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeHeroku) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	req := request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone()}
	if r.Body != nil && r.ContentLength != 0 {
		if err := json.NewDecoder(r.Body).Decode(&req.Body); err != nil {
			f.t.Errorf("%s %s: body is not JSON: %v", r.Method, r.URL.Path, err)
		}
	}
	f.requests = append(f.requests, req)
	f.checkHeaders(r, req.Body != nil)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", "req-1")

	if f.all != nil {
		f.write(w, *f.all)
		return
	}
	if r.Method == http.MethodPost && len(f.posts) > 0 {
		rep := f.posts[0]
		f.posts = f.posts[1:]
		if rep.create {
			f.route(httptest.NewRecorder(), r, req)
		}
		f.write(w, rep)
		return
	}
	f.route(w, r, req)
}

func (f *fakeHeroku) write(w http.ResponseWriter, rep reply) {
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rep.code)
	fmt.Fprint(w, rep.body)
}

func (f *fakeHeroku) checkHeaders(r *http.Request, hasBody bool) {
	t := f.t
	if got, want := r.Header.Get("Accept"), "application/vnd.heroku+json; version=3"; got != want {
		t.Errorf("%s %s: Accept = %q, want %q", r.Method, r.URL.Path, got, want)
	}
	if got, want := r.Header.Get("Authorization"), "Bearer "+token; got != want {
		t.Errorf("%s %s: Authorization = %q, want %q", r.Method, r.URL.Path, got, want)
	}
	if hasBody && r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("%s %s: Content-Type = %q, want application/json", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
	}
	if r.Method == http.MethodPost && r.Header.Get("Idempotency-Key") == "" {
		t.Errorf("%s %s: no Idempotency-Key", r.Method, r.URL.Path)
	}
	if r.Method == http.MethodGet && r.Header.Get("Idempotency-Key") != "" {
		t.Errorf("%s %s: Idempotency-Key on a GET", r.Method, r.URL.Path)
	}
}

func notFound(w http.ResponseWriter, msg string) {
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprintf(w, `{"id":"not_found","message":%q}`, msg)
}

func (f *fakeHeroku) route(w http.ResponseWriter, r *http.Request, req request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	key := r.Header.Get("Idempotency-Key")
	switch {
	case r.Method == http.MethodGet && len(parts) == 2 && parts[0] == "apps":
		id, ok := f.apps[parts[1]]
		if !ok {
			notFound(w, "Couldn't find that app.")
			return
		}
		fmt.Fprintf(w, `{"id":%q,"name":%q,"web_url":"https://%s.herokuapp.com/"}`, id, parts[1], parts[1])

	case r.Method == http.MethodPost && r.URL.Path == "/pipeline-promotions":
		id, ok := f.promotions[key]
		if !ok {
			id = fmt.Sprintf("aaaaaaaa-0000-4000-8000-%012d", len(f.promotions)+1)
			f.promotions[key] = id
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":%q,"pipeline":{"id":%q},"source":{"app":{"id":%q},"release":{"id":"cccccccc-0000-4000-8000-000000000001"}},"status":"pending","created_at":"2026-12-02T10:00:00Z","updated_at":null}`,
			id, pipelineID, stagingID)

	case r.Method == http.MethodGet && len(parts) == 3 && parts[0] == "pipeline-promotions" && parts[2] == "promotion-targets":
		if !f.hasPromotion(parts[1]) {
			notFound(w, "Couldn't find that pipeline promotion.")
			return
		}
		st := f.targets[min(f.nPolls, len(f.targets)-1)]
		f.nPolls++
		status, msg, _ := strings.Cut(st, "|")
		rel := "null"
		if status == "succeeded" {
			rel = `{"id":"dddddddd-0000-4000-8000-000000000042"}`
		}
		errMsg := "null"
		if msg != "" {
			errMsg = fmt.Sprintf("%q", msg)
		}
		fmt.Fprintf(w, `[{"app":{"id":%q},"error_message":%s,"id":"eeeeeeee-0000-4000-8000-000000000001","pipeline_promotion":{"id":%q},"release":%s,"status":%q}]`,
			prodID, errMsg, parts[1], rel, status)

	case r.Method == http.MethodPost && len(parts) == 3 && parts[0] == "apps" && parts[2] == "releases":
		id, ok := f.releases[key]
		if !ok {
			id = fmt.Sprintf("ffffffff-0000-4000-8000-%012d", len(f.releases)+1)
			f.releases[key] = id
			f.rolledTo[id] = req.Body["release"]
		}
		w.WriteHeader(http.StatusCreated)
		f.writeRelease(w, id, f.rolledTo[id])

	case r.Method == http.MethodGet && len(parts) == 4 && parts[0] == "apps" && parts[2] == "releases":
		found := false
		for _, id := range f.releases {
			found = found || id == parts[3]
		}
		if !found {
			notFound(w, "Couldn't find that release.")
			return
		}
		f.writeRelease(w, parts[3], f.rolledTo[parts[3]])

	default:
		notFound(w, "no such route in the fake: "+r.Method+" "+r.URL.Path)
	}
}

func (f *fakeHeroku) hasPromotion(id string) bool {
	for _, p := range f.promotions {
		if p == id {
			return true
		}
	}
	return false
}

func (f *fakeHeroku) writeRelease(w http.ResponseWriter, id string, to any) {
	st := f.rels[min(f.nRels, len(f.rels)-1)]
	f.nRels++
	fmt.Fprintf(w, `{"addon_plan_names":[],"app":{"id":%q,"name":"web-production"},"created_at":"2026-12-02T10:00:00Z","description":"Rollback to %v","id":%q,"status":%q,"current":%t,"version":43,"user":{"email":"alice@example.com","id":"99999999-0000-4000-8000-000000000001"}}`,
		prodID, to, id, st, st == "succeeded")
}

// got returns the requests received so far.
func (f *fakeHeroku) got() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.requests...)
}

// count returns how many of the requests were method path.
func (f *fakeHeroku) count(method, path string) int {
	n := 0
	for _, r := range f.got() {
		if r.Method == method && r.Path == path {
			n++
		}
	}
	return n
}
