package engine

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/chatops/chatops/grammar"
)

func (r *run) text(name string) string {
	v, _ := r.cmd.Get(name)
	return v.Text
}

func (r *run) has(name string) bool {
	_, ok := r.cmd.Get(name)
	return ok
}

func runHelp(r *run) (*Result, error) {
	allowed := func(s *grammar.Spec) bool { return r.e.Allowed(r.c, s.Name) }
	if name := r.text("command"); name != "" {
		if !r.e.Allowed(r.c, name) {
			return nil, Errorf(Denied, "%s may not run %s", r.c.Actor.ID, name)
		}
		h, err := r.e.Grammar.CommandHelp(name)
		if err != nil {
			return nil, &Error{Code: Invalid, Msg: err.Error()}
		}
		return &Result{Title: "help " + name, Text: h, Data: map[string]string{"help": h}}, nil
	}
	h := r.e.Grammar.Help(allowed)
	return &Result{Title: "help", Text: h, Data: map[string]string{"help": h}}, nil
}

// StageView is one stage as info shows it.
type StageView struct {
	Name    string   `json:"name"`
	Version string   `json:"version,omitempty"`
	Release *Release `json:"release,omitempty"`
	Lock    *Lock    `json:"lock,omitempty"`
	// Deploying is the change a driver is carrying to the stage.
	Deploying *Deploying `json:"deploying,omitempty"`
	Apps      []AppView  `json:"apps,omitempty"`
}

// AppView is one app of a stage.
type AppView struct {
	Name    string   `json:"name"`
	Version string   `json:"version,omitempty"`
	Release *Release `json:"release,omitempty"`
}

// PipelineView is a pipeline as info and pipelines show it.
type PipelineView struct {
	Name   string      `json:"pipeline"`
	Lock   *Lock       `json:"lock,omitempty"`
	Stages []StageView `json:"stages"`
	// Route is where the pipeline's notifications go.
	Route *Route `json:"route,omitempty"`
}

func view(pc *PipelineConfig, st *PipelineState) PipelineView {
	v := PipelineView{Name: pc.Name, Lock: st.Lock, Route: st.Route}
	for _, stage := range pc.Stages {
		sv := StageView{Name: stage}
		if s, ok := st.Slots[stage]; ok {
			sv.Release, sv.Lock, sv.Deploying = s.Current, s.Lock, s.Deploying
			if s.Current != nil {
				sv.Version = s.Current.Version
			}
		}
		var apps []string
		for name := range st.Slots {
			if a, ok := strings.CutPrefix(name, stage+"/"); ok {
				apps = append(apps, a)
			}
		}
		sort.Strings(apps)
		for _, a := range apps {
			cur := st.Slots[stage+"/"+a].Current
			av := AppView{Name: a, Release: cur}
			if cur != nil {
				av.Version = cur.Version
			}
			sv.Apps = append(sv.Apps, av)
		}
		v.Stages = append(v.Stages, sv)
	}
	return v
}

func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func runPipelines(r *run) (*Result, error) {
	res := &Result{Title: "Pipelines", Columns: []string{"PIPELINE", "STAGES"}}
	var views []PipelineView
	for i := range r.e.Config.Pipelines {
		pc := &r.e.Config.Pipelines[i]
		st, _, err := r.e.state(r.ctx, pc)
		if err != nil {
			return nil, err
		}
		v := view(pc, st)
		views = append(views, v)
		var parts []string
		for _, s := range v.Stages {
			p := s.Name
			if s.Version != "" {
				p += " " + s.Version
			}
			parts = append(parts, p)
		}
		res.Rows = append(res.Rows, []string{pc.Name, strings.Join(parts, " → ")})
	}
	if len(views) == 0 {
		res.Text = "No pipelines are configured."
	}
	res.Data = views
	return res, nil
}

