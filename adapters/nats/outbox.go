package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/chatops/chatops/engine"
	nc "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

var _ engine.Outbox = (*Outbox)(nil)

// Outbox settings.
const (
	OutboxStream      = "CHATOPS_OUTBOX"
	outboxSubject     = "chatops.outbox"
	deliverConsumer   = "deliverers"
	defaultOutboxWait = 30 * time.Second
	// defaultDeliverers is how many answers one process sends at a time.
	defaultDeliverers = 32
	// defaultMaxAckPending counts the answers waiting for a delayed retry
	// too (JetStream keeps a naked message pending until its delay ends), so
	// it is high: a few thousand rate-limited answers must not hold back the
	// others.
	defaultMaxAckPending = 100_000
	// drainWait bounds how long shutdown waits to hand buffered deliveries
	// back; past it they come back after AckWait.
	drainWait = 5 * time.Second
	// ackAttempt bounds one attempt at acknowledging a message.
	ackAttempt = 2 * time.Second
)

// Outbox is a work-queue stream of answers on their way. Each delivery has its
// own schedule: a retry is a delayed redelivery (NakWithDelay), so a held
// answer occupies no worker and delays no other answer.
type Outbox struct {
	js jetstream.JetStream
	// AckWait is how long a process may hold a delivery before it is given to
	// another: a delivery whose process died comes back after it.
	AckWait time.Duration
	// Workers is how many deliveries one process runs at a time.
	Workers int
	// MaxAckPending bounds the deliveries in flight or waiting for a retry,
	// across all processes.
	MaxAckPending int
	// Grace is how long the attempts under way may finish once Deliver's
	// context ends; after it they are cut short and handed back.
	Grace time.Duration
}

// Outbox returns the answers' outbox, creating its stream.
func (c *Conn) Outbox(ctx context.Context) (*Outbox, error) {
	o := &Outbox{js: c.js, AckWait: defaultOutboxWait, Workers: defaultDeliverers, MaxAckPending: defaultMaxAckPending, Grace: 15 * time.Second}
	if _, err := c.ensureStream(ctx, OutboxStream); err != nil {
		return nil, err
	}
	return o, nil
}

// Post implements engine.Outbox; the delivery ID is the Nats-Msg-Id, so a
// second post of one answer within DedupWindow is dropped.
func (o *Outbox) Post(ctx context.Context, d *engine.Delivery) error {
	if d.ID == "" {
		return &engine.Error{Code: engine.Internal, Msg: "a delivery without an id cannot be deduplicated"}
	}
	data, err := json.Marshal(d)
	if err != nil {
		return &engine.Error{Code: engine.Internal, Msg: "encoding a delivery", Err: err}
	}
	if _, err := o.js.Publish(ctx, outboxSubject, data, jetstream.WithMsgID(d.ID)); err != nil {
		return unavailable(fmt.Errorf("posting answer %s: %w", d.ID, err))
	}
	return nil
}

