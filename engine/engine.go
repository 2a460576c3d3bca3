package engine

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
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
	// By is who really runs the command when it runs as this actor (--as),
	// and empty otherwise.
	By string `json:"by,omitempty"`
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
	// Late is how late the command reached chatops, when chat delivered it
	// well after it was typed: it is not run before the person says yes.
	Late time.Duration
	// JobID names the job; the engine makes one when it is empty. It is
	// also the key of the command's ledger change, so a job changes the
	// ledger once.
	JobID string
	// Progress receives progress lines as the command runs; nil drops them.
	Progress func(string)
	// Approver is who approved the command, when someone else had to.
	Approver string
	// Workspace is the chat workspace the command came from (a Slack team
	// id), if any.
	Workspace string

	// recovering, when set, is the start of a dead worker's attempt at this
	// job: its change, if any, is looked up before it is made.
	recovering time.Time
}

// Runner runs a custom command's program: the exec action's port.
type Runner interface {
	// Run runs spec and sends each line of its output to progress. It
	// returns an error when the program cannot start, exits non-zero, times
	// out or ctx ends; the engine reports each as Failed, an outcome never
	// retried.
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
	// Drivers carry changes to the stages that have one.
	Drivers map[StageKey]Driver
	// Events receives the progress of deploy drivers; nil drops it. The
	// events of ledger changes travel with the changes themselves.
	Events Events
	// Channels finds channels a route names only by #name; nil asks for
	// the channel's id instead.
	Channels Channels
	// ProgressEvery paces the progress events of a running driver: at most
	// one per stage in that time, with the lines in between;
	// DefaultProgressEvery when zero.
	ProgressEvery time.Duration
	Log           *slog.Logger
	// Now is the clock.
	Now func() time.Time
	// After waits: time.After unless a test gives its own.
	After func(time.Duration) <-chan time.Time
	// NewID makes job ids and error references.
	NewID func() string
	// MaxAttempts bounds compare-and-set retries of one change.
	MaxAttempts int
	// ChangeBackoff spaces out the retries of a change; DefaultChangeBackoff
	// when nil.
	ChangeBackoff Backoff
	// StoreTimeout bounds how long a change waits for an unreachable store
	// before it reports that its outcome is unknown.
	StoreTimeout time.Duration
	// Claims, when set, records who took each queued job first: a worker,
	// or the gateway refusing it (see Refuse).
	Claims Claims
	// BeatEvery is how often a worker running a job says so in the job's
	// record; DefaultBeatEvery when zero. A running job whose record has
	// not beaten for three of them is taken for a dead worker's.
	BeatEvery time.Duration
	// Workers, when set, asks a worker whether it runs a job, for a job
	// whose record has stopped beating: a store electing a leader stops
	// the beats of workers that live.
	Workers Workers

	actions map[*grammar.Spec]action
	// running holds the jobs this process runs now, by worker
	// (runningKey), from their claim to their recorded outcome.
	running sync.Map
}

// action is what a command does: a built-in's handler or a custom command's
// program.
type action struct {
	run func(r *run) (*Result, error)
	// idempotent actions may run again for a job whose worker died: reads,
	// and ledger changes keyed by the job id.
	idempotent bool
	// staged actions decide their stages from the command and the config
	// alone, apply the stage rules, and only then read or change the
	// ledger: Admit runs them that far, so that a stage rule's denial
	// comes back at once.
	staged bool
}

// New returns an engine over cfg and the ports, with defaults for the rest. It
// binds every command of the grammar to its action and fails if one has none.
func New(cfg *Config, store Store, audit AuditLog, jobs Jobs) (*Engine, error) {
	g, err := cfg.Grammar()
	if err != nil {
		return nil, err
	}
	e := &Engine{
		Config: cfg, Grammar: g, Store: store, Audit: audit, Jobs: jobs,
		Log:          slog.Default(),
		Now:          time.Now,
		After:        time.After,
		NewID:        NewID,
		MaxAttempts:  500,
		StoreTimeout: 30 * time.Second,
	}
	if e.actions, err = bind(g, cfg); err != nil {
		return nil, err
	}
	return e, nil
}

