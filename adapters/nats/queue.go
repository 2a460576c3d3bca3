package nats

import (
	"context"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"time"

	"github.com/chatops/chatops/engine"
	nc "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

var _ engine.Queue = (*Queue)(nil)

// Queue settings.
const (
	JobsStream = "CHATOPS_JOBS"
	// jobsSubject takes each job on a subject of its own, jobsSubject.<id>,
	// so that a queued job is found by its id (Jobs.Get) with no record of
	// its own. Jobs enqueued by earlier versions are on jobsSubject itself.
	jobsSubject    = "chatops.jobs"
	workerConsumer = "workers"
	// DedupWindow outlasts Slack's retries, which come up to 5 minutes later.
	DedupWindow = 10 * time.Minute
	// MaxDeliver bounds how often one job is delivered. A worker answers a
	// job on its last delivery (QueuedJob.LastAttempt) whatever happens, so
	// none is dropped unanswered.
	MaxDeliver = 10
	// DefaultAckWait is how long a job whose worker died waits before another
	// worker takes it: workers that live say so every third of it. It
	// outlasts a stream leader's election (about 3.5 s), during which those
	// signs of life may be lost.
	DefaultAckWait = 10 * time.Second
	// enqueueAckTimeout drops the wait for a job's stored-ack that its
	// enqueuer gave up on (its context ended first): longer than any one
	// enqueue waits.
	enqueueAckTimeout = 30 * time.Second
)

// pullOpts make every consumer of ours notice within a few seconds that the
// server holding its pull went away (a node died, its consumer moved), and
// pull again from the new one: a pull lasts 5 s, and a missed heartbeat of
// a second ends it.
var pullOpts = []jetstream.PullConsumeOpt{jetstream.PullExpiry(5 * time.Second), jetstream.PullHeartbeat(time.Second)}

// DefaultJobBackoff spaces out the deliveries of a job whose handler failed
// for a passing reason at delivery attempt (from 1): it doubles from one second up to a minute, with a quarter of
// jitter so that jobs failed together do not come back together.
func DefaultJobBackoff(attempt int) time.Duration {
	d := min(time.Second<<min(max(attempt-1, 0), 6), time.Minute)
	return d - time.Duration(mrand.Int64N(int64(d/4)+1))
}

// Queue is a work-queue stream: each job goes to one worker, and is removed
// once acknowledged.
type Queue struct {
	js jetstream.JetStream
	// pub publishes the jobs, asynchronously: its own handle, so that the
	// jobs' pending acks have their own limit and timeout.
	pub jetstream.JetStream
	// AckWait is how long a job whose worker died waits before it is
	// delivered again; DefaultAckWait when zero.
	AckWait time.Duration
	// Backoff spaces out the deliveries of a job whose handler failed;
	// DefaultJobBackoff when nil.
	Backoff engine.Backoff
	// Grace is how long running jobs may finish once Work's context ends;
	// after it their context is cancelled and they are handed back.
	Grace time.Duration
}

// Queue returns the job queue, creating its stream.
func (c *Conn) Queue(ctx context.Context) (*Queue, error) {
	pub, err := jetstream.New(c.nc, jetstream.WithPublishAsyncTimeout(enqueueAckTimeout))
	if err != nil {
		return nil, unavailable(err)
	}
	q := &Queue{js: c.js, pub: pub, AckWait: DefaultAckWait, Backoff: DefaultJobBackoff, Grace: 30 * time.Second}
	if _, err := c.ensureStream(ctx, JobsStream); err != nil {
		return nil, err
	}
	return q, nil
}

// Enqueue implements engine.Queue; the job ID is the Nats-Msg-Id, and the
// last token of the job's subject. The message is the job's only record
// until a worker takes it: Jobs shows it as queued.
//
// It returns once JetStream has stored the job, as a synchronous publish
// would, but publishes asynchronously: the concurrent enqueues of a busy
// gateway share one reply subscription instead of a request each, which
// takes a fifth less CPU per job (BenchmarkEnqueue). A stored-ack that comes
// after ctx ended is dropped: the job may have been stored, as with a
// publish that timed out, and the same ID makes a retry a duplicate.
func (q *Queue) Enqueue(ctx context.Context, j *engine.QueuedJob) (bool, error) {
	if !plainToken(j.ID) {
		return false, &engine.Error{Code: engine.Internal, Msg: fmt.Sprintf("job id %q: only letters, digits, - and _ can name a job", j.ID)}
	}
	data, err := json.Marshal(j)
	if err != nil {
		return false, &engine.Error{Code: engine.Internal, Msg: "encoding a job", Err: err}
	}
	f, err := q.pub.PublishMsgAsync(&nc.Msg{Subject: jobsSubject + "." + j.ID, Data: data}, jetstream.WithMsgID(j.ID))
	if err != nil {
		return false, unavailable(fmt.Errorf("enqueueing job %s: %w", j.ID, err))
	}
	select {
	case ack := <-f.Ok():
		return ack.Duplicate, nil
	case err := <-f.Err():
		return false, unavailable(fmt.Errorf("enqueueing job %s: %w", j.ID, err))
	case <-ctx.Done():
		return false, unavailable(fmt.Errorf("enqueueing job %s: %w", j.ID, ctx.Err()))
	}
}

// Work implements engine.Queue with a durable pull consumer shared by every
// worker process. When ctx ends it takes no more jobs and gives the running
// ones Grace to finish; then their context is cancelled, and a job whose
// handler returns an error is handed back at once for another worker.
func (q *Queue) Work(ctx context.Context, handle func(context.Context, *engine.QueuedJob) error) error {
	ackWait, backoff := q.AckWait, q.Backoff
	if ackWait <= 0 {
		ackWait = DefaultAckWait
	}
	if backoff == nil {
		backoff = DefaultJobBackoff
	}
	cons, err := q.js.CreateOrUpdateConsumer(ctx, JobsStream, jetstream.ConsumerConfig{
		Durable: workerConsumer, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: ackWait, MaxDeliver: MaxDeliver,
	})
	if err != nil {
		return unavailable(fmt.Errorf("job consumer: %w", err))
	}
	// Running jobs outlive ctx by Grace.
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if ctx.Err() != nil {
			_ = m.Nak() // stopping: another worker takes it
			return
		}
		var j engine.QueuedJob
		if err := json.Unmarshal(m.Data(), &j); err != nil {
			_ = m.Term() // unreadable: never deliverable
			return
		}
		if md, err := m.Metadata(); err == nil {
			j.Attempt = int(md.NumDelivered)
			j.LastAttempt = j.Attempt >= MaxDeliver
		}
		stop := keepInProgress(m, ackWait/3)
		err := handle(jobCtx, &j)
		stop()
		switch {
		case err == nil:
			ackDone(jobCtx, m, ackWait) // lost, the job would come back
		case jobCtx.Err() != nil:
			_ = m.Nak() // cut short by shutdown: handed back
		default:
			_ = m.NakWithDelay(backoff(j.Attempt))
		}
	}, append(pullOpts, jetstream.PullMaxMessages(1))...)
	if err != nil {
		return unavailable(err)
	}
	<-ctx.Done()
	// Drain lets the running job finish and hands back what is buffered;
	// Closed says when the last callback has returned.
	cc.Drain()
	grace := time.NewTimer(q.Grace)
	defer grace.Stop()
	select {
	case <-cc.Closed():
		return nil
	case <-grace.C:
		cancelJobs()
	}
	select {
	case <-cc.Closed():
	case <-time.After(drainWait):
		cc.Stop() // the connection is gone: the server redelivers after AckWait
	}
	return nil
}

// keepInProgress tells the server every interval that m is still being
// worked on, so it is not delivered to another worker; stop ends it.
func keepInProgress(m jetstream.Msg, interval time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = m.InProgress()
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
