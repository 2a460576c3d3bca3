package heroku

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/chatops/chatops/adapters/internal/netx"
	"github.com/hashicorp/go-retryablehttp"
)

// CheckRetry decides whether a Heroku call is tried again, with the signature
// of retryablehttp.CheckRetry.
type CheckRetry = retryablehttp.CheckRetry

// Backoff says how long to wait before the next try, with the signature of
// retryablehttp.Backoff.
type Backoff = retryablehttp.Backoff

// DefaultCheckRetry retries 5xx and 429 answers and connection errors, and
// nothing else: 401, 403, 404, 409 and 422 are Heroku's answers, not passing
// failures. A POST whose connection failed after it was sent is not retried,
// since Heroku may have started it (see the package doc); one that never got
// a connection is. It stops when ctx is done.
func DefaultCheckRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) && ue.Op == "Post" && !netx.NotSent(err) {
			return false, nil
		}
		return true, nil
	}
	return resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests, nil
}

// DefaultBackoff waits min·2^attempt plus up to 50% jitter, capped at max. On
// 429 and 503 it waits what Retry-After asks (seconds or an HTTP date),
// capped at max too: the deployment's deadline bounds the whole call anyway.
func DefaultBackoff(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if wait, ok := retryAfter(resp, time.Now()); ok {
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
