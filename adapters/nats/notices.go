package nats

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/chatops/chatops/engine"
	"github.com/nats-io/nats.go/jetstream"
)

var (
	_ engine.Notices = (*Notices)(nil)
	_ engine.Threads = (*Threads)(nil)
)

// Notices settings.
const (
	NoticesStream  = "CHATOPS_NOTICES"
	noticesSubject = "chatops.notices"
	// NoticesMaxAge is how long a notice waits for its channel; the
	// notifier gives up on it before.
	NoticesMaxAge = 25 * time.Hour
	noticesPrefix = "notices_"
	// noticesRescan is how often Deliver looks for channels other
	// processes posted to first.
	noticesRescan    = 2 * time.Second
	noticesAckWait   = 30 * time.Second
	ThreadsBucket    = "chatops_threads"
	ThreadTTL        = 90 * 24 * time.Hour
	noticeDrainLimit = 5 * time.Second
)

// Notices is a work-queue stream with a subject and a durable consumer per
// channel. Each consumer holds one notice at a time (MaxAckPending 1) across
// every process, and a notice waiting for its retry stays pending, so a
// channel's notices go out in order at the pace its deliverer keeps, and a
// rate-limited channel holds up no other.
type Notices struct {
	js jetstream.JetStream
	// AckWait is how long a notice whose process died waits before
	// another process takes it.
	AckWait time.Duration

	mu      sync.Mutex
	known   map[string]bool // consumers this process made sure of
	created chan struct{}   // a consumer was made here: look again now
}

// Notices returns the notices queue, creating its stream.
func (c *Conn) Notices(ctx context.Context) (*Notices, error) {
	if _, err := c.ensureStream(ctx, NoticesStream); err != nil {
		return nil, err
	}
	return &Notices{js: c.js, AckWait: noticesAckWait, known: map[string]bool{}, created: make(chan struct{}, 1)}, nil
}

