package engine

import (
	"fmt"
	"strings"
	"time"
)

// Release is one version running in a stage (or an app of a stage).
type Release struct {
	Version string    `json:"version"`
	Commit  string    `json:"commit,omitempty"`
	Branch  string    `json:"branch,omitempty"`
	Notes   string    `json:"notes,omitempty"`
	By      string    `json:"by"`
	At      time.Time `json:"at,omitzero"`
	// Action is how it got there: seed, release, deploy, promote or rollback.
	Action string `json:"action"`
	// From is the slot a promotion came from.
	From string `json:"from,omitempty"`
	// Ref is the deploying system's own id of this release in its stage
	// (a Heroku release, a GitHub deployment), as its driver reported it.
	Ref string `json:"ref,omitempty"`
}

// Deploying is a change on its way to a stage through the stage's driver.
// While it is there, the stage refuses other changes unless forced.
type Deploying struct {
	Version string    `json:"version"`
	Action  string    `json:"action"`
	Job     string    `json:"job"`
	By      string    `json:"by"`
	At      time.Time `json:"at"`
	// Unknown says the process running the driver died: whether the
	// stage runs Version is unknown until someone checks and forces a
	// change.
	Unknown bool `json:"unknown,omitempty"`
}

// describe says what the deployment is, for info and for conflicts.
func (d *Deploying) describe() string {
	if d.Unknown {
		return fmt.Sprintf("%s of %s unknown (job %s by %s stopped)", d.Action, d.Version, d.Job, d.By)
	}
	return fmt.Sprintf("deploying %s (job %s by %s)", d.Version, d.Job, d.By)
}

