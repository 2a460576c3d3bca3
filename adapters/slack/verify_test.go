package slack_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/chatops/chatops/adapters/slack"
)

// Slack's published example: https://api.slack.com/authentication/verifying-requests-from-slack
const (
	vectorSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	vectorTS     = "1531420618"
	vectorBody   = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	vectorSig    = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
)

func TestVerifySlackVector(t *testing.T) {
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", vectorTS)
	h.Set("X-Slack-Signature", vectorSig)
	at := time.Unix(1531420618, 0)
	tests := []struct {
		name   string
		v      slack.Verifier
		header http.Header
		body   string
		want   error
	}{
		{"the vector, then", slack.Verifier{Secret: vectorSecret, Now: func() time.Time { return at.Add(time.Minute) }}, h, vectorBody, nil},
		{"the vector, today", slack.Verifier{Secret: vectorSecret}, h, vectorBody, slack.ErrStaleTimestamp},
		{"six minutes late", slack.Verifier{Secret: vectorSecret, Now: func() time.Time { return at.Add(6 * time.Minute) }}, h, vectorBody, slack.ErrStaleTimestamp},
		{"from the future", slack.Verifier{Secret: vectorSecret, Now: func() time.Time { return at.Add(-6 * time.Minute) }}, h, vectorBody, slack.ErrStaleTimestamp},
		{"wrong secret", slack.Verifier{Secret: "nope", Now: func() time.Time { return at }}, h, vectorBody, slack.ErrInvalidSignature},
		{"body changed", slack.Verifier{Secret: vectorSecret, Now: func() time.Time { return at }}, h, vectorBody + "x", slack.ErrInvalidSignature},
		{"no headers", slack.Verifier{Secret: vectorSecret, Now: func() time.Time { return at }}, http.Header{}, vectorBody, slack.ErrMissingHeaders},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.v.Verify(tt.header, []byte(tt.body)); err != tt.want {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
	if got := slack.Sign(vectorSecret, at, []byte(vectorBody)).Get("X-Slack-Signature"); got != vectorSig {
		t.Errorf("Sign = %s, want %s", got, vectorSig)
	}
}
