package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// StageKey names one stage of one pipeline.
type StageKey struct {
	Pipeline, Stage string
}

// driverLogTail bounds the lines of a driver's log an answer quotes.
const driverLogTail = 10

// errNoDriver says a change reaches no stage with a driver.
var errNoDriver = errors.New("no driver")

// driver returns the driver of a pipeline's stage, or nil.
func (e *Engine) driver(pipeline, stage string) Driver {
	return e.Drivers[StageKey{pipeline, stage}]
}

// hasDrivers reports whether any stage of the pipeline has a driver.
func (e *Engine) hasDrivers(pc *PipelineConfig) bool {
	for _, s := range pc.Stages {
		if e.driver(pc.Name, s) != nil {
			return true
		}
	}
	return false
}

// deploy makes a change that may reach stages with drivers. fn is as for
// change: it puts the change's releases into slots and checks what it must,
// free of side effects. A change that reaches no stage with a driver is a
// ledger change only. Otherwise it takes three steps:
//
//  1. A first change marks each driven stage as deploying, once fn's checks
//     passed on fresh state. From then on the stage refuses other changes,
//     unless they are forced, and info shows the deployment.
//  2. Each stage's driver runs in turn, its progress reported.
//  3. The command's own change, with its audit record, puts the releases
//     whose drivers succeeded into the ledger, with the drivers' refs, and
//     clears the marks. A driver that failed leaves its stage as it was.
//
// A job redelivered after its worker died finds which steps were made: with
// the command's change made, it is done; with only the mark, a driver may have
// run, so the outcome is unknown and the mark says so; with neither, nothing
// started and the change is made as if new.
func (r *run) deploy(pc *PipelineConfig, fn func(st *PipelineState) (string, error)) (string, error) {
	if r.preview {
		return "", errPreviewed
	}
	if r.confirm != nil {
		return "", r.question(pc, fn)
	}
	if !r.e.hasDrivers(pc) {
		return r.change(pc, fn)
	}
	if !r.c.recovering.IsZero() {
		summary, done, err := r.recover(pc)
		if done || err != nil {
			return summary, err
		}
	}
	var (
		targets  []SlotRelease
		previous = map[string]string{}
		summary  string
	)
	_, err := r.changeAs(pc, changeKind{phase: "deploying"}, func(st *PipelineState) (string, error) {
		probe := st.clone()
		s, err := fn(probe)
		if err != nil {
			return "", err
		}
		summary, targets = s, probe.added
		driven := false
		for _, t := range targets {
			stage := stageOf(t.Slot)
			if cur := st.current(t.Slot); cur != nil {
				previous[t.Slot] = cur.Version
			}
			if r.e.driver(pc.Name, stage) == nil {
				continue
			}
			driven = true
			st.slot(stage).Deploying = &Deploying{Version: t.Release.Version, Action: t.Release.Action, Job: r.c.JobID, By: r.c.Actor.ID, At: r.e.Now()}
		}
		if !driven {
			return "", errNoDriver
		}
		st.Seq++
		return "", nil
	})
	switch {
	case errors.Is(err, errNoDriver):
		return r.change(pc, fn)
	case err != nil:
		return "", err
	}

	refs := map[string]string{}
	var failure error
	var failed string
	for _, t := range targets {
		stage := stageOf(t.Slot)
		d := r.e.driver(pc.Name, stage)
		if d == nil {
			continue
		}
		dep := &Deployment{
			Action: t.Release.Action, Pipeline: pc.Name, From: stageOf(t.Release.From), Stage: stage,
			Version: t.Release.Version, Commit: t.Release.Commit, Branch: t.Release.Branch, Repo: pc.Repo,
			Actor: r.c.Actor.ID, JobID: r.c.JobID, Force: r.cmd.Force, Ref: t.Release.Ref, Previous: previous[t.Slot],
		}
		r.progress("%s: %s %s %s", stage, dep.Action, pc.Name, dep.Version)
		events := r.driverProgress(dep)
		out, err := d.Deploy(r.ctx, dep, func(line string) {
			r.progress("%s: %s", stage, line)
			events.add(line)
		})
		events.flush()
		if err != nil {
			failure, failed = driverFailure(pc, stage, dep, err), stage
			break
		}
		refs[t.Slot] = ""
		if out != nil {
			refs[t.Slot] = out.Ref
		}
	}

	kind := changeKind{audit: "ok"}
	if failure != nil {
		kind = changeKind{audit: string(ErrorCode(failure)), message: ErrorMessage(failure)}
	}
	unknown := ErrorCode(failure) == Unknown
	final, err := r.changeAs(pc, kind, func(st *PipelineState) (string, error) {
		var done []string
		for _, t := range targets {
			ref, ok := refs[t.Slot]
			if !ok && (failure != nil || r.e.driver(pc.Name, stageOf(t.Slot)) != nil) {
				continue // its driver failed, or never ran: the stage stays as it was
			}
			rel := t.Release
			if ok {
				rel.Ref = ref
			}
			st.put(t.Slot, rel)
			done = append(done, t.Slot)
		}
		for name, s := range st.Slots {
			if s.Deploying != nil && s.Deploying.Job == r.c.JobID {
				if unknown && name == failed {
					s.Deploying.Unknown = true // until someone checks and forces a change
					continue
				}
				s.Deploying = nil
			}
		}
		st.Seq++
		if failure != nil {
			if len(done) > 0 {
				return fmt.Sprintf("%s changed in %s; %s failed.", pc.Name, strings.Join(done, ", "), failed), nil
			}
			return "", nil
		}
		return summary, nil
	})
	if failure != nil {
		if err != nil {
			r.e.Log.Error("clearing a failed deployment's mark", "job", r.c.JobID, "pipeline", pc.Name, "err", err)
		}
		return "", failure
	}
	return final, err
}