func runInfo(r *run) (*Result, error) {
	pc, err := r.pipeline()
	if err != nil {
		return nil, err
	}
	st, _, err := r.e.state(r.ctx, pc)
	if err != nil {
		return nil, err
	}
	v := view(pc, st)
	res := &Result{Title: "Pipeline " + pc.Name, Columns: []string{"STAGE", "VERSION", "COMMIT", "BY", "WHEN", "STATUS"}, Data: v}
	var notes []string
	if st.Lock != nil {
		notes = append(notes, describeLock(st.Lock, "The whole pipeline")+".")
	}
	if st.Route != nil {
		notes = append(notes, fmt.Sprintf("Notifications go to %s.", st.Route))
	}
	res.Text = strings.Join(notes, " ")
	row := func(name string, rel *Release, lock *Lock, d *Deploying) []string {
		row := []string{name, "-", "", "", "", ""}
		if rel != nil {
			row[1], row[2], row[3], row[4] = rel.Version, rel.Commit, rel.By, when(rel.At)
		}
		var status []string
		if d != nil {
			status = append(status, d.describe())
		}
		if lock != nil {
			l := "locked by " + lock.By
			if lock.Reason != "" {
				l += ": " + lock.Reason
			}
			status = append(status, l)
		}
		row[5] = strings.Join(status, "; ")
		return row
	}
	for _, s := range v.Stages {
		res.Rows = append(res.Rows, row(s.Name, s.Release, s.Lock, s.Deploying))
		for _, a := range s.Apps {
			res.Rows = append(res.Rows, row(s.Name+"/"+a.Name, a.Release, nil, nil))
		}
	}
	return res, nil
}

// stage returns the stage that the argument called name gives, or def, checked
// against the pipeline.
func (r *run) stage(pc *PipelineConfig, name, def string) (string, error) {
	stage := def
	if r.has(name) {
		stage = r.text(name)
	}
	return stage, checkStage(pc, stage)
}

// writable returns an error when a lock stops changing stage, unless forced.
func (r *run) writable(st *PipelineState, stage string) error {
	if s, ok := st.Slots[stage]; ok && s.Deploying != nil && s.Deploying.Job != r.c.JobID && !r.cmd.Force {
		d := s.Deploying
		if d.Unknown {
			return Errorf(Conflict, "%s %s: the %s; check %s, then force with %s! if you may", st.Name, stage, d.describe(), stage, r.cmd.Name)
		}
		return Errorf(Conflict, "%s %s is %s since %s; wait for it, or force with %s! if you may",
			st.Name, stage, d.describe(), d.At.UTC().Format(time.RFC3339), r.cmd.Name)
	}
	lock, locked := st.lockOf(stage)
	if lock == nil || r.cmd.Force {
		return nil
	}
	what := st.Name + " " + locked
	if locked == "" {
		what = "the whole pipeline " + st.Name
	}
	return Errorf(Conflict, "%s; unlock it, or force with %s! if you may", describeLock(lock, what), r.cmd.Name)
}

// changed is the result of a change to the ledger.
func changed(title, summary string, pc *PipelineConfig, data any) *Result {
	return &Result{Title: title, Text: summary, Data: map[string]any{"pipeline": pc.Name, "summary": summary, "change": data}}
}

func runRelease(r *run) (*Result, error) {
	pc, err := r.pipeline()
	if err != nil {
		return nil, err
	}
	stage, err := r.stage(pc, "to", pc.Stages[0])
	if err != nil {
		return nil, err
	}
	version := r.text("version")
	if err := r.checkStage(stage, fmt.Sprintf("Release %s %s into %s", pc.Name, version, stage)); err != nil {
		return nil, err
	}
	rel := Release{Version: version, Commit: r.text("commit"), Notes: r.text("notes"), By: r.c.Actor.ID, At: r.e.Now(), Action: "release"}
	summary, err := r.deploy(pc, func(st *PipelineState) (string, error) {
		if err := r.writable(st, stage); err != nil {
			return "", err
		}
		if cur := st.current(stage); cur != nil && cur.Version == version {
			return "", Errorf(Conflict, "%s already runs %s in %s", pc.Name, version, stage)
		}
		st.put(stage, rel)
		return fmt.Sprintf("Released %s %s into %s.", pc.Name, version, stage), nil
	})
	if err != nil {
		return nil, err
	}
	return changed("Released", summary, pc, rel), nil
}

func runDeploy(r *run) (*Result, error) {
	pc, err := r.pipeline()
	if err != nil {
		return nil, err
	}
	v, _ := r.cmd.Get("pipeline")
	branch := v.Part
	if branch == "" {
		branch = "main"
	}
	stage, err := r.stage(pc, "to", pc.Stages[0])
	if err != nil {
		return nil, err
	}
	if err := r.checkStage(stage, fmt.Sprintf("Deploy %s/%s into %s", pc.Name, branch, stage)); err != nil {
		return nil, err
	}
	r.progress("building %s from branch %s", pc.Name, branch)
	now := r.e.Now()
	var rel Release
	summary, err := r.deploy(pc, func(st *PipelineState) (string, error) {
		if err := r.writable(st, stage); err != nil {
			return "", err
		}
		base := "0.0.0"
		if cur := st.current(stage); cur != nil {
			base, _, _ = strings.Cut(strings.TrimPrefix(cur.Version, "v"), "-")
			base, _, _ = strings.Cut(base, "+")
		}
		rel = Release{Version: fmt.Sprintf("%s-%s.%d", base, buildID(branch), st.Seq+1), Branch: branch, By: r.c.Actor.ID, At: now, Action: "deploy"}
		st.put(stage, rel)
		return fmt.Sprintf("Deployed %s/%s into %s as %s.", pc.Name, branch, stage, rel.Version), nil
	})
	if err != nil {
		return nil, err
	}
	return changed("Deployed", summary, pc, rel), nil
}

