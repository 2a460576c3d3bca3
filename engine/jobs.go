package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// errClaimed stops a claim: the job's record says it is past queued.
var errClaimed = errors.New("job already claimed")

// errAlive says the job's worker still beats: its queue delivery came back
// only because the queue lost sight of it (a NATS node died meanwhile).
var errAlive = errors.New("job still running")

// errSilent stops a claim: the job's worker has stopped beating, and is
// asked whether it runs the job before it is taken over.
var errSilent = errors.New("job's worker silent")

// Asking a worker whether it runs a job: each question's bound, and the
// wait before asking again one that did not answer: longer than a worker
// takes to reconnect to another NATS server (the NATS adapter tries them
// 250 ms apart, with up to 1 s of jitter under TLS). Every job of a dead
// worker waits it once more before it is answered unknown.
const (
	askWithin = time.Second
	askAgain  = 1500 * time.Millisecond
)

// Claims say who took a job first: a worker about to run it (ClaimRun), or
// the gateway that could not queue it in time and refused it (ClaimRefused).
// They live apart from the job records, so that one of the two can be
// written while the other's store elects a leader.
type Claims interface {
	// Claim records by as the job's claim unless it has one, and returns
	// the claim that holds. It returns Unavailable when the store cannot
	// be reached.
	Claim(ctx context.Context, job, by string) (string, error)
}

// Workers reaches the processes that run jobs.
type Workers interface {
	// Runs asks worker whether it runs job now. ok is false when the
	// worker did not answer (it died, or cannot be reached, or does not
	// say): the job's beats decide then.
	Runs(ctx context.Context, worker, job string) (runs, ok bool)
}

// Runs reports whether this process runs job now as worker: from its claim
// to its recorded outcome. A process that serves Workers answers with it.
func (e *Engine) Runs(worker, job string) bool {
	_, ok := e.running.Load(runningKey{worker, job})
	return ok
}

// runningKey names a job run by a worker of this process.
type runningKey struct{ worker, job string }

// workerRuns asks worker whether it runs job. A worker that does not answer
// is asked once more, askAgain later: one that lives may be reconnecting to
// another NATS server, its questions unheard meanwhile.
func (e *Engine) workerRuns(ctx context.Context, worker, job string) bool {
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, askWithin)
		runs, ok := e.Workers.Runs(actx, worker, job)
		cancel()
		if ok || attempt == 2 {
			return runs
		}
		select {
		case <-ctx.Done():
			return false
		case <-e.After(askAgain):
		}
	}
}

// Claims.
const (
	ClaimRun     = "run"
	ClaimRefused = "refused"
)

// DefaultBeatEvery is how often the worker running a job says so in its
// record; a worker silent for three beats is taken for dead.
const DefaultBeatEvery = 2 * time.Second