// recover finds what a dead worker's attempt at this deployment did. done
// says the command's change was made (its summary returned) or its outcome is
// unknown (the error); neither says nothing started.
func (r *run) recover(pc *PipelineConfig) (string, bool, error) {
	ctx := r.ctx
	if ch, err := r.e.Store.Find(ctx, pc.Name, r.c.JobID, r.c.recovering); err != nil {
		return "", true, err
	} else if ch != nil {
		r.committed = ch.Audit != nil
		return ch.Summary, true, nil
	}
	mark, err := r.e.Store.Find(ctx, pc.Name, changeKind{phase: "deploying"}.key(r.c.JobID), r.c.recovering)
	if err != nil {
		return "", true, err
	}
	if mark == nil {
		return "", false, nil
	}
	var stages []string
	for name, s := range mark.State.Slots {
		if s.Deploying != nil && s.Deploying.Job == r.c.JobID {
			stages = append(stages, name)
		}
	}
	unknown := &Error{Code: Unknown, Msg: fmt.Sprintf(
		"`%s` started deploying %s to %s (job %s), and the worker running it stopped before the driver answered, so whether %s changed is unknown. "+
			"Check %s itself; then `%s!` (or a forced rollback) records what you decide. It will not be run again by itself.",
		r.cmd.Canonical(), pc.Name, strings.Join(stages, ", "), r.c.JobID, strings.Join(stages, ", "), strings.Join(stages, ", "), r.cmd.Name)}
	_, err = r.changeAs(pc, changeKind{phase: "unknown", audit: string(Unknown), message: unknown.Msg}, func(st *PipelineState) (string, error) {
		for _, s := range st.Slots {
			if s.Deploying != nil && s.Deploying.Job == r.c.JobID {
				s.Deploying.Unknown = true
			}
		}
		st.Seq++
		return "", nil
	})
	if err != nil {
		return "", true, err
	}
	return "", true, unknown
}