// buildID makes a branch name fit a semantic version's pre-release part.
func buildID(branch string) string {
	b := []byte(branch)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			b[i] = '-'
		}
	}
	return string(b)
}

// promotion is what a promote command resolves to.
type promotion struct {
	from    string   // slot
	targets []string // slots
}

// plan resolves a promote's stages: no clauses promotes the stage upstream of
// the last into the last; only targets promotes from the stage before the
// first target; only a source promotes into the next stage.
func (r *run) plan(pc *PipelineConfig) (promotion, error) {
	var p promotion
	from, hasFrom := r.cmd.Get("from")
	tos := r.cmd.All("to")
	for _, t := range tos {
		if err := checkStage(pc, t.Text); err != nil {
			return p, err
		}
	}
	if hasFrom {
		if err := checkStage(pc, from.Text); err != nil {
			return p, err
		}
	}
	if len(pc.Stages) < 2 && (!hasFrom || len(tos) == 0) {
		return p, Errorf(Invalid, "pipeline %s has a single stage: nothing to promote into", pc.Name)
	}
	switch {
	case !hasFrom && len(tos) == 0:
		n := len(pc.Stages)
		p.from, p.targets = pc.Stages[n-2], []string{pc.Stages[n-1]}
	case !hasFrom:
		i := stageIndex(pc, tos[0].Text)
		if i == 0 {
			return p, Errorf(Invalid, "%s is the first stage of %s: say which stage to promote from", tos[0].Text, pc.Name)
		}
		p.from = pc.Stages[i-1]
	case len(tos) == 0:
		i := stageIndex(pc, from.Text)
		if i == len(pc.Stages)-1 {
			return p, Errorf(Invalid, "%s is the last stage of %s: there is nothing after it to promote into", from.Text, pc.Name)
		}
		p.from = slotName(from.Text, from.Part)
		p.targets = []string{pc.Stages[i+1]}
	default:
		p.from = slotName(from.Text, from.Part)
	}
	for _, t := range tos {
		p.targets = append(p.targets, slotName(t.Text, t.Part))
	}
	fromIdx := stageIndex(pc, stageOf(p.from))
	for _, t := range p.targets {
		if t == p.from {
			return p, Errorf(Invalid, "cannot promote %s into itself", t)
		}
		if stageIndex(pc, stageOf(t)) < fromIdx {
			return p, Errorf(Invalid, "cannot promote from %s back up to %s: promotion goes downstream (%s)", p.from, t, strings.Join(pc.Stages, " → "))
		}
	}
	return p, nil
}

func stageOf(slot string) string {
	s, _, _ := strings.Cut(slot, "/")
	return s
}

func runPromote(r *run) (*Result, error) {
	pc, err := r.pipeline()
	if err != nil {
		return nil, err
	}
	p, err := r.plan(pc)
	if err != nil {
		return nil, err
	}
	for _, t := range p.targets {
		if err := r.checkStage(stageOf(t), fmt.Sprintf("Promote %s from %s to %s", pc.Name, p.from, strings.Join(p.targets, ", "))); err != nil {
			return nil, err
		}
	}
	now := r.e.Now()
	var moved []Release
	summary, err := r.deploy(pc, func(st *PipelineState) (string, error) {
		moved = moved[:0]
		src := st.current(p.from)
		if src == nil {
			return "", Errorf(Conflict, "%s has no release in %s to promote", pc.Name, p.from)
		}
		var done, same []string
		for _, t := range p.targets {
			if err := r.writable(st, stageOf(t)); err != nil {
				return "", err
			}
			if cur := st.current(t); cur != nil && cur.Version == src.Version {
				same = append(same, t)
				continue
			}
			rel := *src
			rel.By, rel.At, rel.Action, rel.From = r.c.Actor.ID, now, "promote", p.from
			st.put(t, rel)
			moved = append(moved, rel)
			done = append(done, t)
		}
		var parts []string
		if len(done) > 0 {
			parts = append(parts, fmt.Sprintf("Promoted %s %s from %s to %s.", pc.Name, src.Version, p.from, strings.Join(done, ", ")))
		}
		if len(same) > 0 {
			parts = append(parts, fmt.Sprintf("%s already runs %s in %s.", pc.Name, src.Version, strings.Join(same, ", ")))
		}
		return strings.Join(parts, " "), nil
	})
	if err != nil {
		return nil, err
	}
	return changed("Promoted", summary, pc, map[string]any{"from": p.from, "to": p.targets}), nil
}

