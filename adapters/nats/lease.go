package nats

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Leases settings.
const (
	LeasesBucket = "chatops_leases"
	// DefaultLeaseTTL is how long a lease outlives its holder: periodic
	// work moves to another process within it.
	DefaultLeaseTTL = 10 * time.Second
)

// Leases give a piece of periodic work to one process at a time: a key in a
// KV bucket saying who holds it and until when, written by compare-and-set
// on its revision. The holder renews it every third of the TTL; the others
// look every tenth and take it, by compare-and-set again, once its time is
// up. The deadline is in the lease rather than in the server's expiry of
// keys, so the work moves within the TTL of its holder's death, not when
// the server next sweeps expired keys.
type Leases struct {
	kv  jetstream.KeyValue
	ttl time.Duration
	now func() time.Time
}

// lease is a lease's value.
type lease struct {
	Holder string    `json:"holder"`
	Until  time.Time `json:"until"`
}

// Leases returns the leases, creating their bucket; ttl is DefaultLeaseTTL
// when zero. Processes sharing a lease should use the same TTL.
func (c *Conn) Leases(ctx context.Context, ttl time.Duration) (*Leases, error) {
	if ttl <= 0 {
		ttl = DefaultLeaseTTL
	}
	kv, err := c.ensureBucket(ctx, LeasesBucket)
	if err != nil {
		return nil, err
	}
	return &Leases{kv: kv, ttl: ttl, now: time.Now}, nil
}

// take makes holder the holder of name if nobody holds it or its time is up,
// and returns the revision written; ok is false when another holds it.
func (l *Leases) take(ctx context.Context, name, holder string) (rev uint64, ok bool) {
	val, _ := json.Marshal(lease{Holder: holder, Until: l.now().Add(l.ttl - l.ttl/10)})
	e, err := l.kv.Get(ctx, name)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		rev, err = l.kv.Create(ctx, name, val)
		return rev, err == nil
	case err != nil:
		return 0, false
	}
	var cur lease
	if json.Unmarshal(e.Value(), &cur) == nil && cur.Holder != holder && l.now().Before(cur.Until) {
		return 0, false
	}
	rev, err = l.kv.Update(ctx, name, val, e.Revision())
	return rev, err == nil
}

// Run calls work each time this process takes the lease called name, as
// holder, with a context that ends when the lease is lost (taken by another,
// or not renewed in time) or ctx ends; held is told of every change. Run
// returns when ctx ends, after work has, and hands the lease back.
func (l *Leases) Run(ctx context.Context, name, holder string, work func(context.Context), held func(bool)) {
	every, look := l.ttl/3, l.ttl/10
	for ctx.Err() == nil {
		rev, ok := l.take(ctx, name, holder)
		if !ok {
			select {
			case <-ctx.Done():
			case <-time.After(look):
			}
			continue
		}
		held(true)
		wctx, lost := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); work(wctx) }()
		renewed := l.now()
		tick := time.NewTicker(every)
	renew:
		for {
			select {
			case <-ctx.Done():
				break renew
			case <-done:
				break renew
			case <-tick.C:
				val, _ := json.Marshal(lease{Holder: holder, Until: l.now().Add(l.ttl - l.ttl/10)})
				rctx, cancel := context.WithTimeout(ctx, every)
				next, err := l.kv.Update(rctx, name, val, rev)
				cancel()
				switch {
				case err == nil:
					rev, renewed = next, l.now()
				case l.now().Sub(renewed) >= l.ttl-l.ttl/5:
					// Not renewed in time: another may take it any moment.
					break renew
				case errors.Is(err, jetstream.ErrKeyRevisionMismatch), errors.Is(err, jetstream.ErrKeyExists):
					// Taken over. A replicated bucket says so with
					// another code than a single server, which only
					// ErrKeyRevisionMismatch covers.
					break renew
				}
			}
		}
		tick.Stop()
		lost()
		<-done
		held(false)
		if ctx.Err() != nil {
			// Hand the lease over at once rather than after the TTL.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			_ = l.kv.Delete(dctx, name, jetstream.LastRevision(rev))
			cancel()
		}
	}
}
