package engine

import (
	"errors"
	"fmt"

	"github.com/chatops/chatops/grammar"
)

// Code classifies an error for the adapters, which map it to an exit status, an
// HTTP status or a chat reply.
type Code string

// Error codes.
const (
	Invalid     Code = "invalid"     // bad input: the user can fix the command
	NotFound    Code = "not_found"   // no such pipeline, stage, release or job
	Denied      Code = "denied"      // policy said no
	Conflict    Code = "conflict"    // a lock, or the state moved under us
	Unavailable Code = "unavailable" // a dependency is down; try again
	Internal    Code = "internal"    // a bug or an unexpected failure
	// Failed says the command ran and its action failed (a program exited
	// non-zero, a deploy driver reported an error). It is an outcome, never
	// retried: running the action again is the person's decision.
	Failed Code = "failed"
	// Unknown says the command's effect started but whoever ran it died,
	// or lost sight of it, before saying how it ended: check before running
	// it again.
	Unknown Code = "unknown"
)

// Error is an error with a code and a message fit for the user. Internal errors
// show the user only Ref; the cause goes to the log.
type Error struct {
	Code Code
	// Msg is the whole message for the user.
	Msg string
	// Chat, when set, is Msg as a chat shows it: without what only the
	// server's operators need (where a policy rule lives in the config).
	Chat string
	// Ref identifies the failure in the log, for internal errors.
	Ref string
	Err error
}

func (e *Error) Error() string {
	switch {
	case e.Msg != "":
		return e.Msg
	case e.Err != nil:
		return e.Err.Error()
	}
	return string(e.Code)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with code and a formatted message; %w wraps a cause.
func Errorf(code Code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Code: code, Msg: err.Error(), Err: errors.Unwrap(err)}
}

// ConfirmationError says a command needs a yes before it runs: from the
// requester (Confirm), or from someone else of Approvers. Ask Question and run
// the command again with Context.Confirmed (or Context.Approver). It is not a
// failure: nothing ran.
type ConfirmationError struct {
	// Question is what to ask, naming what changes.
	Question string
	// Reason is why, naming the policy rule.
	Reason string
	// Approvers, when set, are the groups of whoever else must approve: the
	// requester may not answer the question.
	Approvers []string
	// Pipeline is what the question is about, so a later answer can check that
	// it did not change meanwhile.
	Pipeline string
	// Late says the question is only whether a late command should still
	// run (Interaction.Late).
	Late bool
}

func (e *ConfirmationError) Error() string { return e.Reason }

// ErrorCode returns the code of err: that of the first *Error in its chain,
// Invalid for a grammar error or an unanswered confirmation, Internal for
// anything else, "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var ce *ConfirmationError
	if errors.As(err, &ce) {
		return Invalid
	}
	var ge *grammar.Error
	if errors.As(err, &ge) {
		return Invalid
	}
	return Internal
}

// ErrorMessage returns what the user may read of err: the message of an *Error,
// or for an internal error only its reference.
func ErrorMessage(err error) string {
	var ge *grammar.Error
	if errors.As(err, &ge) {
		return ge.Error()
	}
	var ce *ConfirmationError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	var e *Error
	if !errors.As(err, &e) || e.Code == Internal {
		ref := ""
		if e != nil && e.Ref != "" {
			ref = " (reference " + e.Ref + ")"
		}
		return "internal error" + ref + "; the details are in the server log"
	}
	return e.Msg
}

// ChatMessage is ErrorMessage for a chat's users: an Error's Chat form when
// it has one.
func ChatMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Chat != "" && e.Code != Internal {
		return e.Chat
	}
	return ErrorMessage(err)
}
