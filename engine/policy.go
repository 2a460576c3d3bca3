package engine

import (
	"fmt"
	"slices"
	"strings"
)

// rule is a rule's name, as "policy.stages[1]", followed by " at " and where
// the config holds it when the config says: the audit and the terminal show
// both, a chat only the name (Error.Chat), since its users need not see
// where the server's config lives.
func (r *run) deny(rule, format string, args ...any) error {
	r.rec.Decision, r.rec.Rule = "denied", rule
	msg := fmt.Sprintf(format, args...)
	name, _, _ := strings.Cut(rule, " at ")
	return &Error{Code: Denied, Msg: msg + " (" + rule + ")", Chat: msg + " (" + name + ")"}
}

// checkCommand applies the command rules and the force rule.
func (r *run) checkCommand() error {
	if rule, ok := r.e.commandRule(r.c, r.cmd.Name); !ok {
		return r.deny(rule, "%s may not run %s", r.c.Actor.ID, r.cmd.Name)
	}
	if r.cmd.Force && !r.c.Actor.in(r.e.Config.Policy.Force) {
		return r.deny("policy.force at "+r.e.Config.at("policy.force"),
			"%s may not force %s with !: forcing needs group %s", r.c.Actor.ID, r.cmd.Name, orNobody(r.e.Config.Policy.Force))
	}
	return nil
}

// commandRule reports whether the command rules let c run command, and names
// the rule that decided.
func (e *Engine) commandRule(c Context, command string) (string, bool) {
	for i, rule := range e.Config.Policy.Commands {
		if rule.Command != command {
			continue
		}
		name := fmt.Sprintf("policy.commands[%d] at %s", i, e.Config.at(fmt.Sprintf("policy.commands.%d", i)))
		who := len(rule.Groups) == 0 && len(rule.Users) == 0 || c.Actor.in(rule.Groups)
		for _, u := range rule.Users {
			who = who || u == c.Actor.ID
		}
		where := len(rule.Channels) == 0 || c.Actor.Source != SourceSlack
		for _, ch := range rule.Channels {
			where = where || ch == c.Channel
		}
		if !who || !where {
			return name, false
		}
	}
	return "", true
}

// Allowed reports whether c may run the command called name, as help lists it.
func (e *Engine) Allowed(c Context, name string) bool {
	_, ok := e.commandRule(c, name)
	return ok
}

// checkStage applies the stage rules to a change of stage: groups, then
// confirmation. A confirmation or approval is asked for once every rule has
// passed and the change is known (see question).
func (r *run) checkStage(stage, action string) error {
	for i, rule := range r.e.Config.Policy.Stages {
		if rule.Stage != stage {
			continue
		}
		name := fmt.Sprintf("policy.stages[%d] at %s", i, r.e.Config.at(fmt.Sprintf("policy.stages.%d", i)))
		if len(rule.Groups) > 0 && !r.c.Actor.in(rule.Groups) {
			return r.deny(name, "%s may not change %s: that needs group %s", r.c.Actor.ID, stage, strings.Join(rule.Groups, " or "))
		}
		pipeline := r.text("pipeline")
		if rule.Approval && r.c.Approver == "" {
			r.rec.Rule = name
			if r.c.Actor.Source != SourceSlack {
				return r.deny(name, "%s needs approval by a second person of group %s: run it from Slack", action, orNobody(rule.Groups))
			}
			r.ask(&ConfirmationError{Reason: action + " needs approval by a second person (" + name + ")",
				Question: action, Approvers: append([]string{}, rule.Groups...), Pipeline: pipeline})
			continue
		}
		if rule.Confirm && !r.c.Confirmed {
			r.rec.Rule = name
			r.ask(&ConfirmationError{Reason: action + " needs confirmation (" + name + ")", Question: action, Pipeline: pipeline})
		}
	}
	return nil
}

// ask keeps the first question the stage rules ask.
func (r *run) ask(q *ConfirmationError) {
	if r.confirm == nil {
		r.confirm = q
	}
}

// question completes the pending confirmation with what the change would
// do, tried on the ledger as it is: each stage's old and new version, and
// the lock or unfinished deployment a forced change overrides. A change
// that would fail fails now instead of being asked about.
func (r *run) question(pc *PipelineConfig, fn func(st *PipelineState) (string, error)) error {
	st, _, err := r.e.state(r.ctx, pc)
	if err != nil {
		return err
	}
	probe := st.clone()
	if _, err := fn(probe); err != nil {
		return err
	}
	var changes, overrides []string
	for _, t := range probe.added {
		old := "nothing"
		if cur := st.current(t.Slot); cur != nil {
			old = cur.Version
		}
		changes = append(changes, fmt.Sprintf("%s: %s → %s", t.Slot, old, t.Release.Version))
		if !r.cmd.Force {
			continue
		}
		stage := stageOf(t.Slot)
		if s := st.Slots[stage]; s != nil && s.Deploying != nil {
			overrides = append(overrides, "the unfinished deployment ("+s.Deploying.describe()+")")
		}
		if lock, locked := st.lockOf(stage); lock != nil {
			what := "the lock on " + pc.Name
			if locked != "" {
				what += " " + locked
			}
			what += " by " + lock.By
			if lock.Reason != "" {
				what += " (" + lock.Reason + ")"
			}
			overrides = append(overrides, what)
		}
	}
	q := *r.confirm
	q.Question += " (" + strings.Join(changes, ", ") + ")"
	if len(overrides) > 0 {
		q.Question += ", overriding " + strings.Join(slices.Compact(overrides), " and ")
	}
	q.Question += "?"
	return &q
}
