package engine

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"strings"
	"time"

	"github.com/chatops/chatops/grammar"
)

// Sources of commands.
const (
	SourceTerminal = "terminal"
	SourceSlack    = "slack"
)

// Actor is the person a command runs for, resolved through the config.
type Actor struct {
	// ID is the person's name in the config, or the raw identity when unknown.
	ID     string   `json:"id"`
	Groups []string `json:"groups"`
	// Identity is what the adapter knew: a login, a Slack user id, an email.
	Identity string `json:"identity"`
	Source   string `json:"source"`
	Known    bool   `json:"known"`
}

// in reports whether the actor belongs to one of groups.
func (a Actor) in(groups []string) bool {
	for _, g := range groups {
		for _, h := range a.Groups {
			if g == h {
				return true
			}
		}
	}
	return false
}

// Context is what the adapter knows of one command: who, where, and how to
// report progress.
type Context struct {
	Actor   Actor
	Channel string
	// Confirmed says the person already answered yes to the confirmation.
	Confirmed bool
	// IdempotencyKey makes a redelivered command change the ledger once.
	IdempotencyKey string
	// JobID names the job; the engine makes one when it is empty.
	JobID string
	// Progress receives progress lines as the command runs; nil drops them.
	Progress func(string)
	// Approver is who approved the command, when someone else had to.
	Approver string
}

// Runner runs a custom command's program: the exec action's port.
type Runner interface {
	// Run runs spec and sends each line of its output to progress. It returns
	// an error when the program cannot start, fails or times out.
	Run(ctx context.Context, spec ExecSpec, progress func(string)) error
}

// ExecSpec is a custom command's program with its arguments filled in.
type ExecSpec struct {
	Argv    []string
	Env     []string
	Dir     string
	Timeout time.Duration
}

// Engine dispatches typed commands: policy, the pipelines ledger, jobs and audit.
// Build it with New; it is safe for concurrent use.
type Engine struct {
	Config  *Config
	Grammar *grammar.Grammar
	Store   Store
	Audit   AuditLog
	Jobs    Jobs
	History History
	Runner  Runner
	Log     *slog.Logger
	// Now is the clock.
	Now func() time.Time
	// NewID makes job ids and error references.
	NewID func() string
	// MaxAttempts bounds compare-and-set retries of one change.
	MaxAttempts int

	handlers map[string]handler
}

type handler func(r *run) (*Result, error)

// New returns an engine over cfg and the ports, with defaults for the rest.
func New(cfg *Config, store Store, audit AuditLog, jobs Jobs) (*Engine, error) {
	g, err := cfg.Grammar()
	if err != nil {
		return nil, err
	}
	e := &Engine{
		Config: cfg, Grammar: g, Store: store, Audit: audit, Jobs: jobs,
		Log:         slog.Default(),
		Now:         time.Now,
		NewID:       NewID,
		MaxAttempts: 500,
	}
	e.handlers = builtinHandlers()
	return e, nil
}

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewID returns a short random id: 13 characters of Crockford's base32.
func NewID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}

// Identify resolves an identity an adapter knows (a login, a Slack user id, an
// email) to the person the config declares, with their groups.
func (e *Engine) Identify(source, identity string) Actor {
	for _, u := range e.Config.Users {
		if identity != "" && (identity == u.Name || identity == u.Login || identity == u.Slack || strings.EqualFold(identity, u.Email)) {
			return Actor{ID: u.Name, Groups: append([]string(nil), u.Groups...), Identity: identity, Source: source, Known: true}
		}
	}
	return Actor{ID: identity, Groups: []string{}, Identity: identity, Source: source}
}

// Impersonate returns actor acting as the person called as, if policy lets
// actor impersonate (policy.impersonate).
func (e *Engine) Impersonate(actor Actor, as string) (Actor, error) {
	if !actor.in(e.Config.Policy.Impersonate) {
		return actor, Errorf(Denied, "%s may not run commands as someone else: that needs group %s (%s)",
			actor.ID, orNobody(e.Config.Policy.Impersonate), e.Config.at("policy.impersonate"))
	}
	target := e.Identify(actor.Source, as)
	if !target.Known {
		return actor, Errorf(NotFound, "no user %q in %s", as, e.Config.Path)
	}
	return target, nil
}

func orNobody(groups []string) string {
	if len(groups) == 0 {
		return "(none configured)"
	}
	return strings.Join(groups, " or ")
}

// ExecLine parses a raw chat line and runs it.
func (e *Engine) ExecLine(ctx context.Context, c Context, line string) (*Result, error) {
	cmd, err := e.Grammar.Parse(line)
	if err != nil {
		return nil, e.rejectInput(ctx, c, line, err)
	}
	return e.Dispatch(ctx, c, cmd)
}

