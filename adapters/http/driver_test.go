package http_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chatops/chatops/engine"
)

func TestDeploy(t *testing.T) {
	accepted := reply{status: http.StatusAccepted, body: `{"status_url":"/status/J42"}`}
	tests := []struct {
		name  string
		posts []reply
		polls []reply
		// secret, when set, is the receiver's, not the driver's.
		secret   string
		want     *engine.Deployed
		code     engine.Code // of an *engine.Error
		msg      string      // of the error
		log      []string    // of an *engine.DriverError
		progress []string
		nPost    int
		nPoll    int
		waits    []time.Duration
	}{
		{
			name:  "200 with a body",
			posts: []reply{{status: http.StatusOK, body: `{"message":"shop 1.4.0 is live","url":"https://deploy.example.com/d/7","ref":"d-7"}`}},
			want:  &engine.Deployed{Ref: "d-7", URL: "https://deploy.example.com/d/7", Message: "shop 1.4.0 is live"},
			nPost: 1,
		},
		{
			name:  "204 without a body",
			posts: []reply{{status: http.StatusNoContent}},
			want:  &engine.Deployed{},
			nPost: 1,
		},
		{
			name:  "200 with a body that is not JSON",
			posts: []reply{{status: http.StatusOK, body: `ok`}},
			want:  &engine.Deployed{},
			nPost: 1,
		},
		{
			name:  "202 followed to success",
			posts: []reply{{status: http.StatusAccepted, body: `{"status_url":"/status/J42","message":"queued"}`}},
			polls: []reply{
				status("pending", "", "building 4f2a9c1"),
				status("pending", "", "building 4f2a9c1"),
				status("pending", "migrating", "building 4f2a9c1", "migrating"),
				{status: http.StatusOK, body: `{"state":"success","message":"live in 42s","url":"https://deploy.example.com/d/8","ref":"d-8","log":["building 4f2a9c1","migrating","switched traffic"]}`},
			},
			want: &engine.Deployed{Ref: "d-8", URL: "https://deploy.example.com/d/8", Message: "live in 42s"},
			progress: []string{
				"queued (accepted by URL/deploy?…; following URL/status/J42)",
				"building 4f2a9c1",
				"migrating",
				"switched traffic",
			},
			nPost: 1, nPoll: 4,
		},
		{
			name:  "202 followed to failure",
			posts: []reply{accepted},
			polls: []reply{
				status("pending", "", "building"),
				status("failure", "migration 0042 failed: column exists", "building", "migrating", "ERROR: column \"sku\" exists"),
			},
			msg:      "http driver: migration 0042 failed: column exists",
			log:      []string{"building", "migrating", "ERROR: column \"sku\" exists"},
			progress: []string{"accepted by URL/deploy?…; following URL/status/J42", "building", "migrating", "ERROR: column \"sku\" exists"},
			nPost:    1, nPoll: 2,
		},
		{
			name:  "failure without a message",
			posts: []reply{accepted},
			polls: []reply{status("failure", "")},
			msg:   "http driver: the deployment failed",
			nPost: 1, nPoll: 1,
			progress: []string{"accepted by URL/deploy?…; following URL/status/J42"},
		},
		{
			name:     "unknown state",
			posts:    []reply{accepted},
			polls:    []reply{status("done", "")},
			msg:      `http driver: the change was accepted, then its status_url URL/status/J42 answered state "done"; want pending, success or failure`,
			progress: []string{"accepted by URL/deploy?…; following URL/status/J42"},
			nPost:    1, nPoll: 1,
		},
		{
			name:     "status_url gone",
			posts:    []reply{accepted},
			polls:    []reply{{status: http.StatusNotFound, body: `{"message":"no deployment J42"}`}},
			msg:      "http driver: the change was accepted, then its status_url URL/status/J42 answered 404 Not Found: no deployment J42; it may still be running",
			progress: []string{"accepted by URL/deploy?…; following URL/status/J42"},
			nPost:    1, nPoll: 1,
		},
		{
			name:     "status not JSON",
			posts:    []reply{accepted},
			polls:    []reply{{status: http.StatusOK, body: `<html>login</html>`}},
			msg:      "http driver: the change was accepted, then its status_url URL/status/J42 answered no status JSON (<html>login</html>); it may still be running",
			progress: []string{"accepted by URL/deploy?…; following URL/status/J42"},
			nPost:    1, nPoll: 1,
		},
		{
			name:  "status_url not http",
			posts: []reply{{status: http.StatusAccepted, body: `{"status_url":"ftp://example.com/s"}`}},
			msg:   `http driver: URL/deploy?… accepted the change but its status_url "ftp://example.com/s" is not an http(s) URL; the change may be running`,
			nPost: 1,
		},
		{
			name:  "400 is not retried",
			posts: []reply{{status: http.StatusBadRequest, body: `{"message":"unknown stage \"production\""}`}},
			msg:   `http driver: URL/deploy?… answered 400 Bad Request: unknown stage "production"`,
			nPost: 1,
		},
		{
			name:  "404 quotes the body",
			posts: []reply{{status: http.StatusNotFound, body: strings.Repeat("x", 400)}},
			msg:   "http driver: URL/deploy?… answered 404 Not Found: " + strings.Repeat("x", 300) + "…",
			nPost: 1,
		},
		{
			name:  "409 is a refusal",
			posts: []reply{{status: http.StatusConflict, body: `{"message":"production is frozen until Monday"}`}},
			code:  engine.Conflict,
			msg:   "URL/deploy?… refused the change: production is frozen until Monday",
			nPost: 1,
		},
		{
			name:  "501 is a change the receiver cannot make",
			posts: []reply{{status: http.StatusNotImplemented, body: `{"message":"rollbacks are made by hand"}`}},
			code:  engine.Invalid,
			msg:   "URL/deploy?… cannot promote shop production: rollbacks are made by hand",
			nPost: 1,
		},
		{
			name: "503 then 200 is one deployment",
			posts: []reply{
				{status: http.StatusServiceUnavailable, body: `{"message":"restarting"}`},
				{status: http.StatusOK, body: `{"message":"deployed"}`},
			},
			want:  &engine.Deployed{Message: "deployed"},
			nPost: 2,
		},
		{
			name: "429 Retry-After is honoured",
			posts: []reply{
				{status: http.StatusTooManyRequests, header: map[string]string{"Retry-After": "7"}},
				{status: http.StatusOK},
			},
			want:  &engine.Deployed{},
			nPost: 2,
			waits: []time.Duration{7 * time.Second},
		},
		{
			name: "408 is retried",
			posts: []reply{
				{status: http.StatusRequestTimeout, header: map[string]string{"Retry-After": "2"}},
				{status: http.StatusOK},
			},
			want:  &engine.Deployed{},
			nPost: 2,
			waits: []time.Duration{2 * time.Second},
		},
		{
			name:  "5xx until the retries run out",
			posts: []reply{{status: http.StatusBadGateway, body: `<html>bad gateway</html>`}},
			msg:   "http driver: URL/deploy?… answered 502 Bad Gateway: <html>bad gateway</html>",
			nPost: 4,
		},
		{
			name:   "the receiver rejects another secret",
			posts:  []reply{{status: http.StatusOK}},
			secret: "whsec-another",
			msg:    "http driver: URL/deploy?… answered 401 Unauthorized: signature rejected (is $SHOP_DEPLOY_SECRET the secret the receiver verifies with?)",
			nPost:  1,
		},
		{
			name:  "poll retried on 503",
			posts: []reply{accepted},
			polls: []reply{
				{status: http.StatusServiceUnavailable},
				status("success", "done"),
			},
			want:     &engine.Deployed{Message: "done"},
			progress: []string{"accepted by URL/deploy?…; following URL/status/J42"},
			nPost:    1, nPoll: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.posts, tt.polls)
			if tt.secret != "" {
				h.rcv.secret = []byte(tt.secret)
			}
			var progress []string
			got, err := h.d.Deploy(context.Background(), promotion(), func(s string) { progress = append(progress, s) })
			base := h.rcv.srv.URL
			msg := func(s string) string { return strings.ReplaceAll(s, base, "URL") }

			if tt.msg == "" && err != nil {
				t.Fatalf("Deploy: %v", err)
			}
			if tt.msg != "" {
				if err == nil {
					t.Fatalf("Deploy = %+v, want error %q", got, tt.msg)
				}
				if m := msg(err.Error()); m != tt.msg {
					t.Errorf("error\n got %s\nwant %s", m, tt.msg)
				}
				if tt.code != "" {
					if c := engine.ErrorCode(err); c != tt.code {
						t.Errorf("code = %s, want %s", c, tt.code)
					}
				} else {
					var de *engine.DriverError
					if !errors.As(err, &de) {
						t.Fatalf("error is %T, want *engine.DriverError", err)
					}
					if de.Driver != "http" {
						t.Errorf("Driver = %q, want http", de.Driver)
					}
					if !reflect.DeepEqual(de.Log, tt.log) {
						t.Errorf("Log = %q, want %q", de.Log, tt.log)
					}
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Deployed = %+v, want %+v", got, tt.want)
			}
			for i := range progress {
				progress[i] = msg(progress[i])
			}
			if !reflect.DeepEqual(progress, tt.progress) {
				t.Errorf("progress\n got %q\nwant %q", progress, tt.progress)
			}
			reqs := h.rcv.requests()
			var posts, polls []seen
			for _, r := range reqs {
				if r.method == http.MethodPost {
					posts = append(posts, r)
				} else {
					polls = append(polls, r)
				}
			}
			if len(posts) != tt.nPost || len(polls) != tt.nPoll {
				t.Errorf("receiver got %d POSTs and %d GETs, want %d and %d", len(posts), len(polls), tt.nPost, tt.nPoll)
			}
			for i, p := range posts {
				checkPost(t, fmt.Sprintf("POST %d", i+1), p, tt.secret == "")
			}
			for i, p := range polls {
				checkPoll(t, fmt.Sprintf("GET %d", i+1), p)
			}
			if tt.waits != nil && !reflect.DeepEqual(h.bo.waits, tt.waits) {
				t.Errorf("backoff waits = %v, want %v", h.bo.waits, tt.waits)
			}
			errText := ""
			if err != nil {
				errText = err.Error()
			}
			noSecrets(t, "error", errText)
			noSecrets(t, "progress", progress...)
			noSecrets(t, "log", h.logs.String())
		})
	}
}

