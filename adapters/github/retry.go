package github

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

// CheckRetry decides whether a GitHub call is tried again, with the signature
// of retryablehttp.CheckRetry.
type CheckRetry = retryablehttp.CheckRetry

// Backoff says how long to wait before the next try, with the signature of
// retryablehttp.Backoff.
type Backoff = retryablehttp.Backoff

// DefaultCheckRetry retries connection errors, 5xx answers, 429 and GitHub's
// rate limits (a 403 with Retry-After or x-ratelimit-remaining: 0), and
// nothing else: 401, 403, 404 and 422 are answers, not passing failures. A
// certificate the client does not trust is not retried either: it will not
// change within the deadline. A retried POST is safe because the driver
// looks for the job's deployment before each retry (see the package doc).
// It stops when ctx is done.
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
	switch {
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusTooManyRequests:
		return true, nil
	case resp.StatusCode == http.StatusForbidden:
		return rateLimited(resp), nil
	}
	return false, nil
}

// rateLimited says whether a 403 is GitHub's primary or secondary rate limit
// rather than a refusal of the token.
func rateLimited(resp *http.Response) bool {
	return resp.Header.Get("Retry-After") != "" || resp.Header.Get("X-Ratelimit-Remaining") == "0"
}

// DefaultBackoff waits min·2^attempt with up to 50% jitter, capped at max. On
// 429, 503 and rate-limited 403 answers it waits what Retry-After asks, or
// until x-ratelimit-reset when x-ratelimit-remaining is 0, capped at max too:
// the deployment's deadline bounds the whole call anyway.
func DefaultBackoff(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests ||
		resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusForbidden) {
		if wait, ok := askedWait(resp, time.Now()); ok {
			return clamp(wait, 0, max)
		}
	}
	exp := float64(min) * math.Pow(2, float64(attempt))
	if exp >= float64(max) || math.IsInf(exp, 0) {
		exp = float64(max)
	}
	wait := time.Duration(exp)
	if wait > 0 {
		wait += rand.N(wait/2 + 1)
	}
	return clamp(wait, min, max)
}

// askedWait reads how long GitHub asked to wait: Retry-After in seconds, or
// the time until x-ratelimit-reset (epoch seconds) once the limit is spent.
func askedWait(resp *http.Response, now time.Time) (time.Duration, bool) {
	if s := resp.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			return time.Duration(n) * time.Second, true
		}
		if t, err := http.ParseTime(s); err == nil {
			return t.Sub(now), true
		}
	}
	if resp.Header.Get("X-Ratelimit-Remaining") == "0" {
		if n, err := strconv.ParseInt(resp.Header.Get("X-Ratelimit-Reset"), 10, 64); err == nil {
			if wait := time.Unix(n, 0).Sub(now); wait > 0 {
				return wait, true
			}
		}
	}
	return 0, false
}

func clamp(d, lo, hi time.Duration) time.Duration {
	if d < lo {
		d = lo
	}
	if d > hi {
		d = hi
	}
	return d
}