// bind links each command form of g to its action: the built-ins by their
// place in the builtins table, custom commands to their exec action.
func bind(g *grammar.Grammar, cfg *Config) (map[*grammar.Spec]action, error) {
	actions := map[*grammar.Spec]action{}
	forms := map[string]int{} // forms of a name seen so far
	for _, b := range builtins {
		name := declName(b.decl.Usage)
		specs := g.Forms(name)
		if forms[name] >= len(specs) {
			return nil, fmt.Errorf("built-in %q has no form in the grammar", b.decl.Usage)
		}
		actions[specs[forms[name]]] = action{run: b.run, idempotent: b.idempotent, staged: b.staged}
		forms[name]++
	}
	for i := range cfg.Commands {
		cc := &cfg.Commands[i]
		name := declName(cc.Usage)
		specs := g.Forms(name)
		if forms[name] >= len(specs) {
			return nil, fmt.Errorf("custom command %q has no form in the grammar", cc.Usage)
		}
		actions[specs[forms[name]]] = action{run: customAction(cc)}
		forms[name]++
	}
	for _, name := range g.Commands() {
		for _, s := range g.Forms(name) {
			if _, ok := actions[s]; !ok {
				return nil, fmt.Errorf("command form %q has no action", s.Usage())
			}
		}
	}
	return actions, nil
}