// checkPost asserts one POST of the change: its path, headers, signature
// and JSON body.
func checkPost(t *testing.T, what string, r seen, verified bool) {
	t.Helper()
	if r.path != "/deploy" || r.query != "token="+queryToken {
		t.Errorf("%s: path %s?%s, want /deploy?token=…", what, r.path, r.query)
	}
	for k, want := range map[string]string{
		"Content-Type":    "application/json",
		"Accept":          "application/json",
		"Idempotency-Key": "J42",
		"User-Agent":      "chatops-http-driver",
	} {
		if got := r.header.Get(k); got != want {
			t.Errorf("%s: %s = %q, want %q", what, k, got, want)
		}
	}
	if verified && r.verr != nil {
		t.Errorf("%s: signature: %v", what, r.verr)
	}
	if !strings.HasPrefix(r.header.Get("X-Chatops-Signature"), "v1=") {
		t.Errorf("%s: X-Chatops-Signature = %q, want v1=…", what, r.header.Get("X-Chatops-Signature"))
	}
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("%s: body %s: %v", what, r.body, err)
	}
	want := map[string]any{
		"action": "promote", "pipeline": "shop", "from": "staging", "stage": "production",
		"version": "1.4.0", "commit": "4f2a9c1", "actor": "alice", "job_id": "J42", "previous": "1.3.2",
	}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("%s: body\n got %v\nwant %v", what, body, want)
	}
}

// checkPoll asserts one GET of the status_url: signed over an empty body.
func checkPoll(t *testing.T, what string, r seen) {
	t.Helper()
	if r.path != "/status/J42" {
		t.Errorf("%s: path %s, want /status/J42", what, r.path)
	}
	if r.verr != nil {
		t.Errorf("%s: signature over the empty body: %v", what, r.verr)
	}
	if len(r.body) != 0 || r.header.Get("Content-Type") != "" {
		t.Errorf("%s: body %q with Content-Type %q, want none", what, r.body, r.header.Get("Content-Type"))
	}
	if got := r.header.Get("Accept"); got != "application/json" {
		t.Errorf("%s: Accept = %q, want application/json", what, got)
	}
}
