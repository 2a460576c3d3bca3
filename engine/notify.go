package engine

import (
	"context"
	"strings"
	"time"
)

// NotifyConsumer is the name of the durable consumer that turns events into
// notices: one across every process.
const NotifyConsumer = "notify"

// NoticeOf returns the notice ev makes for its pipeline's channel, or nil when
// the pipeline has no route (or is not configured here), or the event is
// older than its route. The route is read when the event is handled, so a
// pipeline routed elsewhere meanwhile posts there.
func (e *Engine) NoticeOf(ctx context.Context, ev *Event) (*Notice, error) {
	pc, ok := e.Config.Pipeline(ev.Pipeline)
	if !ok {
		return nil, nil
	}
	st, _, err := e.state(ctx, pc)
	if err != nil || st.Route == nil {
		return nil, err
	}
	if ev.At.Before(st.Route.At.Add(-time.Second)) {
		return nil, nil // older than the route: not the channel's business
	}
	r := *st.Route
	return &Notice{ID: ev.ID + "@" + r.Workspace + "/" + r.Channel, Route: r, Event: *ev, Stages: pc.Stages}, nil
}

// Notify turns each event of a routed pipeline into a notice in its channel's
// queue, until ctx ends. Every process serving notifications may run it: the
// events consumer is shared, so each event is posted once.
func (e *Engine) Notify(ctx context.Context, events Events, notices Notices) error {
	return events.Consume(ctx, NotifyConsumer, func(ctx context.Context, ev *Event) error {
		n, err := e.NoticeOf(ctx, ev)
		if err != nil || n == nil {
			return err
		}
		return notices.Post(ctx, n)
	})
}

// VersionOfCommit names the release of pipeline built from commit (a full
// sha, or a prefix of one of at least 7 digits), from the ledger's recent
// releases: "" when none is known.
func (e *Engine) VersionOfCommit(ctx context.Context, pipeline, commit string) (string, error) {
	pc, ok := e.Config.Pipeline(pipeline)
	if !ok || len(commit) < 7 {
		return "", nil
	}
	st, _, err := e.state(ctx, pc)
	if err != nil {
		return "", err
	}
	var best Release
	for _, s := range st.Slots {
		for _, r := range s.History {
			if r.Commit != "" && len(r.Commit) >= 7 && (strings.HasPrefix(commit, r.Commit) || strings.HasPrefix(r.Commit, commit)) &&
				!r.At.Before(best.At) {
				best = r
			}
		}
	}
	return best.Version, nil
}