// RunJob runs a queued job on a worker, at most once. The worker claims the
// job by moving its record from queued to running before anything runs. A
// redelivered job whose record is past that is not run again:
//   - finished: its stored outcome is returned, to be answered again;
//   - running, so its worker died: an idempotent command (a read, or a ledger
//     change keyed by the job id) is finished; any other is given the outcome
//     unknown, said plainly and audited.
//
// The returned job holds the outcome. An error means the job could not be
// claimed or recorded (nothing of it ran): the queue may deliver it again.
func (e *Engine) RunJob(ctx context.Context, j *QueuedJob, worker string, progress func(string)) (*Job, error) {
	now := e.Now()
	every := e.beatEvery()
	if e.Claims != nil {
		claim, err := e.Claims.Claim(ctx, j.ID, ClaimRun)
		if err != nil {
			return nil, err
		}
		if claim == ClaimRefused {
			return e.refused(ctx, j)
		}
	}
	// The claim is tried again while the store cannot answer: a write that
	// landed though its answer was lost (the bucket's leader died) shows
	// this very claim, by its worker and beat, and the job is ours to run.
	// Handed back instead, its next delivery would find it running, and
	// answer unknown a job that never ran.
	//
	// A job running already is taken over only from a worker that died: not
	// from this process, which may be given a job again while it runs it,
	// and not from a worker whose beats stopped but that says, asked, it
	// runs it (the store could not take its beats). A worker that does not
	// answer, twice, is taken for dead.
	key := runningKey{worker, j.ID}
	if _, here := e.running.LoadOrStore(key, true); here {
		return nil, Errorf(Unavailable, "job %s still runs here, on %s", j.ID, worker)
	}
	defer e.running.Delete(key)
	var prev Job
	var job *Job
	var mine []time.Time // the Beat of each claim this call wrote
	asked := false
	err := e.durably(ctx, func() error {
		var err error
		job, err = e.Jobs.Update(ctx, j.ID, func(rec *Job) error {
			if rec.State == JobRunning && rec.Worker == worker && slices.ContainsFunc(mine, rec.Beat.Equal) {
				return nil // our claim, landed; prev is the record it replaced
			}
			prev = *rec
			at := e.Now()
			switch rec.State {
			case "", JobQueued:
				*rec = Job{ID: j.ID, Command: j.Command, Actor: j.Actor.ID, Source: j.Actor.Source, Channel: j.Channel,
					State: JobRunning, Queued: j.Enqueued, Started: at, Worker: worker, Attempts: rec.Attempts + 1, Progress: rec.Progress, Beat: at}
			case JobRunning:
				if rec.Worker != worker && !rec.Beat.IsZero() && at.Sub(rec.Beat) < 3*every {
					return errAlive
				}
				if rec.Worker != worker && !asked && e.Workers != nil {
					return errSilent
				}
				rec.Attempts++
				rec.Worker, rec.Beat = worker, at
			default:
				return errClaimed
			}
			mine = append(mine, at)
			return nil
		})
		if errors.Is(err, errSilent) {
			asked = true
			if e.workerRuns(ctx, prev.Worker, j.ID) {
				return errAlive
			}
			return Errorf(Unavailable, "asked %s", prev.Worker) // again, to take it over
		}
		return err
	})
	switch {
	case errors.Is(err, errClaimed):
		return e.finished(ctx, &prev)
	case errors.Is(err, errAlive):
		// Handed back to the queue: by its next delivery the job has
		// finished (and is answered), or its worker has gone silent.
		return nil, Errorf(Unavailable, "job %s still runs on %s (it beat %v ago)", j.ID, prev.Worker, now.Sub(prev.Beat).Round(time.Millisecond))
	case err != nil:
		return nil, err
	}
	defer e.beat(ctx, j.ID, worker, every)()
	c := Context{Actor: j.Actor, Channel: j.Channel, Workspace: j.Workspace, Confirmed: j.Confirmed, Approver: j.Approver,
		Late: j.Late, JobID: j.ID, Progress: progress}
	cmd, perr := e.Grammar.Parse(j.Command)
	if prev.State == JobRunning {
		// Its worker died while it ran.
		if perr != nil || !e.actions[cmd.Spec].idempotent {
			return e.unknown(ctx, job, prev.Worker)
		}
		// Its change, if it made one, is no older than the job: looked up
		// from a minute before, for clocks of different hosts.
		c.recovering = earliest(prev.Queued, prev.Started).Add(-time.Minute)
	}
	// A command's own error is its outcome, stored in the job: not an error
	// of RunJob's, which would have the job delivered again.
	if perr != nil {
		rec := e.record(c, j.Command)
		rec.Decision = "invalid"
		_, _ = e.finish(ctx, &run{e: e, c: c, rec: rec, start: now}, job, nil, perr)
		return job, nil
	}
	_, _ = e.execute(ctx, c, cmd, job)
	return job, nil
}

func (e *Engine) beatEvery() time.Duration {
	if e.BeatEvery > 0 {
		return e.BeatEvery
	}
	return DefaultBeatEvery
}