// plainToken reports whether s is 1 to 64 of A-Z, a-z, 0-9, - and _: a
// NATS subject token and consumer name as it is. Every enqueue asks, so it
// is a loop, not a regular expression.
func plainToken(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// channelToken is a workspace or channel id as one subject token and part of
// a consumer name: as it is when plain (Slack's ids are), else hashed.
func channelToken(s string) string {
	if s == "" {
		return "_"
	}
	if plainToken(s) {
		return s
	}
	h := sha256.Sum256([]byte(s))
	return "h" + hex.EncodeToString(h[:12])
}

func noticeSubject(r engine.Route) string {
	return noticesSubject + "." + channelToken(r.Workspace) + "." + channelToken(r.Channel)
}

func noticeConsumer(r engine.Route) string {
	return noticesPrefix + channelToken(r.Workspace) + "_" + channelToken(r.Channel)
}

// Post implements engine.Notices.
func (q *Notices) Post(ctx context.Context, n *engine.Notice) error {
	if n.ID == "" || n.Route.Channel == "" {
		return &engine.Error{Code: engine.Internal, Msg: "a notice needs an id and a channel"}
	}
	if err := q.ensure(ctx, n.Route); err != nil {
		return err
	}
	data, err := json.Marshal(n)
	if err != nil {
		return &engine.Error{Code: engine.Internal, Msg: "encoding a notice", Err: err}
	}
	if _, err := q.js.Publish(ctx, noticeSubject(n.Route), data, jetstream.WithMsgID(n.ID)); err != nil {
		return unavailable(fmt.Errorf("posting notice %s: %w", n.ID, err))
	}
	return nil
}

// ensure makes the channel's consumer, once per process.
func (q *Notices) ensure(ctx context.Context, r engine.Route) error {
	name := noticeConsumer(r)
	q.mu.Lock()
	known := q.known[name]
	q.mu.Unlock()
	if known {
		return nil
	}
	_, err := q.js.CreateOrUpdateConsumer(ctx, NoticesStream, jetstream.ConsumerConfig{
		Durable: name, Description: "chatops notices for " + r.Channel,
		FilterSubject: noticeSubject(r), AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: q.ackWait(), MaxDeliver: -1, MaxAckPending: 1,
	})
	if err != nil {
		return unavailable(fmt.Errorf("notices consumer for %s: %w", r.Channel, err))
	}
	q.mu.Lock()
	q.known[name] = true
	q.mu.Unlock()
	select {
	case q.created <- struct{}{}:
	default:
	}
	return nil
}

func (q *Notices) ackWait() time.Duration {
	if q.AckWait <= 0 {
		return noticesAckWait
	}
	return q.AckWait
}

// Deliver implements engine.Notices: a goroutine per channel consumer,
// found when this process posts to a new channel and every few seconds for
// channels others posted to. It returns once every goroutine has stopped.
func (q *Notices) Deliver(ctx context.Context, deliver func(context.Context, *engine.Notice) engine.Retry) error {
	st, err := q.js.Stream(ctx, NoticesStream)
	if err != nil {
		return unavailable(fmt.Errorf("stream %s: %w", NoticesStream, err))
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	running := map[string]bool{}
	tick := time.NewTicker(noticesRescan)
	defer tick.Stop()
	for {
		names := st.ConsumerNames(ctx)
		for name := range names.Name() {
			if !strings.HasPrefix(name, noticesPrefix) || running[name] {
				continue
			}
			cons, err := st.Consumer(ctx, name)
			if err != nil {
				continue // looked for again at the next scan
			}
			running[name] = true
			wg.Go(func() { q.channel(ctx, cons, deliver) })
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-q.created:
		}
	}
}

// channel delivers one channel's notices until ctx ends.
func (q *Notices) channel(ctx context.Context, cons jetstream.Consumer, deliver func(context.Context, *engine.Notice) engine.Retry) {
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var n engine.Notice
		if err := json.Unmarshal(m.Data(), &n); err != nil {
			_ = m.Term() // unreadable: never deliverable
			return
		}
		if ctx.Err() != nil {
			_ = m.Nak()
			return
		}
		if md, err := m.Metadata(); err == nil {
			n.Attempt = int(md.NumDelivered)
		}
		stop := keepInProgress(m, q.ackWait()/2)
		r := deliver(ctx, &n)
		stop()
		settle(ctx, m, r, q.ackWait())
	}, append(pullOpts, jetstream.PullMaxMessages(1))...)
	if err != nil {
		return
	}
	<-ctx.Done()
	cc.Drain()
	select {
	case <-cc.Closed():
	case <-time.After(noticeDrainLimit):
		cc.Stop()
	}
}

// Threads keeps each release's thread per channel in a KV bucket, under a
// hash of the thread's key.
type Threads struct{ kv jetstream.KeyValue }

// Threads returns the threads store, creating its bucket.
func (c *Conn) Threads(ctx context.Context) (*Threads, error) {
	kv, err := c.ensureBucket(ctx, ThreadsBucket)
	if err != nil {
		return nil, err
	}
	return &Threads{kv: kv}, nil
}

func threadKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:16])
}

// Get implements engine.Threads.
func (t *Threads) Get(ctx context.Context, key string) (*engine.Thread, uint64, error) {
	e, err := t.kv.Get(ctx, threadKey(key))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, engine.Errorf(engine.NotFound, "no thread yet")
	}
	if err != nil {
		return nil, 0, unavailable(err)
	}
	var th engine.Thread
	if err := json.Unmarshal(e.Value(), &th); err != nil {
		return nil, 0, &engine.Error{Code: engine.Internal, Msg: "a thread record is unreadable", Err: err}
	}
	return &th, e.Revision(), nil
}

// Put implements engine.Threads.
func (t *Threads) Put(ctx context.Context, key string, th *engine.Thread, rev uint64) (uint64, error) {
	data, err := json.Marshal(th)
	if err != nil {
		return 0, &engine.Error{Code: engine.Internal, Msg: "encoding a thread", Err: err}
	}
	var n uint64
	if rev == 0 {
		n, err = t.kv.Create(ctx, threadKey(key), data)
	} else {
		n, err = t.kv.Update(ctx, threadKey(key), data, rev)
	}
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch),
		errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence:
		return 0, engine.Errorf(engine.Conflict, "the thread changed meanwhile")
	case err != nil:
		return 0, unavailable(err)
	}
	return n, nil
}
