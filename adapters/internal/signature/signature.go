// Package signature is the v1 request signing the adapters share: the http
// deploy driver signs what it posts with it, and the webhook receiver checks
// the reports it is sent. It is Slack's v0 scheme under another name:
//
//	X-Chatops-Timestamp: 1700000000
//	X-Chatops-Signature: v1=<hex HMAC-SHA256 of "v1:1700000000:" + body>
package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers that sign a request.
const (
	TimestampHeader = "X-Chatops-Timestamp"
	SignatureHeader = "X-Chatops-Signature"
	// Version prefixes the signed string and the signature.
	Version = "v1"
	// DefaultWindow is how far a request's timestamp may be from the
	// receiver's clock, either way, when Verify is given no window.
	DefaultWindow = 5 * time.Minute
)

// Errors of Verify, wrapped with the detail.
var (
	// ErrUnsigned says a header is missing or malformed.
	ErrUnsigned = errors.New("request is not signed")
	// ErrStale says the timestamp is outside the window: a replay, or a
	// clock that is off.
	ErrStale = errors.New("request timestamp is outside the window")
	// ErrBadSignature says the signature does not match: another secret, or
	// a body changed on the way.
	ErrBadSignature = errors.New("request signature does not match")
)

// Sign returns the headers that sign body at ts with secret: the Unix
// seconds of ts in X-Chatops-Timestamp and "v1=" + the hex HMAC-SHA256 of
// "v1:" + timestamp + ":" + body in X-Chatops-Signature.
func Sign(secret []byte, ts time.Time, body []byte) http.Header {
	stamp := strconv.FormatInt(ts.Unix(), 10)
	h := make(http.Header, 2)
	h[TimestampHeader] = []string{stamp}
	h[SignatureHeader] = []string{Version + "=" + hex.EncodeToString(mac(secret, stamp, body))}
	return h
}

func mac(secret []byte, stamp string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(Version + ":" + stamp + ":"))
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks that header signs body with secret, at a timestamp within
// window of now (DefaultWindow when window is 0 or less). It compares in
// constant time. Its errors wrap ErrUnsigned, ErrStale or ErrBadSignature,
// and never quote the signature.
func Verify(secret []byte, header http.Header, body []byte, now time.Time, window time.Duration) error {
	if window <= 0 {
		window = DefaultWindow
	}
	stamp := header.Get(TimestampHeader)
	if stamp == "" {
		return fmt.Errorf("%w: no %s header", ErrUnsigned, TimestampHeader)
	}
	sec, err := strconv.ParseInt(stamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s %q is not Unix seconds", ErrUnsigned, TimestampHeader, stamp)
	}
	if skew := now.Sub(time.Unix(sec, 0)).Abs(); skew > window {
		return fmt.Errorf("%w: %s is %s away from now, more than %s", ErrStale, TimestampHeader, skew.Truncate(time.Second), window)
	}
	sig := header.Get(SignatureHeader)
	if sig == "" {
		return fmt.Errorf("%w: no %s header", ErrUnsigned, SignatureHeader)
	}
	hexed, ok := strings.CutPrefix(sig, Version+"=")
	if !ok {
		return fmt.Errorf("%w: %s does not start with %q", ErrUnsigned, SignatureHeader, Version+"=")
	}
	got, err := hex.DecodeString(hexed)
	if err != nil {
		return fmt.Errorf("%w: %s is not hex", ErrUnsigned, SignatureHeader)
	}
	if !hmac.Equal(got, mac(secret, stamp, body)) {
		return ErrBadSignature
	}
	return nil
}