// declName is the command name a usage line declares.
func declName(usage string) string {
	name, _, _ := strings.Cut(strings.TrimSpace(usage), " ")
	return strings.TrimSuffix(strings.ToLower(name), "[!]")
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
// actor impersonate (policy.impersonate). The actor returned carries the real
// person in By, so the audit names both. A refused attempt is audited, with
// command, the line it came with.
func (e *Engine) Impersonate(ctx context.Context, actor Actor, as, command string) (Actor, error) {
	var err error
	target := e.Identify(actor.Source, as)
	switch {
	case !actor.in(e.Config.Policy.Impersonate):
		err = Errorf(Denied, "%s may not run commands as someone else: that needs group %s (%s)",
			actor.ID, orNobody(e.Config.Policy.Impersonate), e.Config.at("policy.impersonate"))
	case !target.Known:
		err = Errorf(NotFound, "no user %q in %s", as, e.Config.Path)
	default:
		target.By = actor.ID
		return target, nil
	}
	rec := e.record(Context{Actor: actor}, command)
	rec.As, rec.Decision, rec.Rule, rec.Outcome, rec.Message = as, "denied", "policy.impersonate", string(ErrorCode(err)), err.Error()
	if aerr := e.Audit.Append(context.WithoutCancel(ctx), rec); aerr != nil {
		return actor, aerr
	}
	return actor, err
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
	a, err := e.Admission(ctx, c, line)
	return a.Command, err
}

// Admitted is a command an adapter may enqueue, and what it will do first.
type Admitted struct {
	Command *grammar.Command
	// Asks says a stage rule will ask for a confirmation or an approval
	// before the command changes anything.
	Asks bool
}

// Admission is Admit, saying too whether the command will ask before it
// runs. The stage rules of a command that changes stages (release, deploy,
// promote, rollback) are applied now, as far as they follow from the command
// and the config: a denial is returned, and audited, at once. The job
// applies them again when it runs, against the config of then.
func (e *Engine) Admission(ctx context.Context, c Context, line string) (Admitted, error) {
	cmd, err := e.Grammar.Parse(line)
	if err != nil {
		return Admitted{}, e.rejectInput(ctx, c, line, err)
	}
	if err := e.resolveStages(cmd); err != nil {
		return Admitted{}, e.rejectInput(ctx, c, line, err)
	}
	r := &run{e: e, ctx: ctx, c: c, cmd: cmd, rec: e.record(c, cmd.Canonical()), preview: true}
	if v, ok := cmd.Get("pipeline"); ok {
		r.rec.Pipeline = v.Text
	}
	err = r.checkCommand()
	if a := e.actions[cmd.Spec]; err == nil && a.staged && len(e.Config.Policy.Stages) > 0 {
		if _, perr := a.run(r); perr != errPreviewed && ErrorCode(perr) == Denied {
			err = perr
		}
		// Anything else (no such stage, nothing to promote) the job
		// reports, with the ledger as it is then.
	}
	if err != nil {
		r.rec.Outcome, r.rec.Message = string(Denied), err.Error()
		if aerr := e.Audit.Append(context.WithoutCancel(ctx), r.rec); aerr != nil {
			return Admitted{}, aerr
		}
		return Admitted{}, err
	}
	return Admitted{Command: cmd, Asks: r.confirm != nil}, nil
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
	return &AuditRecord{At: e.Now(), JobID: c.JobID, Actor: c.Actor.ID, By: c.Actor.By, Source: c.Actor.Source, Channel: c.Channel, Command: text, Approver: c.Approver}
}

// run is one command being dispatched.
type run struct {
	e   *Engine
	ctx context.Context
	c   Context
	cmd *grammar.Command
	rec *AuditRecord
	// start is when the command began, for its duration.
	start time.Time
	// committed is set once the command's change, with its audit record, is
	// in the ledger.
	committed bool
	// confirm is the question a stage rule asks before the change; it is
	// asked once the change is known, naming what it changes.
	confirm *ConfirmationError
	// preview stops a staged action at its change, before any read of the
	// ledger (errPreviewed): Admit's run, to apply the stage rules.
	preview bool
}

// errPreviewed ends a preview run where the change would begin.
var errPreviewed = errors.New("previewed: the change is not made")

// Dispatch checks policy and runs a parsed command as a job, recording the job
// from start to outcome and the command in the audit stream whatever happens.
func (e *Engine) Dispatch(ctx context.Context, c Context, cmd *grammar.Command) (*Result, error) {
	if c.JobID == "" {
		c.JobID = e.NewID()
	}
	if err := e.resolveStages(cmd); err != nil {
		return nil, e.rejectInput(ctx, c, cmd.Canonical(), err)
	}
	job := &Job{ID: c.JobID, Command: cmd.Canonical(), Actor: c.Actor.ID, Source: c.Actor.Source, Channel: c.Channel,
		State: JobRunning, Started: e.Now(), Attempts: 1}
	if _, err := e.Jobs.Create(ctx, job); err != nil {
		return nil, err
	}
	return e.execute(ctx, c, cmd, job)
}

// execute runs a claimed job's command and records its outcome in the job and
// the audit stream. Its error is the command's own outcome.
func (e *Engine) execute(ctx context.Context, c Context, cmd *grammar.Command, job *Job) (res *Result, err error) {
	r := &run{e: e, ctx: ctx, c: c, cmd: cmd, rec: e.record(c, cmd.Canonical()), start: e.Now()}
	if v, ok := cmd.Get("pipeline"); ok {
		r.rec.Pipeline = v.Text
	}
	r.rec.Decision = "allowed"
	rec := newProgressRecorder(e, ctx, job.ID, c.Progress)
	r.c.Progress = rec.add
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, e.internal(fmt.Errorf("panic: %v", p))
		}
		rec.stop()
		res, err = e.finish(ctx, r, job, res, err)
	}()
	if err := r.checkCommand(); err != nil {
		return nil, err
	}
	if c.Late > 0 && !c.Confirmed {
		late := fmt.Sprintf("%d s", int(c.Late.Seconds()))
		if c.Late >= 10*time.Minute {
			late = c.Late.Round(time.Minute).String()
		}
		return nil, &ConfirmationError{Question: "This arrived " + late + " late: run it now?",
			Reason: "the command arrived " + late + " after it was typed", Late: true}
	}
	return e.actions[cmd.Spec].run(r)
}

