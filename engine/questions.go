package engine

import (
	"context"
	"fmt"
)

// QuestionList lists the pending questions, for sweeping those past their
// deadline.
type QuestionList interface {
	Interactions
	List(ctx context.Context) ([]*Interaction, error)
}

// ExpireQuestions takes each question past its deadline, so a late click
// finds it gone, audits it as expired (nothing ran), and calls expired with
// it so the adapter can tell the person. It returns how many expired. It is
// periodic work: one process at a time runs it, under a lease.
func (e *Engine) ExpireQuestions(ctx context.Context, qs QuestionList, expired func(context.Context, *Interaction)) (int, error) {
	all, err := qs.List(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	now := e.Now()
	for _, q := range all {
		if q.Expires.After(now) {
			continue
		}
		if _, err := qs.Take(ctx, q.ID); err != nil {
			if ErrorCode(err) == NotFound {
				continue // answered, or swept, meanwhile
			}
			return n, err
		}
		rec := &AuditRecord{At: now, JobID: q.ID, Actor: q.Requester.ID, Source: q.Requester.Source, Channel: q.Channel,
			Command: q.Command, Pipeline: q.Pipeline, Decision: "allowed", Outcome: "expired", Event: "expired",
			Message: fmt.Sprintf("the question expired at %s unanswered; nothing ran", q.Expires.UTC().Format("15:04:05 UTC"))}
		if err := e.Audit.Append(ctx, rec); err != nil {
			e.Log.Warn("auditing an expired question", "question", q.ID, "err", err)
		}
		n++
		if expired != nil {
			expired(ctx, q)
		}
	}
	return n, nil
}