func runReleases(r *run) (*Result, error) {
	pc, err := r.pipeline()
	if err != nil {
		return nil, err
	}
	stage, err := r.stage(pc, "in", pc.Stages[len(pc.Stages)-1])
	if err != nil {
		return nil, err
	}
	limit, _ := r.cmd.Get("limit")
	if limit.Int < 1 {
		return nil, Errorf(Invalid, "--limit must be at least 1, got %d", limit.Int)
	}
	st, _, err := r.e.state(r.ctx, pc)
	if err != nil {
		return nil, err
	}
	var list []Release
	s := st.Slots[stage]
	if s != nil {
		for i := len(s.History) - 1; i >= 0 && int64(len(list)) < limit.Int; i-- {
			list = append(list, s.History[i])
		}
	}
	if s != nil && int64(len(list)) < limit.Int && len(s.History) >= historyLimit && r.e.History != nil {
		// The ledger keeps the recent releases; the history has the rest.
		if list, err = r.e.History.List(r.ctx, pc.Name, stage, int(limit.Int)); err != nil {
			return nil, err
		}
	}
	res := &Result{Title: fmt.Sprintf("Releases of %s in %s", pc.Name, stage), Columns: []string{"VERSION", "ACTION", "BY", "WHEN", "COMMIT", "NOTES"}, Data: list}
	for _, rel := range list {
		action := rel.Action
		if rel.From != "" {
			action += " from " + rel.From
		}
		res.Rows = append(res.Rows, []string{rel.Version, action, rel.By, when(rel.At), rel.Commit, rel.Notes})
	}
	if len(list) == 0 {
		res.Text = "No releases yet."
	}
	return res, nil
}

func runRollback(r *run) (*Result, error) {
	pc, err := r.pipeline()
	if err != nil {
		return nil, err
	}
	stage, err := r.stage(pc, "in", pc.Stages[len(pc.Stages)-1])
	if err != nil {
		return nil, err
	}
	target := r.text("to")
	action := fmt.Sprintf("Roll %s back in %s", pc.Name, stage)
	if target != "" {
		action += " to " + target
	}
	if err := r.checkStage(stage, action); err != nil {
		return nil, err
	}
	now := r.e.Now()
	// The ledger keeps a slot's recent releases; beyond them, the history
	// has every one. It is read only when the recent ones cannot answer.
	var full []Release
	fullHistory := func(s *Slot) ([]Release, error) {
		if full == nil {
			newest, err := r.e.History.List(r.ctx, pc.Name, stage, math.MaxInt32)
			if err != nil {
				return nil, err
			}
			full = slices.Clone(newest)
			slices.Reverse(full)
			if v, ok := pc.Seed[stage]; ok { // the seed came with the config, not as a change
				full = append([]Release{{Version: v, By: "config", Action: "seed"}}, full...)
			}
		}
		if n := len(full); n > 0 && s.Current != nil && full[n-1].Version == s.Current.Version && full[n-1].At.Equal(s.Current.At) {
			return full, nil
		}
		return nil, nil // changed since it was read: the recent ones answer
	}
	summary, err := r.deploy(pc, func(st *PipelineState) (string, error) {
		if err := r.writable(st, stage); err != nil {
			return "", err
		}
		s := st.Slots[stage]
		complete := len(s.History) < historyLimit || r.e.History == nil
		var back *Release
		if target == "" {
			var enough bool
			if back, enough = rollbackTarget(s.History, complete); !enough {
				hist, err := fullHistory(s)
				if err != nil {
					return "", err
				}
				if hist == nil {
					hist = s.History
				}
				back, _ = rollbackTarget(hist, true)
			}
			if back == nil {
				return "", Errorf(Conflict, "%s has no earlier release in %s to roll back to", pc.Name, stage)
			}
		} else if back = findRelease(s, target); back == nil && !complete {
			hist, err := fullHistory(s)
			if err != nil {
				return "", err
			}
			back = findRelease(&Slot{History: hist}, target)
		}
		if back == nil {
			return "", Errorf(NotFound, "%s never ran %s in %s; see releases %s in %s", pc.Name, target, stage, pc.Name, stage)
		}
		from := s.Current.Version
		if from == back.Version {
			return "", Errorf(Conflict, "%s already runs %s in %s", pc.Name, back.Version, stage)
		}
		rel := *back
		rel.By, rel.At, rel.Action, rel.From = r.c.Actor.ID, now, "rollback", ""
		st.put(stage, rel)
		return fmt.Sprintf("Rolled %s back in %s from %s to %s.", pc.Name, stage, from, back.Version), nil
	})
	if err != nil {
		return nil, err
	}
	return changed("Rolled back", summary, pc, nil), nil
}

