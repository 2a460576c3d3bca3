package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/chatops/chatops/engine"
	"github.com/nats-io/nats.go/jetstream"
)

var _ engine.Queue = (*Queue)(nil)

// Queue settings.
const (
	JobsStream     = "CHATOPS_JOBS"
	jobsSubject    = "chatops.jobs"
	workerConsumer = "workers"
	// DedupWindow outlasts Slack's retries, which come up to 5 minutes later.
	DedupWindow = 10 * time.Minute
	// MaxDeliver bounds how often one job is tried.
	MaxDeliver = 5
)

// retryDelays space out the deliveries of a failing job.
var retryDelays = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute}

// Queue is a work-queue stream: each job goes to one worker, and is removed
// once acknowledged.
type Queue struct {
	js       jetstream.JetStream
	replicas int
	// AckWait is how long a worker may run a job before it is redelivered.
	AckWait time.Duration
}

// Queue returns the job queue, creating its stream and worker consumer.
func (c *Conn) Queue(ctx context.Context) (*Queue, error) {
	q := &Queue{js: c.js, AckWait: 2 * time.Minute}
	if err := c.stream(ctx, jetstream.StreamConfig{
		Name: JobsStream, Description: "chatops jobs waiting for a worker",
		Subjects: []string{jobsSubject}, Retention: jetstream.WorkQueuePolicy,
		Storage: jetstream.FileStorage, Duplicates: DedupWindow, Replicas: c.replicas,
	}); err != nil {
		return nil, err
	}
	return q, nil
}

// Enqueue implements engine.Queue; the job ID is the Nats-Msg-Id.
func (q *Queue) Enqueue(ctx context.Context, j *engine.QueuedJob) (bool, error) {
	data, err := json.Marshal(j)
	if err != nil {
		return false, &engine.Error{Code: engine.Internal, Msg: "encoding a job", Err: err}
	}
	ack, err := q.js.Publish(ctx, jobsSubject, data, jetstream.WithMsgID(j.ID))
	if err != nil {
		return false, unavailable(fmt.Errorf("enqueueing job %s: %w", j.ID, err))
	}
	return ack.Duplicate, nil
}

// Work implements engine.Queue with a durable pull consumer shared by every
// worker process.
func (q *Queue) Work(ctx context.Context, handle func(context.Context, *engine.QueuedJob) error) error {
	// A job whose worker died is delivered again after AckWait, then later
	// and later; a job whose handler failed is naked with retryDelays.
	backoff := make([]time.Duration, MaxDeliver-1)
	for i := range backoff {
		backoff[i] = q.AckWait << i
	}
	cons, err := q.js.CreateOrUpdateConsumer(ctx, JobsStream, jetstream.ConsumerConfig{
		Durable: workerConsumer, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: q.AckWait, MaxDeliver: MaxDeliver, BackOff: backoff,
	})
	if err != nil {
		return unavailable(fmt.Errorf("job consumer: %w", err))
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var j engine.QueuedJob
		if err := json.Unmarshal(m.Data(), &j); err != nil {
			_ = m.Term() // unreadable: never deliverable
			return
		}
		if md, err := m.Metadata(); err == nil {
			j.Attempt = int(md.NumDelivered)
		}
		// Keep the job ours while it runs longer than AckWait.
		stop := make(chan struct{})
		go func() {
			t := time.NewTicker(q.AckWait / 2)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					_ = m.InProgress()
				}
			}
		}()
		err := handle(ctx, &j)
		close(stop)
		if err == nil {
			_ = m.DoubleAck(ctx)
			return
		}
		delay := retryDelays[min(max(j.Attempt, 1), len(retryDelays))-1]
		_ = m.NakWithDelay(delay)
	})
	if err != nil {
		return unavailable(err)
	}
	<-ctx.Done()
	cc.Stop()
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil
	}
	return ctx.Err()
}
