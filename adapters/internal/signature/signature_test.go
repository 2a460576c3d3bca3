package signature_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/chatops/chatops/adapters/internal/signature"
)

func TestSignVector(t *testing.T) {
	// Computed apart from this package:
	//   printf 'v1:1531420618:{"action":"deploy"}' | openssl dgst -sha256 -hmac 'shhh-webhook-key'
	const want = "v1=c43cb84ceadc6bcadd54b275ad7162a35b608fee9357c9d3683ac69187fc4287"
	secret := []byte("shhh-webhook-key")
	body := []byte(`{"action":"deploy"}`)
	ts := time.Unix(1531420618, 0)
	h := signature.Sign(secret, ts, body)
	if got := h.Get(signature.SignatureHeader); got != want {
		t.Errorf("signature = %s, want %s", got, want)
	}
	if got := h.Get(signature.TimestampHeader); got != "1531420618" {
		t.Errorf("timestamp = %s, want 1531420618", got)
	}
	hand := http.Header{}
	hand.Set("X-Chatops-Timestamp", "1531420618")
	hand.Set("X-Chatops-Signature", want)
	if err := signature.Verify(secret, hand, body, ts.Add(4*time.Minute), 0); err != nil {
		t.Errorf("Verify(hand-computed vector) = %v, want nil", err)
	}
}

func TestVerify(t *testing.T) {
	secret := []byte("shhh-webhook-key")
	body := []byte(`{"action":"promote","job_id":"J42"}`)
	ts := time.Unix(1_700_000_000, 0)
	signed := func(edit func(http.Header)) http.Header {
		h := signature.Sign(secret, ts, body)
		if edit != nil {
			edit(h)
		}
		return h
	}
	tests := []struct {
		name   string
		secret []byte
		header http.Header
		body   []byte
		now    time.Time
		window time.Duration
		want   error
		msg    string
	}{
		{name: "signed now", header: signed(nil), now: ts},
		{name: "within default window", header: signed(nil), now: ts.Add(5 * time.Minute)},
		{name: "clock behind within window", header: signed(nil), now: ts.Add(-5 * time.Minute)},
		{name: "stale", header: signed(nil), now: ts.Add(5*time.Minute + time.Second), want: signature.ErrStale,
			msg: "request timestamp is outside the window: X-Chatops-Timestamp is 5m1s away from now, more than 5m0s"},
		{name: "narrow window", header: signed(nil), now: ts.Add(2 * time.Minute), window: time.Minute, want: signature.ErrStale,
			msg: "request timestamp is outside the window: X-Chatops-Timestamp is 2m0s away from now, more than 1m0s"},
		{name: "other secret", secret: []byte("another-key"), header: signed(nil), now: ts, want: signature.ErrBadSignature,
			msg: "request signature does not match"},
		{name: "body changed", header: signed(nil), body: []byte(`{"action":"rollback","job_id":"J42"}`), now: ts, want: signature.ErrBadSignature,
			msg: "request signature does not match"},
		{name: "timestamp changed", header: signed(func(h http.Header) { h.Set("X-Chatops-Timestamp", "1700000001") }), now: ts, want: signature.ErrBadSignature,
			msg: "request signature does not match"},
		{name: "no timestamp", header: signed(func(h http.Header) { h.Del("X-Chatops-Timestamp") }), now: ts, want: signature.ErrUnsigned,
			msg: "request is not signed: no X-Chatops-Timestamp header"},
		{name: "bad timestamp", header: signed(func(h http.Header) { h.Set("X-Chatops-Timestamp", "yesterday") }), now: ts, want: signature.ErrUnsigned,
			msg: `request is not signed: X-Chatops-Timestamp "yesterday" is not Unix seconds`},
		{name: "no signature", header: signed(func(h http.Header) { h.Del("X-Chatops-Signature") }), now: ts, want: signature.ErrUnsigned,
			msg: "request is not signed: no X-Chatops-Signature header"},
		{name: "Slack's v0", header: signed(func(h http.Header) { h.Set("X-Chatops-Signature", "v0=00") }), now: ts, want: signature.ErrUnsigned,
			msg: `request is not signed: X-Chatops-Signature does not start with "v1="`},
		{name: "not hex", header: signed(func(h http.Header) { h.Set("X-Chatops-Signature", "v1=zz") }), now: ts, want: signature.ErrUnsigned,
			msg: "request is not signed: X-Chatops-Signature is not hex"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := secret
			if tt.secret != nil {
				s = tt.secret
			}
			b := body
			if tt.body != nil {
				b = tt.body
			}
			err := signature.Verify(s, tt.header, b, tt.now, tt.window)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if err != nil && err.Error() != tt.msg {
				t.Errorf("Verify error\n got %s\nwant %s", err, tt.msg)
			}
		})
	}
}