// Deliver implements engine.Outbox with a durable pull consumer shared by
// every process. The consumer hands messages over one at a time; a pool of
// Workers goroutines delivers them. When ctx ends, the deliveries not started
// are handed back at once; those under way get Grace to finish (cut short, a
// post that reached Slack would look failed and be made again), then are cut
// short and handed back. Deliver returns after every goroutine it started has.
func (o *Outbox) Deliver(ctx context.Context, deliver func(context.Context, *engine.Delivery) engine.Retry) error {
	workers := max(o.Workers, 1)
	cons, err := o.js.CreateOrUpdateConsumer(ctx, OutboxStream, jetstream.ConsumerConfig{
		Durable: deliverConsumer, Description: "chatops answer deliverers",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: o.ackWait(),
		// Deliverers give up by their own deadline, and say so.
		MaxDeliver: -1, MaxAckPending: max(o.MaxAckPending, workers),
	})
	if err != nil {
		return unavailable(fmt.Errorf("outbox consumer: %w", err))
	}

	attempts, cutShort := context.WithCancel(context.WithoutCancel(ctx))
	defer cutShort()
	go func() {
		select {
		case <-ctx.Done():
		case <-attempts.Done():
			return
		}
		t := time.NewTimer(o.Grace)
		defer t.Stop()
		select {
		case <-t.C:
			cutShort()
		case <-attempts.Done():
		}
	}()
	work := make(chan jetstream.Msg)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for m := range work {
				o.handle(attempts, m, deliver)
			}
		})
	}
	// Stop is called once at most, after which nothing sends on work.
	stopWorkers := sync.OnceFunc(func() { close(work); wg.Wait() })
	defer stopWorkers()

	cc, err := cons.Consume(func(m jetstream.Msg) {
		if ctx.Err() != nil {
			_ = m.Nak() // shutting down: another process may take it now
			return
		}
		// Keep a delivery waiting for a free worker ours: past AckWait it
		// would be given to another process too, and posted twice.
		tick := time.NewTicker(o.ackWait() / 2)
		defer tick.Stop()
		for {
			select {
			case work <- m:
				return
			case <-ctx.Done():
				_ = m.Nak()
				return
			case <-tick.C:
				_ = m.InProgress()
			}
		}
	}, append(pullOpts, jetstream.PullMaxMessages(workers))...)
	if err != nil {
		return unavailable(fmt.Errorf("outbox consumer: %w", err))
	}
	<-ctx.Done()
	// Drain runs the callback on what is buffered, which hands it back.
	cc.Drain()
	select {
	case <-cc.Closed():
	case <-time.After(drainWait):
		cc.Stop() // the connection is gone; the server redelivers after AckWait
	}
	stopWorkers()
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil
	}
	return ctx.Err()
}

// handle runs one delivery attempt and settles its message: acked when done,
// naked with the asked delay otherwise, naked at once when cut short by
// shutdown.
func (o *Outbox) handle(ctx context.Context, m jetstream.Msg, deliver func(context.Context, *engine.Delivery) engine.Retry) {
	var d engine.Delivery
	if err := json.Unmarshal(m.Data(), &d); err != nil {
		_ = m.Term() // unreadable: never deliverable
		return
	}
	if md, err := m.Metadata(); err == nil {
		d.Attempt = int(md.NumDelivered)
		if d.Created.IsZero() {
			d.Created = md.Timestamp
		}
	}
	// Keep the delivery ours while an attempt outlasts AckWait (several
	// routes, each with its own timeout).
	_ = m.InProgress()
	stop := keepInProgress(m, o.ackWait()/2)
	r := deliver(ctx, &d)
	stop()
	settle(ctx, m, r, o.ackWait())
}

// settle ends a delivery attempt as r asks: acked when done, naked with the
// asked delay otherwise, naked at once when ctx ended (shutting down).
// ackWait is the consumer's: how long an ack may keep being tried.
func settle(ctx context.Context, m jetstream.Msg, r engine.Retry, ackWait time.Duration) {
	switch {
	case r.After <= 0:
		ackDone(ctx, m, ackWait)
	case ctx.Err() != nil:
		_ = m.Nak()
	default:
		_ = m.NakWithDelay(r.After)
	}
}

// ackDone acks a message whose work is done, waiting for the server to take
// the ack and trying again while it cannot: an ack lost on the way (the
// consumer's leader died and another is being elected, which takes seconds)
// gives the message to a process again once AckWait has passed, and an
// answer already posted would be posted twice. It starts no attempt past
// ackWait, about as long as the message stays this process's (a later ack
// still settles it, should it not have been given out again), nor past 5 s
// once ctx ended; each attempt takes ackAttempt at most.
func ackDone(ctx context.Context, m jetstream.Msg, ackWait time.Duration) {
	start := time.Now()
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ackAttempt)
		err := m.DoubleAck(actx)
		cancel()
		limit := ackWait
		if ctx.Err() != nil {
			limit = min(limit, 5*time.Second)
		}
		wait := min(time.Duration(attempt)*100*time.Millisecond, 500*time.Millisecond)
		if err == nil || errors.Is(err, jetstream.ErrMsgAlreadyAckd) || errors.Is(err, nc.ErrConnectionClosed) ||
			time.Since(start)+wait >= limit {
			return
		}
		time.Sleep(wait)
	}
}

func (o *Outbox) ackWait() time.Duration {
	if o.AckWait <= 0 {
		return defaultOutboxWait
	}
	return o.AckWait
}
