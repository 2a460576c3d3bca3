package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/chatops/chatops/grammar"
)

// Event states. A CI/CD report has one of the first four; a lock, an unlock
// or a route says so.
const (
	EventPending    = "pending"
	EventInProgress = "in_progress"
	EventSuccess    = "success"
	EventFailure    = "failure"
	EventUnknown    = "unknown" // a driver lost sight of a change it started
	EventLocked     = "locked"
	EventUnlocked   = "unlocked"
	EventRouted     = "routed"
)

// ReportStates are the states an inbound report may have.
var ReportStates = []string{EventPending, EventInProgress, EventSuccess, EventFailure}

// Event is one thing that happened to a pipeline: a change a command made
// (from any adapter), a deploy driver's progress, or a CI/CD system's report.
// Notifications post events to the pipeline's channel, one thread per
// release, and chatops watch prints them.
type Event struct {
	// ID names the event: reported twice (a webhook delivered again), it
	// has the same ID and is kept once.
	ID       string    `json:"id"`
	At       time.Time `json:"at"`
	Pipeline string    `json:"pipeline"`
	Stage    string    `json:"stage,omitempty"`
	// Version is the release the event is about; its thread. Empty for a
	// lock or a route, which are about the pipeline or a stage.
	Version string `json:"version,omitempty"`
	Commit  string `json:"commit,omitempty"`
	// Action is what happened: release, deploy, promote, rollback, lock,
	// unlock, route; deployment or ci for a report.
	Action string `json:"action"`
	State  string `json:"state"`
	// From is the stage a promotion came from.
	From  string `json:"from,omitempty"`
	Title string `json:"title,omitempty"`
	Text  string `json:"text,omitempty"`
	URL   string `json:"url,omitempty"`
	// By is who: the person who ran the command, or who the report names.
	By string `json:"by,omitempty"`
	// Source is where it came from: terminal or slack for a command,
	// github or webhook for a report.
	Source string `json:"source"`
	// Channel is the chat channel a command was typed in, if any.
	Channel string `json:"channel,omitempty"`
	Job     string `json:"job,omitempty"`
}

