package nats

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chatops/chatops/engine"
	"github.com/nats-io/nats.go/jetstream"
)

var _ engine.Claims = (*Claims)(nil)

// Claims settings.
const (
	ClaimsBucket = "chatops_claims"
	// ClaimTTL outlasts the queue's deduplication window, within which a
	// job's delivery can still arrive.
	ClaimTTL = time.Hour
)

// Claims keeps, per job, who took it first: a worker about to run it, or its
// gateway refusing it. A bucket of its own, apart from the job records, so
// that a refusal can be recorded when the node leading those died.
type Claims struct{ kv jetstream.KeyValue }

// Claims returns the claims, creating their bucket.
func (c *Conn) Claims(ctx context.Context) (*Claims, error) {
	kv, err := c.ensureBucket(ctx, ClaimsBucket)
	if err != nil {
		return nil, err
	}
	return &Claims{kv: kv}, nil
}

// Claim implements engine.Claims.
func (s *Claims) Claim(ctx context.Context, job, by string) (string, error) {
	_, err := s.kv.Create(ctx, job, []byte(by))
	if err == nil {
		return by, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return "", unavailable(fmt.Errorf("claiming job %s: %w", job, err))
	}
	e, err := s.kv.Get(ctx, job)
	if err != nil {
		return "", unavailable(fmt.Errorf("reading the claim of job %s: %w", job, err))
	}
	return string(e.Value()), nil
}
