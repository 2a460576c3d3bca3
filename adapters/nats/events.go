package nats

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/chatops/chatops/engine"
	"github.com/nats-io/nats.go/jetstream"
)

var _ engine.Events = (*Events)(nil)

// Events settings.
const (
	EventsStream  = "CHATOPS_EVENTS"
	eventsSubject = "chatops.events"
	// EventsMaxBytes caps the events stream; the oldest go first.
	EventsMaxBytes = 1 << 30
	// EventsDedupWindow is how long an event's ID is remembered: a webhook
	// redelivered within it is dropped.
	EventsDedupWindow = 24 * time.Hour
	eventsAckWait     = 30 * time.Second
	// kindHeader marks a change sent to the events stream directly.
	kindHeader = "Chatops-Kind"
	kindChange = "change"
)

// Events is the stream of pipeline events. It sources the ledger's stream, so
// every change appended to the ledger, by whichever process, arrives here
// with its events, in the server and without a process of ours copying it;
// driver progress and CI/CD reports are published to it directly.
type Events struct {
	js jetstream.JetStream
	// Backoff spaces out the redeliveries of an event whose handler failed;
	// a doubling from half a second to a minute when nil.
	Backoff engine.Backoff
}

// Events returns the events stream, creating it to source the ledger from
// now on: a new stream does not replay the ledger's past.
func (c *Conn) Events(ctx context.Context) (*Events, error) {
	if err := c.ensureEvents(ctx); err != nil {
		return nil, err
	}
	c.Store.events.Store(true)
	return &Events{js: c.js}, nil
}

func eventSubject(pipeline string) string { return eventsSubject + "." + token(pipeline) }

// Publish implements engine.Events: the event's ID is its Nats-Msg-Id.
func (e *Events) Publish(ctx context.Context, ev *engine.Event) error {
	if ev.ID == "" || ev.Pipeline == "" {
		return &engine.Error{Code: engine.Internal, Msg: "an event needs an id and a pipeline"}
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return &engine.Error{Code: engine.Internal, Msg: "encoding an event", Err: err}
	}
	if _, err := e.js.Publish(ctx, eventSubject(ev.Pipeline), data, jetstream.WithMsgID(ev.ID)); err != nil {
		return unavailable(fmt.Errorf("publishing event %s: %w", ev.ID, err))
	}
	return nil
}

// decode returns the events a message of the stream holds: one published
// event, or the events of a ledger change.
func decode(m jetstream.Msg) []engine.Event {
	if strings.HasPrefix(m.Subject(), releasesSubject+".") || m.Headers().Get(kindHeader) == kindChange {
		var ch engine.Change
		if json.Unmarshal(m.Data(), &ch) != nil {
			return nil
		}
		return ch.Events
	}
	var ev engine.Event
	if json.Unmarshal(m.Data(), &ev) != nil || ev.Pipeline == "" {
		return nil
	}
	return []engine.Event{ev}
}

func filters(pipeline string) []string {
	if pipeline == "" {
		return []string{releasesSubject + ".>", eventsSubject + ".>"}
	}
	return []string{ledgerSubject(pipeline), eventSubject(pipeline)}
}

// Follow implements engine.Events with an ordered consumer from now on.
func (e *Events) Follow(ctx context.Context, pipeline string, fn func(*engine.Event)) error {
	return e.Watch(ctx, pipeline, nil, fn)
}

// Watch is Follow, calling ready once the events published from then on are
// sure to reach fn.
func (e *Events) Watch(ctx context.Context, pipeline string, ready func(), fn func(*engine.Event)) error {
	cons, err := e.js.OrderedConsumer(ctx, EventsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: filters(pipeline), DeliverPolicy: jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return unavailable(fmt.Errorf("following %s: %w", EventsStream, err))
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		for _, ev := range decode(m) {
			fn(&ev)
		}
	})
	if err != nil {
		return unavailable(fmt.Errorf("following %s: %w", EventsStream, err))
	}
	if ready != nil {
		ready()
	}
	<-ctx.Done()
	cc.Stop()
	<-cc.Closed()
	return nil
}

// Consume implements engine.Events with a durable consumer called name,
// shared by every process and holding one event at a time, so events are
// handled in order. A new consumer starts with the oldest event the stream
// keeps; the notifier's was made with the stream.
func (e *Events) Consume(ctx context.Context, name string, handle func(context.Context, *engine.Event) error) error {
	cons, err := e.js.CreateOrUpdateConsumer(ctx, EventsStream, eventsConsumer(name))
	if err != nil {
		return unavailable(fmt.Errorf("%s consumer: %w", name, err))
	}
	backoff := e.Backoff
	if backoff == nil {
		backoff = defaultEventBackoff
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		stop := keepInProgress(m, eventsAckWait/2)
		defer stop()
		for _, ev := range decode(m) {
			if err := handle(ctx, &ev); err != nil {
				attempt := 1
				if md, err := m.Metadata(); err == nil {
					attempt = int(md.NumDelivered)
				}
				if ctx.Err() != nil {
					_ = m.Nak()
				} else {
					_ = m.NakWithDelay(backoff(attempt))
				}
				return
			}
		}
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = m.DoubleAck(actx)
	}, append(pullOpts, jetstream.PullMaxMessages(1))...)
	if err != nil {
		return unavailable(fmt.Errorf("%s consumer: %w", name, err))
	}
	<-ctx.Done()
	cc.Stop()
	<-cc.Closed()
	return nil
}

// eventsConsumer is the durable consumer called name: every event the
// stream holds, one at a time.
func eventsConsumer(name string) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable: name, Description: "chatops " + name + ": pipeline events, in order",
		DeliverPolicy: jetstream.DeliverAllPolicy, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: eventsAckWait, MaxDeliver: -1, MaxAckPending: 1,
		FilterSubjects: filters(""),
	}
}

func defaultEventBackoff(attempt int) time.Duration {
	return min(500*time.Millisecond<<min(attempt-1, 10), time.Minute)
}
