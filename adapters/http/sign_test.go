package http_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	chatopshttp "github.com/chatops/chatops/adapters/http"
)

// The scheme's own cases are in adapters/internal/signature; these pin that
// this package's names still sign and verify the same way.

func TestSignVector(t *testing.T) {
	// Computed apart from this package (the scheme's own test holds the
	// openssl command): this package's names give the same headers.
	h := chatopshttp.Sign([]byte("shhh-webhook-key"), time.Unix(1531420618, 0), []byte(`{"action":"deploy"}`))
	if got := h.Get(chatopshttp.SignatureHeader) + " " + h.Get(chatopshttp.TimestampHeader); got != "v1=c43cb84ceadc6bcadd54b275ad7162a35b608fee9357c9d3683ac69187fc4287 1531420618" {
		t.Errorf("signature and timestamp = %s", got)
	}
}

func TestVerifyErrors(t *testing.T) {
	secret := []byte("shhh-webhook-key")
	body := []byte(`{"action":"promote","job_id":"J42"}`)
	ts := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name   string
		header http.Header
		body   []byte
		now    time.Time
		window time.Duration
		want   error
		msg    string
	}{
		{name: "stale", header: chatopshttp.Sign(secret, ts, body), body: body, now: ts.Add(chatopshttp.DefaultWindow + time.Second),
			want: chatopshttp.ErrStale, msg: "request timestamp is outside the window: X-Chatops-Timestamp is 5m1s away from now, more than 5m0s"},
		{name: "body changed", header: chatopshttp.Sign(secret, ts, body), body: []byte(`{}`), now: ts,
			want: chatopshttp.ErrBadSignature, msg: "request signature does not match"},
		{name: "unsigned", header: http.Header{}, body: body, now: ts,
			want: chatopshttp.ErrUnsigned, msg: "request is not signed: no X-Chatops-Timestamp header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := chatopshttp.Verify(secret, tt.header, tt.body, tt.now, tt.window)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if err.Error() != tt.msg {
				t.Errorf("Verify error\n got %s\nwant %s", err, tt.msg)
			}
		})
	}
}
