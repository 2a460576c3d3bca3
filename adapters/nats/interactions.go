package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/chatops/chatops/engine"
	"github.com/nats-io/nats.go/jetstream"
)

var _ engine.Interactions = (*Interactions)(nil)

// InteractionsBucket keeps pending confirmations; entries expire after the
// interactions retention (Retention.Interactions) whatever their own
// deadline says.
const InteractionsBucket = "chatops_interactions"

// Interactions keeps pending questions in a KV bucket with a TTL.
type Interactions struct{ kv jetstream.KeyValue }

// Interactions returns the store of pending questions, creating its bucket.
func (c *Conn) Interactions(ctx context.Context) (*Interactions, error) {
	kv, err := c.ensureBucket(ctx, InteractionsBucket)
	if err != nil {
		return nil, err
	}
	return &Interactions{kv: kv}, nil
}

// Put implements engine.Interactions.
func (s *Interactions) Put(ctx context.Context, i *engine.Interaction) error {
	data, err := json.Marshal(i)
	if err != nil {
		return &engine.Error{Code: engine.Internal, Msg: "encoding an interaction", Err: err}
	}
	if _, err := s.kv.Create(ctx, i.ID, data); err != nil {
		return unavailable(fmt.Errorf("saving interaction %s: %w", i.ID, err))
	}
	return nil
}

func (s *Interactions) get(ctx context.Context, id string) (*engine.Interaction, uint64, error) {
	e, err := s.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return nil, 0, engine.Errorf(engine.NotFound, "this question was already answered, or it expired")
	}
	if err != nil {
		return nil, 0, unavailable(err)
	}
	var i engine.Interaction
	if err := json.Unmarshal(e.Value(), &i); err != nil {
		return nil, 0, &engine.Error{Code: engine.Internal, Msg: "interaction " + id + " is unreadable", Err: err}
	}
	return &i, e.Revision(), nil
}

// Get implements engine.Interactions.
func (s *Interactions) Get(ctx context.Context, id string) (*engine.Interaction, error) {
	i, _, err := s.get(ctx, id)
	return i, err
}

// Take implements engine.Interactions: a delete bound to the revision read,
// so of two clicks at once only one takes it.
func (s *Interactions) Take(ctx context.Context, id string) (*engine.Interaction, error) {
	i, rev, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.kv.Delete(ctx, id, jetstream.LastRevision(rev)); err != nil {
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
			return nil, engine.Errorf(engine.NotFound, "this question was already answered")
		}
		return nil, unavailable(err)
	}
	return i, nil
}

// List returns every pending question, for sweeping those past their
// deadline; the bucket holds only the questions of its retention.
func (s *Interactions) List(ctx context.Context) ([]*engine.Interaction, error) {
	keys, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	var out []*engine.Interaction
	for k := range keys.Keys() {
		i, _, err := s.get(ctx, k)
		if engine.ErrorCode(err) == engine.NotFound {
			continue // answered meanwhile
		}
		if err != nil {
			_ = keys.Stop()
			return nil, err
		}
		out = append(out, i)
	}
	return out, nil
}