// Fingerprint identifies what an event says, leaving out when and under which
// ID: two reports of the same status have the same fingerprint, so a thread
// shows it once.
func (ev *Event) Fingerprint() string {
	h := sha256.New()
	for _, s := range []string{ev.Stage, ev.Version, ev.Action, ev.State, ev.From, ev.Title, ev.Text, ev.URL, ev.By} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// Events carries pipeline events: published by the engine and by inbound
// webhooks, read live by chatops watch and durably by the notifier. The
// changes of the ledger are events too: every change appended to the Store
// arrives here with its Events, from whichever process made it.
type Events interface {
	// Publish stores an event durably. An event whose ID was published
	// within the deduplication window is dropped. It returns Unavailable
	// when the store cannot be reached.
	Publish(ctx context.Context, ev *Event) error
	// Follow calls fn with each event of pipeline ("" for all) from now on,
	// in order, until ctx ends.
	Follow(ctx context.Context, pipeline string, fn func(*Event)) error
	// Consume calls handle with each event, once per consumer name across
	// every process, in order, until ctx ends. An event whose handle
	// returns an error comes back later.
	Consume(ctx context.Context, name string, handle func(context.Context, *Event) error) error
}

// Route is where a pipeline's notifications go: a chat channel.
type Route struct {
	// Channel is the channel's id (C0123ABCD in Slack).
	Channel string `json:"channel"`
	// Name is the channel's name, for people; it may be empty.
	Name string `json:"name,omitempty"`
	// Workspace is the chat workspace (a Slack team id) the channel is in;
	// empty for the one workspace of a single bot token.
	Workspace string    `json:"workspace,omitempty"`
	By        string    `json:"by"`
	At        time.Time `json:"at"`
}

// String names the channel as people know it.
func (r *Route) String() string {
	if r.Name != "" {
		return "#" + r.Name
	}
	return r.Channel
}

// Notice is one event on its way to one channel.
type Notice struct {
	// ID is the event's ID and the channel's: the deduplication key.
	ID    string `json:"id"`
	Route Route  `json:"route"`
	Event Event  `json:"event"`
	// Stages are the pipeline's stages in order, for the thread's summary.
	Stages []string `json:"stages"`
	// Attempt is the delivery count, from 1.
	Attempt int `json:"-"`
}

// Notices carries notices durably to their channels: one queue per channel,
// delivered in order and one at a time, so a channel's posts keep their order
// and its pace, and a slow or rate-limited channel holds up no other.
type Notices interface {
	// Post stores a notice durably in its channel's queue. A notice whose
	// ID was posted within the deduplication window is dropped. It returns
	// Unavailable when the store cannot be reached.
	Post(ctx context.Context, n *Notice) error
	// Deliver calls deliver for each notice until ctx ends: a channel's
	// notices one at a time, in order, across every process; channels in
	// parallel. A notice is removed when deliver returns Retry zero;
	// otherwise it comes back after Retry.After, ahead of the channel's
	// later notices.
	Deliver(ctx context.Context, deliver func(context.Context, *Notice) Retry) error
}

// StageStatus is where one release stands in one stage, as its thread says.
type StageStatus struct {
	State  string    `json:"state"`
	Action string    `json:"action,omitempty"`
	By     string    `json:"by,omitempty"`
	At     time.Time `json:"at"`
	Text   string    `json:"text,omitempty"`
	URL    string    `json:"url,omitempty"`
}

// Thread is the conversation a release's notifications make in one channel:
// a parent message stating the release's state stage by stage, and a reply
// for each later event.
type Thread struct {
	Pipeline string `json:"pipeline"`
	Version  string `json:"version"`
	Route    Route  `json:"route"`
	// TS is the chat's id of the parent message (Slack's ts).
	TS     string                 `json:"ts,omitempty"`
	Stages map[string]StageStatus `json:"stages,omitempty"`
	// Latest is the newest event, as the parent quotes it.
	Latest *Event `json:"latest,omitempty"`
	// Seen holds, per stage, the fingerprint of the last event shown, so
	// a repeated status is not shown again.
	Seen map[string]string `json:"seen,omitempty"`
	// Replied names the last notice posted as a reply; a notice tried
	// again after its reply was posted only updates the parent.
	Replied string `json:"replied,omitempty"`
	// Stale says the parent does not show Latest yet.
	Stale   bool      `json:"stale,omitempty"`
	Updated time.Time `json:"updated"`
}

// ThreadKey names the thread of a release in a channel.
func ThreadKey(r Route, pipeline, version string) string {
	return r.Workspace + "\x00" + r.Channel + "\x00" + pipeline + "\x00" + version
}

// Repeat reports whether ev only says again what the thread last showed for
// its stage.
func (t *Thread) Repeat(ev *Event) bool {
	return t.Seen[ev.Stage] == ev.Fingerprint()
}

// Apply records ev in the thread: its stage's status and the latest event.
func (t *Thread) Apply(ev *Event) {
	if t.Stages == nil {
		t.Stages = map[string]StageStatus{}
	}
	if t.Seen == nil {
		t.Seen = map[string]string{}
	}
	if ev.Stage != "" && ev.State != "" {
		t.Stages[ev.Stage] = StageStatus{State: ev.State, Action: ev.Action, By: ev.By, At: ev.At, Text: firstLine(ev.Text), URL: ev.URL}
	}
	t.Seen[ev.Stage] = ev.Fingerprint()
	e := *ev
	t.Latest = &e
	t.Updated = ev.At
}

// Thread stores each release's thread per channel.
type Threads interface {
	// Get returns the thread under key and its revision; NotFound when
	// there is none.
	Get(ctx context.Context, key string) (*Thread, uint64, error)
	// Put stores the thread if its revision is still rev (0: new) and
	// returns the new revision; Conflict when another writer got there
	// first.
	Put(ctx context.Context, key string, t *Thread, rev uint64) (uint64, error)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// Describe says what an event is in one sentence, for a thread's reply and
// for chatops watch.
func (ev *Event) Describe() string {
	who := ev.By
	if who == "" {
		who = ev.Source
	}
	var b strings.Builder
	switch ev.Action {
	case "release", "deploy", "promote", "rollback":
		switch ev.State {
		case EventSuccess:
			fmt.Fprintf(&b, "%s %s %s", who, pastTense(ev.Action), ev.Version)
			if ev.From != "" {
				fmt.Fprintf(&b, " from %s", ev.From)
			}
			if ev.Stage != "" {
				fmt.Fprintf(&b, " to %s", ev.Stage)
			}
		case EventInProgress:
			fmt.Fprintf(&b, "%s: %s of %s by %s in progress", ev.Stage, ev.Action, ev.Version, who)
		case EventFailure:
			fmt.Fprintf(&b, "%s: %s of %s by %s failed", ev.Stage, ev.Action, ev.Version, who)
		case EventUnknown:
			fmt.Fprintf(&b, "%s: %s of %s by %s: outcome unknown", ev.Stage, ev.Action, ev.Version, who)
		default:
			fmt.Fprintf(&b, "%s: %s of %s by %s: %s", ev.Stage, ev.Action, ev.Version, who, strings.ReplaceAll(ev.State, "_", " "))
		}
	case "lock", "unlock":
		what := ev.Pipeline
		if ev.Stage != "" {
			what += " " + ev.Stage
		}
		fmt.Fprintf(&b, "%s %s %s", who, pastTense(ev.Action), what)
	case "route":
		fmt.Fprintf(&b, "%s sent %s's notifications here", who, ev.Pipeline)
	default:
		title := ev.Title
		if title == "" {
			title = ev.Action
		}
		if ev.Stage != "" {
			fmt.Fprintf(&b, "%s: ", ev.Stage)
		}
		fmt.Fprintf(&b, "%s: %s", title, strings.ReplaceAll(ev.State, "_", " "))
	}
	if ev.Source == SourceTerminal || ev.Source == SourceSlack {
		fmt.Fprintf(&b, " (from %s)", sourceName(ev))
	}
	if t := firstLine(ev.Text); t != "" && ev.Action != "lock" {
		fmt.Fprintf(&b, ": %s", t)
	}
	return b.String()
}

func sourceName(ev *Event) string {
	if ev.Source == SourceTerminal {
		return "a terminal"
	}
	return "Slack"
}

func pastTense(action string) string {
	switch action {
	case "release":
		return "released"
	case "deploy":
		return "deployed"
	case "promote":
		return "promoted"
	case "rollback":
		return "rolled back to"
	case "lock":
		return "locked"
	case "unlock":
		return "unlocked"
	}
	return action
}

// changeEvents says what a change did, as events: each release it put into a
// slot, each deployment it started, failed or lost sight of, each lock taken
// or removed and a new route, found by comparing the state before and after.
func (r *run) changeEvents(before, after *PipelineState, kind changeKind) []Event {
	now := r.e.Now()
	ev := func(stage, action, state string) Event {
		return Event{At: now, Pipeline: after.Name, Stage: stage, Action: action, State: state,
			By: r.c.Actor.ID, Source: r.c.Actor.Source, Channel: r.c.Channel, Job: r.c.JobID}
	}
	var out []Event
	for _, a := range after.added {
		e := ev(stageOf(a.Slot), a.Release.Action, EventSuccess)
		e.Version, e.Commit, e.From = a.Release.Version, a.Release.Commit, stageOf(a.Release.From)
		if a.Slot != stageOf(a.Slot) {
			e.Text = "app " + strings.TrimPrefix(a.Slot, stageOf(a.Slot)+"/")
		}
		out = append(out, e)
	}
	names := make([]string, 0, len(after.Slots))
	for name := range after.Slots {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s, was := after.Slots[name], before.Slots[name]
		if was == nil {
			was = &Slot{}
		}
		switch d := s.Deploying; {
		case d != nil && was.Deploying == nil:
			e := ev(name, d.Action, EventInProgress)
			e.Version = d.Version
			out = append(out, e)
		case d != nil && d.Unknown && !was.Deploying.Unknown:
			e := ev(name, d.Action, EventUnknown)
			e.Version, e.Text = d.Version, kind.message
			out = append(out, e)
		case d == nil && was.Deploying != nil && was.Deploying.Job == r.c.JobID && kind.audit != "ok" && !r.placed(after, name):
			e := ev(name, was.Deploying.Action, EventFailure)
			e.Version, e.Text = was.Deploying.Version, kind.message
			out = append(out, e)
		}
		out = append(out, lockEvents(ev, name, was.Lock, s.Lock)...)
	}
	out = append(out, lockEvents(ev, "", before.Lock, after.Lock)...)
	if after.Route != nil && (before.Route == nil || *before.Route != *after.Route) {
		e := ev("", "route", EventRouted)
		e.Text = "to " + after.Route.String()
		out = append(out, e)
	}
	for i := range out {
		out[i].ID = fmt.Sprintf("%s/%s/%d", after.Name, kind.key(r.c.JobID), i)
	}
	return out
}

// placed reports whether the change put a release into the stage.
func (r *run) placed(st *PipelineState, stage string) bool {
	for _, a := range st.added {
		if stageOf(a.Slot) == stage {
			return true
		}
	}
	return false
}

func lockEvents(ev func(stage, action, state string) Event, stage string, was, is *Lock) []Event {
	switch {
	case was == nil && is != nil:
		e := ev(stage, "lock", EventLocked)
		e.Text = is.Reason
		return []Event{e}
	case was != nil && is == nil:
		return []Event{ev(stage, "unlock", EventUnlocked)}
	}
	return nil
}

// ResolveStage finds the stage of pc that name means: the stage's own name,
// or an alias of it (prod, stg…), as the grammar reads stage arguments. It
// reports false when no stage, or more than one, matches.
func ResolveStage(pc *PipelineConfig, name string) (string, bool) {
	st := grammar.StageType{Aliases: grammar.DefaultStageAliases}
	v, err := st.Parse(grammar.Token{Kind: grammar.Word, Text: name})
	if err != nil {
		return "", false
	}
	stage, ambiguous := st.Resolve(v, pc.Stages)
	if ambiguous != nil || stageIndex(pc, stage) < 0 {
		return "", false
	}
	return stage, true
}

// PipelinesOfRepo returns the pipelines whose repo is repo (owner/name,
// compared without regard to case).
func (c *Config) PipelinesOfRepo(repo string) []*PipelineConfig {
	var out []*PipelineConfig
	for i := range c.Pipelines {
		if c.Pipelines[i].Repo != "" && strings.EqualFold(c.Pipelines[i].Repo, repo) {
			out = append(out, &c.Pipelines[i])
		}
	}
	return out
}

// Channels finds chat channels by name, for a route typed as #name where the
// chat did not say which channel that is (a terminal, or a slash command
// that does not escape channels).
type Channels interface {
	// Lookup returns the id of the channel called name (without '#') in
	// workspace ("" for the single bot token's). It returns NotFound when
	// there is none the bot can see, Unavailable when the chat cannot be
	// reached.
	Lookup(ctx context.Context, workspace, name string) (id string, err error)
}