// ExecArgs parses argv from a terminal and runs it.
func (e *Engine) ExecArgs(ctx context.Context, c Context, argv []string) (*Result, error) {
	cmd, err := e.Grammar.ParseArgs(argv)
	if err != nil {
		return nil, e.rejectInput(ctx, c, strings.Join(argv, " "), err)
	}
	return e.Dispatch(ctx, c, cmd)
}

// Admit is what a gateway checks before it accepts a command: the grammar and
// the command rules (who, which channel, forcing). A refusal is audited and
// returned, so the person hears of it at once; an admitted command is audited
// when a worker runs it. Stage rules need the ledger, so the worker applies them.
func (e *Engine) Admit(ctx context.Context, c Context, line string) (*grammar.Command, error) {
	cmd, err := e.Grammar.Parse(line)
	if err != nil {
		return nil, e.rejectInput(ctx, c, line, err)
	}
	r := &run{e: e, ctx: ctx, c: c, cmd: cmd, rec: e.record(c, cmd.Canonical())}
	if err := r.checkCommand(); err != nil {
		if v, ok := cmd.Get("pipeline"); ok {
			r.rec.Pipeline = v.Text
		}
		r.rec.Outcome, r.rec.Message = string(Denied), err.Error()
		if aerr := e.Audit.Append(context.WithoutCancel(ctx), r.rec); aerr != nil {
			return nil, aerr
		}
		return nil, err
	}
	return cmd, nil
}

// Revision returns a pipeline's change count, which a pending confirmation
// compares to make sure the pipeline did not change under the question.
func (e *Engine) Revision(ctx context.Context, pipeline string) (uint64, error) {
	pc, ok := e.Config.Pipeline(pipeline)
	if !ok {
		return 0, Errorf(NotFound, "no pipeline %q", pipeline)
	}
	st, _, err := e.state(ctx, pc)
	if err != nil {
		return 0, err
	}
	return st.Seq, nil
}

// MayApprove reports whether a may approve a change that needs a second
// person of groups, asked for by requester.
func (e *Engine) MayApprove(a Actor, requester string, groups []string) bool {
	return a.ID != requester && (len(groups) == 0 || a.in(groups))
}

// RunJob runs a queued job on a worker. The job's ID is the idempotency key,
// so a redelivered job changes the ledger once.
func (e *Engine) RunJob(ctx context.Context, j *QueuedJob, progress func(string)) (*Result, error) {
	c := Context{Actor: j.Actor, Channel: j.Channel, Confirmed: j.Confirmed, Approver: j.Approver,
		IdempotencyKey: j.ID, JobID: j.ID, Progress: progress}
	return e.ExecLine(ctx, c, j.Command)
}

// rejectInput audits a line the grammar refused and returns the diagnostic.
func (e *Engine) rejectInput(ctx context.Context, c Context, text string, err error) error {
	rec := e.record(c, text)
	rec.Decision, rec.Outcome, rec.Message = "invalid", string(Invalid), err.Error()
	if aerr := e.Audit.Append(ctx, rec); aerr != nil {
		return aerr
	}
	return err
}

func (e *Engine) record(c Context, text string) *AuditRecord {
	return &AuditRecord{At: e.Now(), JobID: c.JobID, Actor: c.Actor.ID, Source: c.Actor.Source, Channel: c.Channel, Command: text, Approver: c.Approver}
}

// run is one command being dispatched.
type run struct {
	e   *Engine
	ctx context.Context
	c   Context
	cmd *grammar.Command
	rec *AuditRecord
}

// Dispatch checks policy and runs a parsed command as a job, and records it in
// the audit stream whatever happens.
func (e *Engine) Dispatch(ctx context.Context, c Context, cmd *grammar.Command) (res *Result, err error) {
	start := e.Now()
	if c.JobID == "" {
		c.JobID = e.NewID()
	}
	r := &run{e: e, ctx: ctx, c: c, cmd: cmd, rec: e.record(c, cmd.Canonical())}
	if v, ok := cmd.Get("pipeline"); ok {
		r.rec.Pipeline = v.Text
	}
	r.rec.Decision = "allowed"
	job := &Job{ID: c.JobID, Command: r.rec.Command, Actor: c.Actor.ID, Source: c.Actor.Source, State: "running", Started: start}
	defer func() {
		if p := recover(); p != nil {
			err = e.internal(fmt.Errorf("panic: %v", p))
		}
		r.rec.Duration = e.Now().Sub(start)
		r.rec.Outcome = "ok"
		job.State, job.Outcome, job.Finished = "done", "ok", e.Now()
		if err != nil {
			var ce *Error
			if ErrorCode(err) == Internal && !(errors.As(err, &ce) && ce.Ref != "") {
				err = e.internal(err)
			}
			code := ErrorCode(err)
			r.rec.Outcome, r.rec.Message = string(code), ErrorMessage(err)
			job.State, job.Outcome = "failed", string(code)
			if errors.As(err, &ce) {
				r.rec.ErrorRef = ce.Ref
			}
			var q *ConfirmationError
			if errors.As(err, &q) {
				r.rec.Outcome = "unconfirmed"
			}
			if code == Denied && r.rec.Decision == "allowed" {
				r.rec.Decision = "denied"
			}
		}
		if jerr := e.Jobs.Put(context.WithoutCancel(ctx), job); jerr != nil {
			e.Log.Warn("recording job", "job", job.ID, "err", jerr)
		}
		if aerr := e.Audit.Append(context.WithoutCancel(ctx), r.rec); aerr != nil && err == nil {
			err = aerr
			res = nil
		}
	}()
	if err := r.checkCommand(); err != nil {
		return nil, err
	}
	h, ok := e.handlers[cmd.Name]
	if !ok {
		h = customHandler
	}
	return h(r)
}

