package http

import (
	"net/http"
	"time"

	"github.com/chatops/chatops/adapters/internal/signature"
)

// The headers that sign a request: the v1 scheme of package
// adapters/internal/signature, which the webhook receiver checks too.
const (
	TimestampHeader = signature.TimestampHeader
	SignatureHeader = signature.SignatureHeader
	// Version prefixes the signed string and the signature.
	Version = signature.Version
	// DefaultWindow is how far a request's timestamp may be from the
	// receiver's clock, either way, when Verify is given no window.
	DefaultWindow = signature.DefaultWindow
)

// Errors of Verify, wrapped with the detail.
var (
	// ErrUnsigned says a header is missing or malformed.
	ErrUnsigned = signature.ErrUnsigned
	// ErrStale says the timestamp is outside the window: a replay, or a
	// clock that is off.
	ErrStale = signature.ErrStale
	// ErrBadSignature says the signature does not match: another secret, or
	// a body changed on the way.
	ErrBadSignature = signature.ErrBadSignature
)

// Sign returns the headers that sign body at ts with secret: the Unix
// seconds of ts in X-Chatops-Timestamp and "v1=" + the hex HMAC-SHA256 of
// "v1:" + timestamp + ":" + body in X-Chatops-Signature.
func Sign(secret []byte, ts time.Time, body []byte) http.Header {
	return signature.Sign(secret, ts, body)
}

// Verify checks that header signs body with secret, at a timestamp within
// window of now (DefaultWindow when window is 0 or less). It compares in
// constant time. Its errors wrap ErrUnsigned, ErrStale or ErrBadSignature.
func Verify(secret []byte, header http.Header, body []byte, now time.Time, window time.Duration) error {
	return signature.Verify(secret, header, body, now, window)
}