// driverFailure is the outcome of a driver's error: a refusal keeps its code
// (a conflict, such as failing checks, or a change the driver cannot make);
// a driver that lost sight of a change it started makes the outcome unknown;
// anything else is a failed deployment. Both carry the driver's message and
// the tail of its log.
func driverFailure(pc *PipelineConfig, stage string, d *Deployment, err error) error {
	switch ErrorCode(err) {
	case Conflict, Invalid, Denied:
		return err
	}
	var de *DriverError
	if errors.As(err, &de) && de.Unknown {
		msg := fmt.Sprintf("%s %s %s to %s: %s, so whether %s changed is unknown. "+
			"Check %s itself; then `%s!` (or a forced rollback) records what you decide.",
			d.Action, pc.Name, d.Version, stage, strings.TrimRight(de.Error(), ".!"), stage, stage, d.Action)
		return &Error{Code: Unknown, Msg: withLog(msg, de.Log), Err: err}
	}
	msg := fmt.Sprintf("%s %s %s to %s failed", d.Action, pc.Name, d.Version, stage)
	if de != nil {
		msg = withLog(msg+": "+sentence(de.Error())+" The ledger is unchanged.", de.Log)
	} else {
		msg += ": " + sentence(err.Error()) + " The ledger is unchanged."
	}
	return &Error{Code: Failed, Msg: msg, Err: err}
}

// sentence ends s with one full stop, whether or not it had one.
func sentence(s string) string {
	return strings.TrimRight(s, ".") + "."
}

// withLog appends the tail of a driver's log to msg.
func withLog(msg string, log []string) string {
	if n := len(log); n > 0 {
		msg += "\n" + strings.Join(log[max(0, n-driverLogTail):], "\n")
	}
	return msg
}

// DefaultProgressEvery is how often a running driver's progress becomes an
// event at most, per stage.
const DefaultProgressEvery = 5 * time.Second

// progressEvents turns a driver's progress lines into events for the
// pipeline's channel and chatops watch: the first line at once, then at most
// one event per ProgressEvery carrying the lines since the last, and the rest
// when the driver returns. Progress is best effort: an event that cannot be
// published is logged, and the deployment goes on.
type progressEvents struct {
	r    *run
	base Event
	mu   sync.Mutex
	last time.Time
	buf  []string
	n    int
}

func (r *run) driverProgress(d *Deployment) *progressEvents {
	return &progressEvents{r: r, base: Event{Pipeline: d.Pipeline, Stage: d.Stage, Version: d.Version, Commit: d.Commit,
		Action: d.Action, State: EventInProgress, By: r.c.Actor.ID, Source: r.c.Actor.Source, Channel: r.c.Channel, Job: r.c.JobID}}
}

func (p *progressEvents) add(line string) {
	every := p.r.e.ProgressEvery
	if every == 0 {
		every = DefaultProgressEvery
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, line)
	if now := p.r.e.Now(); p.last.IsZero() || now.Sub(p.last) >= every {
		p.publish(now)
	}
}

func (p *progressEvents) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.publish(p.r.e.Now())
}

func (p *progressEvents) publish(now time.Time) {
	if len(p.buf) == 0 || p.r.e.Events == nil {
		p.buf = nil
		return
	}
	ev := p.base
	p.n++
	ev.ID, ev.At = fmt.Sprintf("%s/%s/progress/%s/%d", ev.Pipeline, ev.Job, ev.Stage, p.n), now
	ev.Text = strings.Join(p.buf[max(0, len(p.buf)-driverLogTail):], "\n")
	p.buf, p.last = nil, now
	ctx, cancel := context.WithTimeout(context.WithoutCancel(p.r.ctx), 2*time.Second)
	defer cancel()
	if err := p.r.e.Events.Publish(ctx, &ev); err != nil {
		p.r.e.Log.Warn("publishing a driver's progress", "job", ev.Job, "stage", ev.Stage, "err", err)
	}
}
