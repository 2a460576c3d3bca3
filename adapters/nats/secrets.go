package nats

import (
	"context"
	"errors"
	"fmt"

	"github.com/chatops/chatops/engine"
	"github.com/nats-io/nats.go/jetstream"
)

var _ engine.Secrets = (*Secrets)(nil)

// SecretsBucket holds sealed secrets.
const SecretsBucket = "chatops_secrets"

// Secrets keeps sealed values in a KV bucket.
type Secrets struct{ kv jetstream.KeyValue }

// Secrets returns the secrets store, creating its bucket.
func (c *Conn) Secrets(ctx context.Context) (*Secrets, error) {
	kv, err := c.ensureBucket(ctx, SecretsBucket)
	if err != nil {
		return nil, err
	}
	return &Secrets{kv: kv}, nil
}

// Put implements engine.Secrets.
func (s *Secrets) Put(ctx context.Context, name string, sealed []byte) error {
	if _, err := s.kv.Put(ctx, name, sealed); err != nil {
		return unavailable(fmt.Errorf("saving secret %s: %w", name, err))
	}
	return nil
}

// Get implements engine.Secrets.
func (s *Secrets) Get(ctx context.Context, name string) ([]byte, error) {
	e, err := s.kv.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return nil, engine.Errorf(engine.NotFound, "no secret %q", name)
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return e.Value(), nil
}

// Delete implements engine.Secrets: a purge, which keeps no earlier value.
func (s *Secrets) Delete(ctx context.Context, name string) error {
	err := s.kv.Purge(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return nil
	}
	if err != nil {
		return unavailable(fmt.Errorf("deleting secret %s: %w", name, err))
	}
	return nil
}