func runLock(r *run) (*Result, error) {
	return lockOrUnlock(r, true)
}

func runUnlock(r *run) (*Result, error) {
	return lockOrUnlock(r, false)
}

func lockOrUnlock(r *run, lock bool) (*Result, error) {
	pc, err := r.pipeline()
	if err != nil {
		return nil, err
	}
	stage := r.text("stage")
	what := "the whole pipeline " + pc.Name
	if stage != "" {
		if err := checkStage(pc, stage); err != nil {
			return nil, err
		}
		what = pc.Name + " " + stage
		for _, rule := range r.e.Config.Policy.Stages {
			if rule.Stage == stage && len(rule.Groups) > 0 && !r.c.Actor.in(rule.Groups) {
				return nil, r.deny("policy.stages for "+stage, "%s may not change %s: that needs group %s", r.c.Actor.ID, stage, strings.Join(rule.Groups, " or "))
			}
		}
	}
	now := r.e.Now()
	summary, err := r.change(pc, func(st *PipelineState) (string, error) {
		ref := &st.Lock
		if stage != "" {
			ref = &st.slot(stage).Lock
		}
		if lock {
			if *ref != nil && !r.cmd.Force {
				return "", Errorf(Conflict, "%s already; unlock it first, or replace the lock with lock! if you may", describeLock(*ref, what))
			}
			*ref = &Lock{By: r.c.Actor.ID, Reason: r.text("reason"), At: now}
			st.Seq++
			return fmt.Sprintf("Locked %s.", what), nil
		}
		if *ref == nil {
			return fmt.Sprintf("%s was not locked.", upperFirst(what)), nil
		}
		if owner := (*ref).By; owner != r.c.Actor.ID {
			// Someone else's lock: unlocking it takes the rights locking does.
			if rule, ok := r.e.commandRule(r.c, "lock"); !ok {
				return "", r.deny(rule, "%s may not unlock %s, locked by %s: that takes the rights to lock", r.c.Actor.ID, what, owner)
			}
		}
		*ref = nil
		st.Seq++
		return fmt.Sprintf("Unlocked %s.", what), nil
	})
	if err != nil {
		return nil, err
	}
	title := "Locked"
	if !lock {
		title = "Unlocked"
	}
	return changed(title, summary, pc, nil), nil
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func runRoute(r *run) (*Result, error) {
	if !r.has("pipeline") {
		return runRoutes(r)
	}
	pc, err := r.pipeline()
	if err != nil {
		return nil, err
	}
	v, _ := r.cmd.Get("to")
	route := Route{Channel: v.Text, Name: v.Label, Workspace: r.c.Workspace, By: r.c.Actor.ID, At: r.e.Now()}
	if route.Channel == "" {
		if r.e.Channels == nil {
			return nil, Errorf(Invalid, "cannot look up #%s here: there is no Slack token to ask Slack with. Give the channel's id instead (route %s to C0123ABCD; Slack shows it at the bottom of the channel's details), or set SLACK_BOT_TOKEN", v.Label, pc.Name)
		}
		if route.Channel, err = r.e.Channels.Lookup(r.ctx, r.c.Workspace, v.Label); err != nil {
			return nil, err
		}
	}
	summary, err := r.change(pc, func(st *PipelineState) (string, error) {
		if st.Route != nil && st.Route.Channel == route.Channel && st.Route.Workspace == route.Workspace {
			return fmt.Sprintf("%s's notifications already go to %s.", pc.Name, st.Route), nil
		}
		was := st.Route
		st.Route = &route
		st.Seq++
		if was != nil {
			return fmt.Sprintf("%s's notifications go to %s now, no longer to %s.", pc.Name, &route, was), nil
		}
		return fmt.Sprintf("%s's notifications go to %s now.", pc.Name, &route), nil
	})
	if err != nil {
		return nil, err
	}
	return changed("Routed", summary, pc, route), nil
}

func runUnroute(r *run) (*Result, error) {
	pc, err := r.pipeline()
	if err != nil {
		return nil, err
	}
	summary, err := r.change(pc, func(st *PipelineState) (string, error) {
		if st.Route == nil {
			return fmt.Sprintf("%s's notifications went nowhere already.", pc.Name), nil
		}
		was := st.Route
		st.Route = nil
		st.Seq++
		return fmt.Sprintf("%s's notifications no longer go to %s.", pc.Name, was), nil
	})
	if err != nil {
		return nil, err
	}
	return changed("Unrouted", summary, pc, nil), nil
}

// RouteView is one pipeline's route, as route lists it.
type RouteView struct {
	Pipeline string `json:"pipeline"`
	Route    *Route `json:"route"`
}

func runRoutes(r *run) (*Result, error) {
	res := &Result{Title: "Routes", Columns: []string{"PIPELINE", "CHANNEL", "BY", "SINCE"}}
	views := []RouteView{}
	for i := range r.e.Config.Pipelines {
		pc := &r.e.Config.Pipelines[i]
		st, _, err := r.e.state(r.ctx, pc)
		if err != nil {
			return nil, err
		}
		views = append(views, RouteView{Pipeline: pc.Name, Route: st.Route})
		if st.Route == nil {
			res.Rows = append(res.Rows, []string{pc.Name, "-", "", ""})
			continue
		}
		res.Rows = append(res.Rows, []string{pc.Name, st.Route.String(), st.Route.By, when(st.Route.At)})
	}
	if len(views) == 0 {
		res.Text = "No pipelines are configured."
	}
	res.Data = views
	return res, nil
}

func runJobs(r *run) (*Result, error) {
	if id := r.text("job-id"); id != "" {
		j, err := r.e.Jobs.Get(r.ctx, id)
		if err != nil {
			return nil, err
		}
		outcome := j.Outcome
		if j.Message != "" {
			outcome += ": " + j.Message
		}
		attempts := ""
		if j.Attempts > 0 {
			attempts = fmt.Sprint(j.Attempts)
		}
		res := &Result{Title: "Job " + j.ID, Data: j, Fields: []Field{
			{"Command", j.Command}, {"By", j.Actor + " (" + j.Source + ")"}, {"State", j.State},
			{"Queued", when(j.Queued)}, {"Worker", j.Worker}, {"Attempts", attempts},
			{"Started", when(j.Started)}, {"Finished", when(j.Finished)}, {"Outcome", outcome}, {"Answer", strings.TrimSpace(string(j.Answer) + " " + j.AnswerNote)},
		}}
		res.Text = strings.Join(j.Progress, "\n")
		return res, nil
	}
	list, err := r.e.Jobs.List(r.ctx, 20)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(list, func(a, b int) bool { return jobTime(list[a]).After(jobTime(list[b])) })
	for i := range list { // the list says where each stands; jobs <id> tells the rest
		list[i].Result, list[i].Progress, list[i].Question = nil, nil, nil
	}
	res := &Result{Title: "Jobs", Columns: []string{"ID", "STATE", "BY", "STARTED", "COMMAND"}, Data: list}
	for _, j := range list {
		res.Rows = append(res.Rows, []string{j.ID, j.State, j.Actor, when(jobTime(j)), j.Command})
	}
	if len(list) == 0 {
		res.Text = "No jobs yet."
		res.Data = []Job{}
	}
	return res, nil
}

// jobTime is when a job started, or was queued if it has not yet.
func jobTime(j Job) time.Time {
	if j.Started.IsZero() {
		return j.Queued
	}
	return j.Started
}

func runWhoami(r *run) (*Result, error) {
	a := r.c.Actor
	groups := strings.Join(a.Groups, ", ")
	if groups == "" {
		groups = "(none)"
	}
	known := "yes"
	if !a.Known {
		known = "no: add yourself under users in " + r.e.Config.Path
	}
	res := &Result{Title: "You are " + a.ID, Data: a, Fields: []Field{
		{"Identity", a.Identity}, {"Source", a.Source}, {"Groups", groups}, {"In the config", known},
	}}
	if a.By != "" {
		res.Fields = append(res.Fields, Field{"Run by", a.By + " (--as)"})
	}
	return res, nil
}
