package http

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// CheckRetry decides whether a request is tried again, with the signature
// of retryablehttp.CheckRetry.
type CheckRetry = retryablehttp.CheckRetry

// Backoff says how long to wait before the next try, with the signature of
// retryablehttp.Backoff.
type Backoff = retryablehttp.Backoff

// DefaultCheckRetry retries connection errors and 408, 429 and 5xx answers,
// and nothing else: another 4xx, or a 501 (the receiver does not make this
// kind of change), is the receiver's answer, not a passing failure. A
// retried POST is safe because it carries the same Idempotency-Key. A
// certificate the client does not trust is not retried: it will not change
// within the deadline. It stops when ctx is done.
func DefaultCheckRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		var ua x509.UnknownAuthorityError
		var cv *tls.CertificateVerificationError
		if errors.As(err, &ua) || errors.As(err, &cv) {
			return false, nil
		}
		return true, nil
	}
	switch s := resp.StatusCode; {
	case s == http.StatusRequestTimeout, s == http.StatusTooManyRequests:
		return true, nil
	case s >= 500 && s != http.StatusNotImplemented:
		return true, nil
	}
	return false, nil
}

// DefaultBackoff waits min·2^attempt plus up to 50% jitter, capped at max.
// When a retried answer carries Retry-After (seconds or an HTTP date), as
// 429 and 503 do, it waits what that asks instead, capped at max too: the
// deployment's deadline bounds the whole call anyway.
func DefaultBackoff(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil {
		if wait, ok := retryAfter(resp, time.Now()); ok {
			return clamp(wait, 0, max)
		}
	}
	exp := float64(min) * math.Pow(2, float64(attempt))
	if exp >= float64(max) || math.IsInf(exp, 0) || math.IsNaN(exp) {
		exp = float64(max)
	}
	wait := time.Duration(exp)
	if wait > 0 {
		wait += rand.N(wait/2 + 1)
	}
	return clamp(wait, min, max)
}

// retryAfter reads the Retry-After header, in seconds or as an HTTP date.
func retryAfter(resp *http.Response, now time.Time) (time.Duration, bool) {
	s := resp.Header.Get("Retry-After")
	if s == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(s); err == nil {
		return t.Sub(now), true
	}
	return 0, false
}

func clamp(d, lo, hi time.Duration) time.Duration {
	return min(max(d, lo), hi)
}
