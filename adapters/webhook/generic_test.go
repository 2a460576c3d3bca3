package webhook_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chatops/chatops/adapters/internal/signature"
	"github.com/chatops/chatops/adapters/webhook"
	"github.com/chatops/chatops/engine"
)

func genericID(body string) string {
	sum := sha256.Sum256([]byte(body))
	return "webhook/" + hex.EncodeToString(sum[:])[:24]
}

func TestGenericPublishes(t *testing.T) {
	tests := []struct {
		name string
		body string
		want engine.Event
	}{
		{name: "every field",
			body: `{"pipeline":"hello","stage":"prod","version":"1.4.0","state":"success","title":"Smoke tests","url":"https://ci.example.com/runs/7","text":"12 passed"}`,
			want: engine.Event{Pipeline: "hello", Stage: "production", Version: "1.4.0", Action: "report", State: engine.EventSuccess,
				Title: "Smoke tests", URL: "https://ci.example.com/runs/7", Text: "12 passed"}},
		{name: "pipeline and state only", body: `{"pipeline": "api", "state": "in_progress"}`,
			want: engine.Event{Pipeline: "api", Action: "report", State: engine.EventInProgress}},
		{name: "text of several lines", body: "{\n  \"pipeline\": \"hello\",\n  \"state\": \"failure\",\n  \"text\": \"2 failed:\\n\\tlogin\\n\\tcheckout\"\n}\n",
			want: engine.Event{Pipeline: "hello", Action: "report", State: engine.EventFailure, Text: "2 failed:\n\tlogin\n\tcheckout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			a := f.do(t, http.MethodPost, "/hooks/generic", signature.Sign(genericSecret, now, []byte(tt.body)), []byte(tt.body))
			if a.status != http.StatusAccepted || a.body != `{"published":1}`+"\n" {
				t.Fatalf("answer = %s, want 202 {\"published\":1}", a)
			}
			want := tt.want
			want.ID, want.At, want.Source = genericID(tt.body), now, "webhook"
			if got := f.events.events(); !reflect.DeepEqual(got, []engine.Event{want}) {
				t.Errorf("published\n got %+v\nwant %+v", got, []engine.Event{want})
			}
		})
	}
}

// TestGenericRetry checks that a report sent again, signed afresh, has the
// same ID.
func TestGenericRetry(t *testing.T) {
	f := newFixture(t, nil)
	body := []byte(`{"pipeline":"hello","stage":"staging","state":"success"}`)
	for _, at := range []time.Time{now.Add(-time.Minute), now} {
		if a := f.do(t, http.MethodPost, "/hooks/generic", signature.Sign(genericSecret, at, body), body); a.status != http.StatusAccepted {
			t.Fatalf("answer = %s, want 202", a)
		}
	}
	got := f.events.events()
	if len(got) != 2 || got[0].ID != got[1].ID || got[0].ID != genericID(string(body)) {
		t.Errorf("published %+v, want %s twice", got, genericID(string(body)))
	}
}

