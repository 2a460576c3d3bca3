package engine

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"time"
)

// Backoff returns how long to wait before attempt (from 1) of something that
// failed for a passing reason.
type Backoff func(attempt int) time.Duration

// DefaultChangeBackoff spreads out writers retrying a compare-and-set: a
// random wait that grows with the attempt, up to 4 ms.
func DefaultChangeBackoff(attempt int) time.Duration {
	return time.Duration(mrand.Int64N(int64(min(attempt, 20))*int64(200*time.Microsecond)) + 1)
}

// change applies fn to the pipeline's ledger and appends the result, with the
// command's audit record, as one change. When another writer got there first
// it retries on fresh state; fn must be free of side effects, as it may run
// more than once. When the store cannot say whether a change was appended, the
// change is looked up by its job id before it is tried again, so it
// is made at most once; a job taken over from a dead worker does the same.
func (r *run) change(pc *PipelineConfig, fn func(st *PipelineState) (string, error)) (string, error) {
	return r.changeAs(pc, changeKind{audit: "ok"}, fn)
}

// changeKind says which of a command's changes is being made: its own (no
// phase), which carries its audit record, or a step on the way (a phase, such
// as a deployment starting), keyed by the job id and the phase so that each is
// made once and a redelivered job can tell which were made.
type changeKind struct {
	phase string
	// audit is the outcome the change records in the command's audit
	// record; empty for a step that carries none.
	audit string
	// message goes with a failed outcome.
	message string
}

// key is the change's idempotency key.
func (k changeKind) key(job string) string {
	if k.phase == "" {
		return job
	}
	return job + "/" + k.phase
}

// changeAs is change for a change of the given kind.
func (r *run) changeAs(pc *PipelineConfig, kind changeKind, fn func(st *PipelineState) (string, error)) (string, error) {
	if r.preview {
		return "", errPreviewed
	}
	backoff := r.e.ChangeBackoff
	if backoff == nil {
		backoff = DefaultChangeBackoff
	}
	since := r.c.recovering // non-zero: a change may already have been made
	var deadline time.Time
	for attempt := 1; ; attempt++ {
		summary, done, err := r.tryChange(pc, kind, fn, &since)
		if done {
			return summary, err
		}
		if ErrorCode(err) == Unavailable {
			if deadline.IsZero() {
				deadline = r.e.Now().Add(r.e.StoreTimeout)
			}
			if r.e.Now().After(deadline) {
				return "", r.unknownChange(pc, err)
			}
		} else if attempt >= r.e.MaxAttempts {
			return "", err
		}
		select {
		case <-r.ctx.Done():
			if !since.IsZero() {
				return "", r.unknownChange(pc, r.ctx.Err())
			}
			return "", Errorf(Unavailable, "gave up changing %s: %w", pc.Name, r.ctx.Err())
		case <-r.e.After(backoff(attempt)):
		}
	}
}

// tryChange makes one attempt. done says the outcome is final; otherwise err
// is a conflict or an unreachable store, worth another attempt.
func (r *run) tryChange(pc *PipelineConfig, kind changeKind, fn func(st *PipelineState) (string, error), since *time.Time) (string, bool, error) {
	ctx := context.WithoutCancel(r.ctx) // a change half-sent is finished or looked up, not abandoned
	if !since.IsZero() {
		ch, err := r.e.Store.Find(ctx, pc.Name, kind.key(r.c.JobID), *since)
		if err != nil {
			return "", false, err
		}
		if ch != nil {
			r.committed = r.committed || ch.Audit != nil
			return ch.Summary, true, nil
		}
	}
	st, rev, err := r.e.state(ctx, pc)
	if err != nil {
		return "", ErrorCode(err) != Unavailable, err
	}
	next := st.clone()
	summary, err := fn(next)
	if err != nil {
		return "", true, err
	}
	ch := &Change{Pipeline: pc.Name, Key: kind.key(r.c.JobID), Summary: summary, State: next, Added: next.added,
		Events: r.changeEvents(st, next, kind)}
	if kind.audit != "" {
		rec := *r.rec
		rec.Outcome, rec.Message, rec.Duration = kind.audit, kind.message, r.e.Now().Sub(r.start)
		ch.Audit = &rec
	}
	attempted := r.e.Now()
	_, err = r.e.Store.Commit(ctx, ch, rev)
	switch ErrorCode(err) {
	case "":
		r.committed = r.committed || ch.Audit != nil
		return summary, true, nil
	case Conflict:
		return "", false, err
	case Unavailable:
		if since.IsZero() {
			*since = attempted.Add(-time.Second) // clocks of one host; a second of slack
		}
		return "", false, err
	}
	return "", true, err
}

// unknownChange is the error of a change that may or may not have been made.
func (r *run) unknownChange(pc *PipelineConfig, cause error) error {
	return &Error{Code: Unknown, Err: cause, Msg: fmt.Sprintf(
		"could not tell whether %s changed: the store stopped answering (%v). Check with `info %s` and `jobs %s` before running it again",
		pc.Name, cause, pc.Name, r.c.JobID)}
}