// beat writes the job's Beat every interval while its worker runs it, so a
// redelivery of a job whose worker lives is not taken for a dead worker's;
// the returned func stops it.
func (e *Engine) beat(ctx context.Context, id, worker string, every time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-e.After(every):
			}
			_, err := e.Jobs.Update(ctx, id, func(rec *Job) error {
				if rec.State != JobRunning || rec.Worker != worker {
					return errClaimed // finished, or taken over: nothing to say
				}
				rec.Beat = e.Now()
				return nil
			})
			if errors.Is(err, errClaimed) {
				return
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// earliest returns the earlier of two times, ignoring zero ones.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// finished returns a job redelivered after it finished, making sure its audit
// record was written (a worker may have died between the two).
func (e *Engine) finished(ctx context.Context, job *Job) (*Job, error) {
	if job.Answer == AnswerNone && !job.AuditedWithChange {
		rec := jobRecord(job, job.Finished, job.Outcome, job.Message)
		rec.ErrorRef = job.ErrorRef
		if err := e.Audit.Append(ctx, rec); err != nil {
			return nil, err
		}
	}
	return job, nil
}

// unknown gives a job whose worker died while it ran the outcome unknown. A
// job found finished meanwhile keeps its outcome: the read that showed it
// running may have come from a replica that lags, and the record's
// compare-and-set decides. The audit follows the record, so it says what was
// decided; a worker that dies between the two leaves the audit to the next
// delivery (finished).
func (e *Engine) unknown(ctx context.Context, job *Job, worker string) (*Job, error) {
	on, that := "", "the worker running it"
	if worker != "" {
		on, that = " on "+worker, "that worker"
	}
	msg := fmt.Sprintf("`%s` started%s (job %s) but %s stopped before it finished, so whether it did its work is unknown. "+
		"Check its effect before running it again; it will not be run again by itself.", job.Command, on, job.ID, that)
	ctx = context.WithoutCancel(ctx)
	var prev Job
	rec, err := e.Jobs.Update(ctx, job.ID, func(j *Job) error {
		prev = *j
		if j.Final() {
			return errClaimed
		}
		j.State, j.Outcome, j.Message, j.Finished = JobUnknown, string(Unknown), msg, e.Now()
		return nil
	})
	switch {
	case errors.Is(err, errClaimed):
		return e.finished(ctx, &prev)
	case err != nil:
		return nil, err
	}
	if err := e.Audit.Append(ctx, jobRecord(rec, rec.Finished, string(Unknown), msg)); err != nil {
		return nil, err
	}
	return rec, nil
}

// GiveUp ends a job whose last delivery could not be handled. A job that
// never started was not run, and the person is told so; one that started is
// unknown; one that finished keeps its outcome, to be answered. The
// record's compare-and-set decides which, not a read of it, which a replica
// that lags may answer; the audit follows the decision.
func (e *Engine) GiveUp(ctx context.Context, j *QueuedJob, cause error) (*Job, error) {
	ctx = context.WithoutCancel(ctx)
	msg := fmt.Sprintf("`%s` was not run: chatops could not reach its store (%v). Nothing changed; run it again.", j.Command, ErrorMessage(cause))
	failed := j.Record()
	failed.State, failed.Outcome, failed.Message, failed.Finished = JobFailed, string(Unavailable), msg, e.Now()
	var prev Job
	job, err := e.Jobs.Update(ctx, j.ID, func(rec *Job) error {
		prev = *rec
		if rec.State == JobRunning || rec.Final() {
			return errClaimed
		}
		*rec = *failed
		return nil
	})
	switch {
	case errors.Is(err, errClaimed) && prev.State == JobRunning:
		return e.unknown(ctx, &prev, prev.Worker)
	case errors.Is(err, errClaimed):
		return e.finished(ctx, &prev)
	case err != nil:
		return nil, err
	}
	if err := e.Audit.Append(ctx, jobRecord(job, job.Finished, job.Outcome, msg)); err != nil {
		return nil, err
	}
	return job, nil
}

// Record is how a job looks while it waits for a worker: a store shows a
// job it holds in its queue, with no record of its own yet, as this.
func (j *QueuedJob) Record() *Job {
	return &Job{ID: j.ID, Command: j.Command, Actor: j.Actor.ID, Source: j.Actor.Source,
		Channel: j.Channel, State: JobQueued, Queued: j.Enqueued}
}

// Refuse records that an adapter refused a job it could not queue in time,
// so that the person can be told it was not run: should a queue write that
// looked lost land after all, the job's worker finds it refused and runs
// nothing. refused is false when the job has a record already: the write
// did land, and a worker took the job, so it is running. An error means
// neither could be recorded: whether the job runs is unknown. A refusal is
// audited as unavailable.
//
// With Claims, the refusal is first claimed there, each half of the time
// bound given, and the job record is the fallback: a worker claims a job
// there before its record, so whichever claim holds decides.
func (e *Engine) Refuse(ctx context.Context, j *QueuedJob, reason string) (refused bool, err error) {
	if e.Claims != nil {
		cctx := ctx
		if deadline, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			cctx, cancel = context.WithDeadline(ctx, time.Now().Add(time.Until(deadline)/2))
			defer cancel()
		}
		claim, err := e.Claims.Claim(cctx, j.ID, ClaimRefused)
		switch {
		case err == nil && claim == ClaimRefused:
			e.refusedRecord(context.WithoutCancel(ctx), j, reason)
			return true, nil
		case err == nil:
			return false, nil // a worker took it: it runs
		}
		e.Log.Warn("claiming a refusal", "job", j.ID, "err", err)
	}
	now := e.Now()
	created, err := e.Jobs.Create(ctx, refusedJob(j, now, reason))
	if err != nil || !created {
		return false, err
	}
	if err := e.Audit.Append(ctx, jobRecord(refusedJob(j, now, reason), now, string(Unavailable), reason)); err != nil {
		e.Log.Warn("auditing a refused job", "job", j.ID, "err", err)
	}
	return true, nil
}