// TestGenericAnswers pins every refusal, in testdata/golden.
func TestGenericAnswers(t *testing.T) {
	sign := func(body string) http.Header { return signature.Sign(genericSecret, now, []byte(body)) }
	tests := []struct {
		name   string
		method string
		header http.Header // signed body when nil
		body   string
		edit   func(*webhook.Receiver)
		status int
	}{
		{name: "unknown field", body: `{"pipeline":"hello","stag":"production","state":"success"}`, status: http.StatusBadRequest},
		{name: "unknown fields", body: `{"pipeline":"hello","state":"success","env":"x","sha":"y"}`, status: http.StatusBadRequest},
		{name: "syntax error", body: "{\n  \"pipeline\": \"hello\",\n  \"state\": success\n}", status: http.StatusBadRequest},
		{name: "syntax error after a multibyte character", body: `{"title":"déploiement" "state":"success"}`, status: http.StatusBadRequest},
		{name: "truncated", body: "{\n  \"pipeline\": \"hello\",", status: http.StatusBadRequest},
		{name: "wrong type", body: `{"pipeline":"hello","state":1}`, status: http.StatusBadRequest},
		{name: "array", body: `[{"pipeline":"hello","state":"success"}]`, status: http.StatusBadRequest},
		{name: "empty", body: ``, status: http.StatusBadRequest},
		{name: "two objects", body: "{\"pipeline\":\"hello\",\"state\":\"success\"}\n {}", status: http.StatusBadRequest},
		{name: "no pipeline", body: `{"state":"success"}`, status: http.StatusUnprocessableEntity},
		{name: "unknown pipeline", body: `{"pipeline":"helo","state":"success"}`, status: http.StatusUnprocessableEntity},
		{name: "unknown stage", body: `{"pipeline":"api","stage":"qa","state":"success"}`, status: http.StatusUnprocessableEntity},
		{name: "misspelt stage", body: `{"pipeline":"api","stage":"stagign","state":"success"}`, status: http.StatusUnprocessableEntity},
		{name: "no state", body: `{"pipeline":"hello"}`, status: http.StatusUnprocessableEntity},
		{name: "unknown state", body: `{"pipeline":"hello","state":"sucess"}`, status: http.StatusUnprocessableEntity},
		{name: "control character in title", body: `{"pipeline":"hello","state":"success","title":"\u001b]0;pwned\u0007"}`, status: http.StatusUnprocessableEntity},
		{name: "carriage return in text", body: `{"pipeline":"hello","state":"success","text":"ok\r\n"}`, status: http.StatusUnprocessableEntity},
		{name: "control character in pipeline", body: `{"pipeline":"hel\u0000lo","state":"success"}`, status: http.StatusUnprocessableEntity},
		{name: "url not http", body: `{"pipeline":"hello","state":"success","url":"javascript:alert(1)"}`, status: http.StatusUnprocessableEntity},
		{name: "several errors", body: `{"pipeline":"hello","stage":"qa","state":"done","url":"ftp://ci.example.com/7"}`, status: http.StatusUnprocessableEntity},
		{name: "unsigned", header: http.Header{}, body: `{"pipeline":"hello","state":"success"}`, status: http.StatusUnauthorized},
		{name: "stale", header: signature.Sign(genericSecret, now.Add(-6*time.Minute), []byte(`{"pipeline":"hello","state":"success"}`)),
			body: `{"pipeline":"hello","state":"success"}`, status: http.StatusUnauthorized},
		{name: "wrong secret", header: signature.Sign([]byte("hunter2-wrong"), now, []byte(`{"pipeline":"hello","state":"success"}`)),
			body: `{"pipeline":"hello","state":"success"}`, status: http.StatusUnauthorized},
		{name: "tampered body", header: sign(`{"pipeline":"hello","state":"failure"}`),
			body: `{"pipeline":"hello","state":"success"}`, status: http.StatusUnauthorized},
		{name: "body too large", body: `{"pipeline":"hello","state":"success","text":"` + strings.Repeat("x", 100) + `"}`,
			edit: func(r *webhook.Receiver) { r.MaxGenericBody = 100 }, status: http.StatusRequestEntityTooLarge},
		{name: "not configured", body: `{"pipeline":"hello","state":"success"}`,
			edit: func(r *webhook.Receiver) { r.Secret = nil }, status: http.StatusNotFound},
		{name: "PUT", method: http.MethodPut, body: `{}`, status: http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.edit)
			header := tt.header
			if header == nil {
				header = sign(tt.body)
			}
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			a := f.do(t, method, "/hooks/generic", header, []byte(tt.body))
			if a.status != tt.status {
				t.Errorf("status = %d, want %d", a.status, tt.status)
			}
			golden(t, goldenName("generic", tt.name), a.String())
			if got := f.events.events(); len(got) != 0 {
				t.Errorf("published %+v, want nothing", got)
			}
			if tt.status == http.StatusMethodNotAllowed && a.header.Get("Allow") != "POST" {
				t.Errorf("Allow = %q, want POST", a.header.Get("Allow"))
			}
		})
	}
}

func TestNew(t *testing.T) {
	env := map[string]string{"GITHUB_WEBHOOK_SECRET": "gh", "CHATOPS_WEBHOOK_SECRET": "generic"}
	r := webhook.New(engine.DemoConfig(), &recorder{}, func(k string) string { return env[k] })
	if string(r.GitHubSecret) != "gh" || string(r.Secret) != "generic" {
		t.Errorf("secrets = %q, %q, want gh, generic", r.GitHubSecret, r.Secret)
	}
}
