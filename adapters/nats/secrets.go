package nats

import (
	"context"
	"errors"
	"fmt"
	"time"

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

// Watch calls changed with the name of each secret under prefix that any
// process puts or deletes from now on, until ctx ends; it returns nil then.
// Each time a watch (re)starts, the first included, it calls changed with
// "": anything may have changed before it. While NATS cannot be reached it
// calls failed and tries again every second.
func (s *Secrets) Watch(ctx context.Context, prefix string, changed func(name string), failed func(error)) error {
	for ctx.Err() == nil {
		w, err := s.kv.Watch(ctx, prefix+">", jetstream.UpdatesOnly())
		if err == nil {
			changed("")
			watch(ctx, w, changed)
		} else if ctx.Err() == nil {
			failed(err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

// watch passes on w's updates until ctx ends or w closes (its connection
// did), and stops w.
func watch(ctx context.Context, w jetstream.KeyWatcher, changed func(name string)) {
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e != nil {
				changed(e.Key())
			}
		}
	}
}
