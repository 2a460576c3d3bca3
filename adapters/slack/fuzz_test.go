package slack_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/chatops/chatops/adapters/slack"
)

// FuzzEndpoints sends arbitrary bodies and headers to the four Slack endpoints,
// signed or not. Nothing may panic or answer 5xx; an unsigned request is always
// refused.
func FuzzEndpoints(f *testing.F) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e, conn := newEngine(f, confirmConfig)
	q, err := conn.Queue(ctx)
	if err != nil {
		f.Fatal(err)
	}
	inter, err := conn.Interactions(ctx)
	if err != nil {
		f.Fatal(err)
	}
	s := &slack.Server{Engine: e, Queue: q, Verifier: slack.Verifier{Secret: secret}, Interactions: inter, MaxBody: 16 << 10}
	h := s.Handler()
	paths := []string{"/slack/commands", "/slack/interactivity", "/slack/options", "/slack/events"}

	form := url.Values{"user_id": {"U1"}, "command": {"/h"}, "text": {"promote demo"}, "channel_id": {"C1"}}.Encode()
	f.Add(uint8(0), []byte(form), true, "", "")
	f.Add(uint8(0), []byte("ssl_check=1"), true, "", "")
	f.Add(uint8(1), []byte(`payload={"type":"block_actions","user":{"id":"U1"},"actions":[{"block_id":"b","action_id":"chatops_approve","value":"q1"}]}`), true, "", "")
	f.Add(uint8(1), []byte(`payload={"type":"view_submission","user":{"id":"U1"},"view":{"callback_id":"chatops_run","state":{"values":{}}}}`), true, "", "")
	f.Add(uint8(2), []byte(`payload={"type":"block_suggestion","block_id":"pipeline","value":"d"}`), true, "", "")
	f.Add(uint8(3), []byte(`{"type":"url_verification","challenge":"x"}`), true, "", "")
	f.Add(uint8(3), []byte(`{"type":"event_callback","event_id":"E1","event_time":1,"event":{"type":"app_mention","user":"U1","text":"<@UBOT> info demo"}}`), true, "", "")
	f.Add(uint8(0), []byte(form), false, "1531420618", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503")
	f.Fuzz(func(t *testing.T, which uint8, body []byte, sign bool, ts, sig string) {
		path := paths[int(which)%len(paths)]
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		if sign {
			req.Header = slack.Sign(secret, time.Now(), body)
		} else {
			req.Header.Set("X-Slack-Request-Timestamp", ts)
			req.Header.Set("X-Slack-Signature", sig)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch {
		case rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable:
			t.Fatalf("%s answered %d to %q", path, rec.Code, body)
		case !sign && rec.Code < 400 && !sslCheck(path, body, rec):
			t.Fatalf("%s accepted an unsigned request: %d", path, rec.Code)
		}
	})
}

// sslCheck reports whether an unsigned request was Slack's certificate check,
// the one answered without a signature: a slash command form with ssl_check=1
// and no command, answered 200 with nothing.
func sslCheck(path string, body []byte, rec *httptest.ResponseRecorder) bool {
	form, err := url.ParseQuery(string(body))
	return path == "/slack/commands" && err == nil && form.Get("ssl_check") == "1" && form.Get("command") == "" &&
		rec.Code == http.StatusOK && rec.Body.Len() == 0
}