// appendHistory records a saved change's releases in the full history. The
// change is made whatever happens here; the ledger keeps the recent releases.
func (e *Engine) appendHistory(ctx context.Context, st *PipelineState) {
	if e.History == nil {
		return
	}
	for _, a := range st.added {
		if err := e.History.Append(context.WithoutCancel(ctx), st.Name, a.seq, a.slot, a.release); err != nil {
			e.Log.Warn("release history", "pipeline", st.Name, "seq", a.seq, "err", err)
		}
	}
}

// internal logs err under a fresh reference and returns what users may see.
func (e *Engine) internal(err error) *Error {
	ref := e.NewID()
	e.Log.Error("internal error", "ref", ref, "err", err)
	return &Error{Code: Internal, Msg: "internal error", Ref: ref, Err: err}
}

// progress reports one line of progress.
func (r *run) progress(format string, args ...any) {
	if r.c.Progress != nil {
		r.c.Progress(fmt.Sprintf(format, args...))
	}
}

func (r *run) deny(rule, format string, args ...any) error {
	r.rec.Decision, r.rec.Rule = "denied", rule
	return &Error{Code: Denied, Msg: fmt.Sprintf(format, args...) + " (" + rule + ")"}
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
// confirmation.
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
			return &ConfirmationError{Reason: action + " needs approval by a second person (" + name + ")",
				Question: action + "?", Approvers: append([]string{}, rule.Groups...), Pipeline: pipeline}
		}
		if rule.Confirm && !r.c.Confirmed {
			r.rec.Rule = name
			return &ConfirmationError{Reason: action + " needs confirmation (" + name + ")", Question: action + "?", Pipeline: pipeline}
		}
	}
	return nil
}

// pipeline returns the configured pipeline the command names.
func (r *run) pipeline() (*PipelineConfig, error) {
	v, _ := r.cmd.Get("pipeline")
	pc, ok := r.e.Config.Pipeline(v.Text)
	if !ok {
		var names []string
		for _, p := range r.e.Config.Pipelines {
			names = append(names, p.Name)
		}
		return nil, Errorf(NotFound, "no pipeline %q; pipelines: %s", v.Text, strings.Join(names, ", "))
	}
	return pc, nil
}

// state loads a pipeline's ledger, or the seed of one never changed.
func (e *Engine) state(ctx context.Context, pc *PipelineConfig) (*PipelineState, uint64, error) {
	st, rev, err := e.Store.Load(ctx, pc.Name)
	if ErrorCode(err) == NotFound {
		return seedState(pc), 0, nil
	}
	return st, rev, err
}

// change applies fn to the pipeline's ledger with compare-and-set, retrying on
// fresh state when another writer got there first. fn must be free of side
// effects: it may run more than once. A change already applied under the
// context's idempotency key is not applied again.
func (r *run) change(pc *PipelineConfig, fn func(st *PipelineState) (string, error)) (string, error) {
	for attempt := 1; ; attempt++ {
		st, rev, err := r.e.state(r.ctx, pc)
		if err != nil {
			return "", err
		}
		if summary, ok := st.applied(r.c.IdempotencyKey); ok {
			return summary, nil
		}
		next := st.clone()
		summary, err := fn(next)
		if err != nil {
			return "", err
		}
		next.remember(r.c.IdempotencyKey, summary)
		_, err = r.e.Store.Save(r.ctx, next, rev)
		if err == nil {
			r.e.appendHistory(r.ctx, next)
		}
		if ErrorCode(err) != Conflict || attempt >= r.e.MaxAttempts {
			return summary, err
		}
		// Back off a little, at random, so retrying writers spread out.
		wait := time.Duration(mrand.Int64N(int64(min(attempt, 20))*int64(200*time.Microsecond)) + 1)
		select {
		case <-r.ctx.Done():
			return "", Errorf(Unavailable, "gave up changing %s: %w", pc.Name, r.ctx.Err())
		case <-time.After(wait):
		}
	}
}