// refusedJob is the record of a job its gateway refused.
func refusedJob(j *QueuedJob, now time.Time, reason string) *Job {
	return &Job{ID: j.ID, Command: j.Command, Actor: j.Actor.ID, Source: j.Actor.Source, Channel: j.Channel,
		State: JobFailed, Queued: j.Enqueued, Finished: now, Outcome: string(Unavailable), Message: reason,
		Answer: AnswerDelivered, AnswerNote: "refused at once"}
}

// refusedRecord writes, after a refusal was claimed, the job's record and
// audit, in the background of the ack: best effort, since the claim decides.
func (e *Engine) refusedRecord(ctx context.Context, j *QueuedJob, reason string) {
	go func() {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		now := e.Now()
		job := refusedJob(j, now, reason)
		if created, err := e.Jobs.Create(ctx, job); err != nil || !created {
			return
		}
		if err := e.Audit.Append(ctx, jobRecord(job, now, string(Unavailable), reason)); err != nil {
			e.Log.Warn("auditing a refused job", "job", j.ID, "err", err)
		}
	}()
}

// refused returns, for a delivery of a job its gateway refused, the job as
// refused: nothing runs, and the person was told at once. The claim
// decides, not the record: a read of the record just written may come from
// a replica that has not seen it yet (and show the job as queued, from its
// message), so the refusal is returned as written, or as the gateway
// recorded it.
func (e *Engine) refused(ctx context.Context, j *QueuedJob) (*Job, error) {
	job := refusedJob(j, e.Now(), "chatops could not store the command in time; it was not run")
	created, err := e.Jobs.Create(ctx, job)
	if err != nil {
		return nil, err
	}
	if !created {
		if rec, err := e.Jobs.Get(ctx, j.ID); err == nil && rec.Final() {
			return rec, nil
		}
	}
	return job, nil
}