// finish records a command's outcome: in its audit record, unless its change
// carried one, and in its job.
func (e *Engine) finish(ctx context.Context, r *run, job *Job, res *Result, err error) (*Result, error) {
	ctx = context.WithoutCancel(ctx)
	r.rec.Duration = e.Now().Sub(r.start)
	r.rec.Outcome = "ok"
	var question *ConfirmationError
	outcome := func(j *Job) {
		j.State, j.Outcome, j.Finished, j.Result = JobDone, "ok", e.Now(), res
		j.AuditedWithChange = r.committed
		if err == nil {
			return
		}
		j.State, j.Outcome, j.Message, j.Result = JobFailed, r.rec.Outcome, r.rec.Message, nil
		if chat := ChatMessage(err); chat != r.rec.Message {
			j.Chat = chat
		}
		j.ErrorRef, j.Question = r.rec.ErrorRef, question
		if ErrorCode(err) == Unknown {
			j.State = JobUnknown
		}
	}
	if err != nil {
		var ce *Error
		if ErrorCode(err) == Internal && !(errors.As(err, &ce) && ce.Ref != "") {
			err = e.internal(err)
		}
		code := ErrorCode(err)
		r.rec.Outcome, r.rec.Message = string(code), ErrorMessage(err)
		if errors.As(err, &ce) {
			r.rec.ErrorRef = ce.Ref
		}
		if errors.As(err, &question) {
			r.rec.Outcome = "unconfirmed"
		}
		if code == Denied && r.rec.Decision == "allowed" {
			r.rec.Decision = "denied"
		}
	}
	if !r.committed {
		if aerr := e.durably(ctx, func() error { return e.Audit.Append(ctx, r.rec) }); aerr != nil {
			e.Log.Error("audit record lost", "job", job.ID, "command", r.rec.Command, "outcome", r.rec.Outcome, "err", aerr)
			if err == nil && r.cmd != nil && e.actions[r.cmd.Spec].idempotent {
				// A read changed nothing: it can honestly fail, so nobody
				// takes an unrecorded command for done. An action that ran
				// keeps its outcome: reporting it failed would invite a
				// second run.
				res, err = nil, aerr
				r.rec.Outcome, r.rec.Message = string(ErrorCode(aerr)), ErrorMessage(aerr)
			}
		}
	}
	if jerr := e.durably(ctx, func() error {
		_, err := e.Jobs.Update(ctx, job.ID, func(j *Job) error {
			if j.State == "" {
				*j = *job
			}
			outcome(j)
			return nil
		})
		return err
	}); jerr != nil {
		e.Log.Error("recording a job's outcome", "job", job.ID, "err", jerr)
	}
	outcome(job)
	return res, err
}

// durably runs write, a store write, again while the store is unreachable, up
// to StoreTimeout: an outcome once reached must be recorded.
func (e *Engine) durably(ctx context.Context, write func() error) error {
	backoff := e.ChangeBackoff
	if backoff == nil {
		backoff = DefaultChangeBackoff
	}
	deadline := e.Now().Add(e.StoreTimeout)
	for attempt := 1; ; attempt++ {
		err := write()
		if ErrorCode(err) != Unavailable || e.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-e.After(max(backoff(attempt), time.Duration(attempt)*50*time.Millisecond)):
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
	return pc, resolveStages(pc, r.cmd)
}

// resolveStages rewrites the stage values of a command that names a
// configured pipeline to the stages that pipeline really has: its own names
// win over aliases, and an alias applies only when it is unambiguous
// (grammar.StageType.Resolve). It runs before a command's canonical text is
// queued or audited, so that text names the stage the person meant.
func (e *Engine) resolveStages(cmd *grammar.Command) error {
	v, _ := cmd.Get("pipeline")
	if pc, ok := e.Config.Pipeline(v.Text); ok {
		return resolveStages(pc, cmd)
	}
	return nil
}

func resolveStages(pc *PipelineConfig, cmd *grammar.Command) error {
	for i := range cmd.Args {
		a := &cmd.Args[i]
		st, ok := a.Param.Type.(grammar.StageType)
		if !ok {
			continue
		}
		stage, ambiguous := st.Resolve(a.Value, pc.Stages)
		if ambiguous != nil {
			typed := a.Value.Text
			if a.Value.Label != "" {
				typed = a.Value.Label
			}
			return Errorf(Invalid, "%q could be any of %s's stages %s: name one", typed, pc.Name, strings.Join(ambiguous, ", "))
		}
		a.Value.Text = stage
	}
	return nil
}

// state loads a pipeline's ledger, or the seed of one never changed.
// State returns a pipeline's ledger as it stands (its seed while nothing
// changed it), for a view such as Slack's App Home: a read of no command's,
// audited as none.
func (e *Engine) State(ctx context.Context, pipeline string) (*PipelineState, error) {
	pc, ok := e.Config.Pipeline(pipeline)
	if !ok {
		return nil, Errorf(NotFound, "no pipeline %q", pipeline)
	}
	st, _, err := e.state(ctx, pc)
	return st, err
}

func (e *Engine) state(ctx context.Context, pc *PipelineConfig) (*PipelineState, uint64, error) {
	st, rev, err := e.Store.Load(ctx, pc.Name)
	if ErrorCode(err) == NotFound {
		return seedState(pc), 0, nil
	}
	return st, rev, err
}
