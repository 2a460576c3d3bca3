package main

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

// TestSignSlackVector signs Slack's published example
// (https://api.slack.com/authentication/verifying-requests-from-slack).
func TestSignSlackVector(t *testing.T) {
	const body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	h := http.Header{}
	sign(h, "8f742231b10e8888abcd99yyyzzz85a5", time.Unix(1531420618, 0), body)
	if got, want := h.Get("X-Slack-Request-Timestamp"), "1531420618"; got != want {
		t.Errorf("timestamp %q, want %q", got, want)
	}
	if got, want := h.Get("X-Slack-Signature"), "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"; got != want {
		t.Errorf("signature %q, want %q", got, want)
	}
}

func TestSlashBody(t *testing.T) {
	a, err := url.ParseQuery(slashBody(42, 7, "U1"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := url.ParseQuery(slashBody(42, 8, "U1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ field, want string }{
		{"team_id", "T0BENCH01"},
		{"channel_id", "C0BENCH01"},
		{"user_id", "U1"},
		{"command", "/h"},
		{"text", "promote demo to staging"},
		{"response_url", "https://hooks.slack.com/commands/T0BENCH01/7.42/bench7.42"},
		{"trigger_id", "7.42.bench7.42"},
	} {
		t.Run(tt.field, func(t *testing.T) {
			if got := a.Get(tt.field); got != tt.want {
				t.Errorf("%s = %q, want %q", tt.field, got, tt.want)
			}
		})
	}
	// Command 7 of another run is another command.
	c, err := url.ParseQuery(slashBody(43, 7, "U1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"response_url", "trigger_id"} {
		if a.Get(f) == b.Get(f) {
			t.Errorf("commands 7 and 8 share %s %q", f, a.Get(f))
		}
		if a.Get(f) == c.Get(f) {
			t.Errorf("command 7 of two runs shares %s %q", f, a.Get(f))
		}
	}
}