// Answered records that a job's answer is on its way (in the outbox).
func (e *Engine) Answered(ctx context.Context, id string) error {
	_, err := e.Jobs.Update(ctx, id, func(j *Job) error {
		if j.Answer == AnswerNone {
			j.Answer = AnswerPosted
		}
		return nil
	})
	return err
}

// Delivered records that a job's answer reached the person, and how. It is
// tried again while the store cannot be written (its leader died and
// another is being elected), up to StoreTimeout, and no more once ctx ends;
// the first attempt is made whatever ctx. Should the outbox's ack be lost
// too, the delivery that comes back finds the record and posts nothing.
func (e *Engine) Delivered(ctx context.Context, id, route string) error {
	return e.durably(ctx, func() error {
		_, err := e.Jobs.Update(context.WithoutCancel(ctx), id, func(j *Job) error {
			j.Answer, j.AnswerNote = AnswerDelivered, route
			return nil
		})
		return err
	})
}

// WasDelivered reports whether a job's answer is recorded as delivered.
func (e *Engine) WasDelivered(ctx context.Context, id string) bool {
	j, err := e.Jobs.Get(ctx, id)
	return err == nil && j.Answer == AnswerDelivered
}

// Undelivered records that a job's answer reached nobody: in the job, whose
// state becomes undelivered (its outcome stays), and in the audit stream.
func (e *Engine) Undelivered(ctx context.Context, id, reason string) error {
	job, err := e.Jobs.Update(ctx, id, func(j *Job) error {
		j.State, j.Answer, j.AnswerNote = JobUndelivered, AnswerUndelivered, reason
		return nil
	})
	if err != nil {
		return err
	}
	rec := jobRecord(job, e.Now(), job.Outcome, "answer undelivered: "+reason)
	rec.Event, rec.Duration = "undelivered", 0
	return e.Audit.Append(ctx, rec)
}

// jobRecord is the audit record of a job's command with outcome and msg, as
// of at: for outcomes decided outside the command's own run.
func jobRecord(job *Job, at time.Time, outcome, msg string) *AuditRecord {
	rec := &AuditRecord{At: at, JobID: job.ID, Actor: job.Actor, Source: job.Source, Channel: job.Channel,
		Command: job.Command, Decision: "allowed", Outcome: outcome, Message: msg}
	if !job.Started.IsZero() {
		rec.Duration = at.Sub(job.Started)
	}
	return rec
}

// progressInterval spaces out the writes of a job's progress to its record.
const progressInterval = 500 * time.Millisecond

// progressRecorder passes progress lines on and keeps them in the job's
// record, written at most every progressInterval and once at the end.
type progressRecorder struct {
	e    *Engine
	ctx  context.Context
	id   string
	next func(string)

	mu      sync.Mutex
	pending []string
	last    time.Time
}

func newProgressRecorder(e *Engine, ctx context.Context, id string, next func(string)) *progressRecorder {
	return &progressRecorder{e: e, ctx: context.WithoutCancel(ctx), id: id, next: next, last: e.Now()}
}

func (p *progressRecorder) add(line string) {
	if p.next != nil {
		p.next(line)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending = append(p.pending, line)
	if p.e.Now().Sub(p.last) >= progressInterval {
		p.flushLocked()
	}
}

func (p *progressRecorder) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.flushLocked()
}

// maxProgress bounds the lines a job's record keeps: the last ones.
const maxProgress = 200

func (p *progressRecorder) flushLocked() {
	if len(p.pending) == 0 {
		return
	}
	lines := p.pending
	p.pending, p.last = nil, p.e.Now()
	if _, err := p.e.Jobs.Update(p.ctx, p.id, func(j *Job) error {
		j.Progress = append(j.Progress, lines...)
		if n := len(j.Progress); n > maxProgress {
			j.Progress = append([]string(nil), j.Progress[n-maxProgress:]...)
		}
		return nil
	}); err != nil {
		p.e.Log.Warn("recording progress", "job", p.id, "err", err)
	}
}
