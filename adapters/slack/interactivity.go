package slack

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/chatops/chatops/engine"
	"github.com/slack-go/slack"
)

// readPayload reads a verified interactivity or options request: a form whose
// payload field is JSON. On failure it has answered 4xx and returns false.
func (s *Server) readPayload(w http.ResponseWriter, r *http.Request) (*slack.InteractionCallback, bool) {
	body, ok := s.readVerified(w, r)
	if !ok {
		return nil, false
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("payload") == "" {
		http.Error(w, "malformed request: a form with a payload is expected", http.StatusBadRequest)
		return nil, false
	}
	var cb slack.InteractionCallback
	if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil {
		http.Error(w, "malformed payload: "+err.Error(), http.StatusBadRequest)
		return nil, false
	}
	return &cb, true
}

// interactivity handles button clicks on confirmation and approval questions.
// A click that is expired, replayed, forged or not allowed changes nothing and
// says why; an accepted one enqueues the command, confirmed.
func (s *Server) interactivity(w http.ResponseWriter, r *http.Request) {
	cb, ok := s.readPayload(w, r)
	if !ok {
		return
	}
	if cb.Type == slack.InteractionTypeViewSubmission && cb.View.CallbackID == modalCallback {
		s.submitModal(w, r, cb)
		return
	}
	if cb.Type == slack.InteractionTypeShortcut && cb.CallbackID == modalCallback {
		// "Run a chatops command", from anywhere: the run modal, opened
		// beside the 200 within the trigger's 3 s.
		s.openModalLater(r, cb, "")
		return
	}
	if cb.Type != slack.InteractionTypeBlockActions || len(cb.ActionCallback.BlockActions) == 0 {
		return // nothing chatops asked about
	}
	act := cb.ActionCallback.BlockActions[0]
	if act.ActionID == ActionHomeRun {
		s.openModalLater(r, cb, act.Value)
		return
	}
	if act.ActionID != ActionApprove && act.ActionID != ActionCancel {
		return
	}
	ctx := context.WithoutCancel(r.Context())
	actor := s.Engine.Identify(engine.SourceSlack, cb.User.ID)
	msg, job := s.answerClick(ctx, actor, act.ActionID, act.Value, cb.ResponseURL)
	if job != nil { // routes for an answer that cannot use the response_url
		job.Reply["team"] = cb.Team.ID
		if cb.Channel.ID != "" {
			job.Reply["channel"] = cb.Channel.ID
		}
	}
	if job != nil {
		// Say "running" before the job can answer, so the answer is not
		// replaced by it; then enqueue.
		if s.Respond != nil && cb.ResponseURL != "" {
			rctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
			if err := s.Respond(rctx, cb.ResponseURL, *msg); err != nil {
				s.Log.Warn("answering a click", "err", err)
			}
			cancel()
		}
		if _, err := s.enqueue(ctx, job); err != nil {
			s.Log.Error("enqueue failed", "job", job.ID, "err", err)
			msg = &Message{ReplaceOriginal: true, Text: "chatops cannot take commands right now; `" + job.Command + "` was not run. Run it again in a moment."}
		} else {
			return
		}
	}
	// Other answers in the background: Slack wants the 200 now.
	if msg != nil && s.Respond != nil && cb.ResponseURL != "" {
		s.background.Go(func() {
			if err := s.Respond(ctx, cb.ResponseURL, *msg); err != nil {
				s.Log.Error("answering a click", "err", err)
			}
		})
	}
}

// answerClick decides a click: what to tell the clicker, and the job to run
// when the answer is yes.
func (s *Server) answerClick(ctx context.Context, actor engine.Actor, action, id, responseURL string) (*Message, *engine.QueuedJob) {
	say := func(text string) (*Message, *engine.QueuedJob) {
		return &Message{ResponseType: "ephemeral", Text: text, Blocks: []slack.Block{section(escape(text))}}, nil
	}
	replace := func(text string) (*Message, *engine.QueuedJob) {
		return &Message{ReplaceOriginal: true, Text: text, Blocks: []slack.Block{section(escape(text))}}, nil
	}
	if s.Interactions == nil {
		return say("chatops keeps no questions here.")
	}
	// audit records a click that runs nothing: who clicked what, and why
	// nothing ran.
	var i *engine.Interaction
	audit := func(outcome, msg string) {
		rec := &engine.AuditRecord{At: s.Engine.Now(), JobID: "click/" + id + "/" + actor.ID + "/" + action + "/" + outcome, Actor: actor.ID, Source: engine.SourceSlack,
			Command: "click " + action + " on question " + id, Decision: "denied", Outcome: outcome, Message: msg}
		if i != nil {
			rec.Command, rec.Pipeline, rec.Channel = i.Command, i.Pipeline, i.Channel
		}
		if outcome == "cancelled" {
			rec.Decision = "allowed"
		}
		if err := s.Engine.Audit.Append(ctx, rec); err != nil {
			s.Log.Warn("auditing a click", "question", id, "err", err)
		}
	}
	i, err := s.Interactions.Get(ctx, id)
	if err != nil {
		audit(string(engine.ErrorCode(err)), engine.ErrorMessage(err))
		return say(engine.ErrorMessage(err))
	}
	now := s.Engine.Now()
	if now.After(i.Expires) {
		_, _ = s.Interactions.Take(ctx, id)
		audit("expired", "the question expired at "+i.Expires.UTC().Format(time.RFC3339))
		return replace(":hourglass: This question expired at " + i.Expires.UTC().Format(time.Kitchen) + " UTC; run `" + i.Command + "` again.")
	}
	requester := i.Requester.ID
	approver := len(i.Approvers) > 0
	switch {
	case action == ActionCancel && (actor.ID == requester || approver && s.Engine.MayApprove(actor, requester, i.Approvers)):
	case action == ActionApprove && !approver && actor.ID == requester:
	case action == ActionApprove && approver && s.Engine.MayApprove(actor, requester, i.Approvers):
	case approver && actor.ID == requester:
		audit(string(engine.Denied), "the requester may not approve their own command")
		return say("You asked for this: someone else of " + joinOr(i.Approvers) + " must approve it.")
	case approver:
		audit(string(engine.Denied), actor.ID+" is not of "+joinOr(i.Approvers))
		return say("Only members of " + joinOr(i.Approvers) + " other than the requester may approve this.")
	default:
		audit(string(engine.Denied), "only "+requester+" may answer")
		return say("Only the person who ran `" + i.Command + "` can answer this.")
	}
	if i.Pipeline != "" && action == ActionApprove {
		rev, err := s.Engine.Revision(ctx, i.Pipeline)
		if err != nil {
			return say(engine.ErrorMessage(err))
		}
		if rev != i.Revision {
			_, _ = s.Interactions.Take(ctx, id)
			audit(string(engine.Conflict), i.Pipeline+" changed since the question was asked")
			return replace(":warning: " + i.Pipeline + " changed since this was asked; nothing was done. Run `" + i.Command + "` again.")
		}
	}
	// Take it once: a second click, or a replayed request, finds nothing.
	if _, err := s.Interactions.Take(ctx, id); err != nil {
		audit(string(engine.ErrorCode(err)), engine.ErrorMessage(err))
		return say(engine.ErrorMessage(err))
	}
	if action == ActionCancel {
		audit("cancelled", "cancelled by "+actor.ID)
		return replace(":x: Cancelled by " + actor.ID + ": `" + i.Command + "`")
	}
	job := &engine.QueuedJob{
		ID: "i" + i.ID, Command: i.Command, Actor: i.Requester, Channel: i.Channel, Confirmed: !i.Late,
		Enqueued: now, Reply: map[string]string{"response_url": responseURL, "replace": "1", "user": i.Requester.Identity},
	}
	if approver {
		job.Approver = actor.ID
	}
	return &Message{ReplaceOriginal: true, Text: "Running " + i.Command, Blocks: []slack.Block{
		contextLine(":hourglass_flowing_sand: " + escape(actor.ID) + " said yes: running `" + escape(i.Command) + "`"),
	}}, job
}

func joinOr(groups []string) string {
	out := ""
	for i, g := range groups {
		if i > 0 {
			out += " or "
		}
		out += g
	}
	return out
}

// openModalLater opens the run modal for a shortcut or a Home tab button,
// on pipeline when not empty, once the request is answered.
func (s *Server) openModalLater(r *http.Request, cb *slack.InteractionCallback, pipeline string) {
	ctx, team, user, trigger := context.WithoutCancel(r.Context()), cb.Team.ID, cb.User.ID, cb.TriggerID
	s.background.Go(func() { s.openRunModal(ctx, team, user, trigger, pipeline) })
}