// Lock stops changes to a stage, or to a whole pipeline, until removed.
type Lock struct {
	By     string    `json:"by"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// Slot is a stage, or an app within a stage ("staging/api"): what runs there and
// what ran before.
type Slot struct {
	Current *Release  `json:"current,omitempty"`
	History []Release `json:"history,omitempty"` // oldest first, at most historyLimit
	Lock    *Lock     `json:"lock,omitempty"`
	// Deploying is the change its driver is carrying out, if any.
	Deploying *Deploying `json:"deploying,omitempty"`
}

// historyLimit bounds each slot's history in the ledger, so that a change reads
// and writes a small record; the History port keeps all of it.
const historyLimit = 20

// PipelineState is the ledger of one pipeline: one record, changed only by
// compare-and-set, so concurrent changes are serialised and none is lost.
type PipelineState struct {
	Name string `json:"name"`
	// Seq counts the changes; every change appends one release or lock event.
	Seq   uint64           `json:"seq"`
	Lock  *Lock            `json:"lock,omitempty"`
	Slots map[string]*Slot `json:"slots"`
	// Route is where the pipeline's notifications go, if anywhere.
	Route *Route `json:"route,omitempty"`

	// added lists this change's new releases, for the history.
	added []SlotRelease
}

// slot returns the slot called name, creating it.
func (p *PipelineState) slot(name string) *Slot {
	if p.Slots == nil {
		p.Slots = map[string]*Slot{}
	}
	s, ok := p.Slots[name]
	if !ok {
		s = &Slot{}
		p.Slots[name] = s
	}
	return s
}

// current returns what runs in a slot, or nil.
func (p *PipelineState) current(name string) *Release {
	if s, ok := p.Slots[name]; ok {
		return s.Current
	}
	return nil
}

// put makes r current in slot name and appends it to its history.
func (p *PipelineState) put(name string, r Release) {
	s := p.slot(name)
	rc := r
	s.Current = &rc
	s.History = append(s.History, r)
	if len(s.History) > historyLimit {
		s.History = append([]Release(nil), s.History[len(s.History)-historyLimit:]...)
	}
	p.Seq++
	p.added = append(p.added, SlotRelease{Seq: p.Seq, Slot: name, Release: r})
}

// lockOf returns the lock that stops changes to stage, if any: the stage's own
// (and the stage), or the pipeline's (and "").
func (p *PipelineState) lockOf(stage string) (*Lock, string) {
	if s, ok := p.Slots[stage]; ok && s.Lock != nil {
		return s.Lock, stage
	}
	if p.Lock != nil {
		return p.Lock, ""
	}
	return nil, ""
}

// clone returns a deep copy, so a change can be retried on fresh state.
func (p *PipelineState) clone() *PipelineState {
	c := *p
	if p.Lock != nil {
		l := *p.Lock
		c.Lock = &l
	}
	if p.Route != nil {
		rt := *p.Route
		c.Route = &rt
	}
	c.Slots = make(map[string]*Slot, len(p.Slots))
	for k, s := range p.Slots {
		n := Slot{History: append([]Release(nil), s.History...)}
		if s.Current != nil {
			r := *s.Current
			n.Current = &r
		}
		if s.Lock != nil {
			l := *s.Lock
			n.Lock = &l
		}
		if s.Deploying != nil {
			d := *s.Deploying
			n.Deploying = &d
		}
		c.Slots[k] = &n
	}
	c.added = nil
	return &c
}

// seedState is a new pipeline's ledger, from the config's seed versions.
func seedState(pc *PipelineConfig) *PipelineState {
	st := &PipelineState{Name: pc.Name, Slots: map[string]*Slot{}}
	for _, stage := range pc.Stages {
		st.Slots[stage] = &Slot{}
		if v, ok := pc.Seed[stage]; ok {
			st.put(stage, Release{Version: v, By: "config", Action: "seed"})
		}
	}
	st.Seq, st.added = 0, nil
	return st
}

// stageIndex returns the position of stage in the pipeline, or -1.
func stageIndex(pc *PipelineConfig, stage string) int {
	for i, s := range pc.Stages {
		if s == stage {
			return i
		}
	}
	return -1
}

// slotName joins a stage and an optional app: staging, staging/api.
func slotName(stage, app string) string {
	if app == "" {
		return stage
	}
	return stage + "/" + app
}

func checkStage(pc *PipelineConfig, stage string) error {
	if stageIndex(pc, stage) < 0 {
		return Errorf(NotFound, "pipeline %s has no stage %q; stages: %s", pc.Name, stage, strings.Join(pc.Stages, ", "))
	}
	return nil
}

// rollbackTarget returns the release a rollback goes back to: the one before
// the current in the line of releases that rollbacks have not undone. The
// history is replayed as a stack: a release, deploy or promotion pushes its
// version, and a rollback to a version pops back to it, so a second rollback
// goes back one more release instead of forward again.
//
// With complete false, history is only the newest part of the slot's, and
// what lay below it on the stack is unknown. A rollback to a version not on
// the stack popped into that unknown part: the stack becomes that release
// alone, with the unknown below it again. enough is false when the answer
// lies in the unknown part, where only the whole history can tell.
func rollbackTarget(history []Release, complete bool) (back *Release, enough bool) {
	var stack []Release
	for _, r := range history {
		if r.Action == "rollback" {
			i := len(stack) - 1
			for i >= 0 && stack[i].Version != r.Version {
				i--
			}
			switch {
			case i >= 0:
				stack = stack[:i+1]
				continue
			case !complete:
				stack = stack[:0]
			}
		}
		stack = append(stack, r)
	}
	for i := len(stack) - 2; i >= 0; i-- {
		if stack[i].Version != stack[len(stack)-1].Version {
			r := stack[i]
			return &r, true
		}
	}
	return nil, complete
}

func findRelease(s *Slot, version string) *Release {
	if s == nil {
		return nil
	}
	for i := len(s.History) - 1; i >= 0; i-- {
		if s.History[i].Version == version {
			r := s.History[i]
			return &r
		}
	}
	return nil
}

func describeLock(l *Lock, what string) string {
	msg := fmt.Sprintf("%s is locked by %s since %s", what, l.By, l.At.UTC().Format(time.RFC3339))
	if l.Reason != "" {
		msg += ": " + l.Reason
	}
	return msg
}
