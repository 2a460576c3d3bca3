package engine

import (
	"context"
	"encoding/json"
	"time"
)

// Store keeps the pipelines ledger as a log of changes, one per command that
// changed a pipeline. A change is one record holding the pipeline's new state,
// the releases it added and the audit record of the command that made it, so
// the three are written together or not at all. Changes to one pipeline are
// appended by compare-and-set on its last revision, so two writers never lose
// an update and the log is in ledger order.
type Store interface {
	// Load returns the state of a pipeline and its revision. It returns a
	// NotFound *Error when the pipeline was never changed, Unavailable when the
	// store cannot be reached.
	Load(ctx context.Context, pipeline string) (*PipelineState, uint64, error)
	// Commit appends ch if the pipeline's revision is still rev (0: never
	// changed) and returns the new revision. It returns a Conflict *Error when
	// another writer got there first, Unavailable when the store cannot be
	// reached: then the change may or may not have been appended, and Find
	// tells.
	Commit(ctx context.Context, ch *Change, rev uint64) (uint64, error)
	// Find returns the change made under idempotency key since the given
	// time, or nil when there is none.
	Find(ctx context.Context, pipeline, key string, since time.Time) (*Change, error)
}

// Change is one change of a pipeline, as the ledger's log keeps it.
type Change struct {
	Pipeline string `json:"pipeline"`
	// Key is the idempotency key of the command that made it: its job id.
	Key string `json:"key"`
	// Summary is what the command answered, for a redelivered job.
	Summary string         `json:"summary"`
	State   *PipelineState `json:"state"`
	// Added lists the releases the change put into slots.
	Added []SlotRelease `json:"added,omitempty"`
	// Audit is the command's audit record: it lives with the change.
	Audit *AuditRecord `json:"audit"`
	// Events say what the change did, for notifications and chatops watch.
	Events []Event `json:"events,omitempty"`
}

// SlotRelease is a release that went into a slot as change Seq of its pipeline.
type SlotRelease struct {
	Seq     uint64  `json:"seq"`
	Slot    string  `json:"slot"`
	Release Release `json:"release"`
}

// History reads every release of every slot: the ledger's state keeps only
// the recent ones, so that each change stays small.
type History interface {
	// List returns up to limit releases of a slot, newest first.
	List(ctx context.Context, pipeline, slot string, limit int) ([]Release, error)
}

// Queue carries commands durably from the adapters that accept them to the
// workers that run them. Delivery is at least once; a job's ID is also its
// idempotency key, so its effects happen once.
type Queue interface {
	// Enqueue stores a job durably before it returns. A job whose ID was
	// enqueued within the deduplication window is dropped and reported as a
	// duplicate. It returns Unavailable when the queue cannot be reached.
	Enqueue(ctx context.Context, j *QueuedJob) (duplicate bool, err error)
	// Work calls handle for each job until ctx ends, then waits for the
	// running ones. handle returns an error only when nothing of the job ran
	// (an infrastructure failure before its effect): the job is delivered
	// again later, with a backoff, a bounded number of times. A job whose
	// worker dies is delivered again after the queue's ack wait.
	Work(ctx context.Context, handle func(context.Context, *QueuedJob) error) error
}

// QueuedJob is a command accepted by an adapter, waiting for a worker.
type QueuedJob struct {
	ID      string `json:"id"`
	Command string `json:"command"` // canonical text
	Actor   Actor  `json:"actor"`
	Channel string `json:"channel,omitempty"`
	// Workspace is the chat workspace (a Slack team id) it came from.
	Workspace string    `json:"workspace,omitempty"`
	Confirmed bool      `json:"confirmed,omitempty"`
	Approver  string    `json:"approver,omitempty"`
	Enqueued  time.Time `json:"enqueued"`
	// Late is how long after it was typed chat delivered the command, when
	// that is longer than an adapter runs a command for without asking.
	Late time.Duration `json:"late,omitempty"`
	// Reply holds what the adapter needs to answer: a response URL, a thread.
	Reply map[string]string `json:"reply,omitempty"`
	// Attempt is the delivery count, from 1.
	Attempt int `json:"-"`
	// LastAttempt says the queue will not deliver the job again: a worker
	// that cannot handle it now answers it as it stands.
	LastAttempt bool `json:"-"`
}

// Interaction is a question waiting for a click: a confirmation or an approval,
// bound to the exact command, its requester, the pipeline's revision and a
// deadline.
type Interaction struct {
	ID        string            `json:"id"`
	Command   string            `json:"command"` // canonical text
	Requester Actor             `json:"requester"`
	Channel   string            `json:"channel,omitempty"`
	Question  string            `json:"question"`
	Approvers []string          `json:"approvers,omitempty"` // set: a second person of these groups
	Pipeline  string            `json:"pipeline,omitempty"`
	Revision  uint64            `json:"revision"`
	Expires   time.Time         `json:"expires"`
	Reply     map[string]string `json:"reply,omitempty"`
	// Late says the question is only whether a command that came late
	// should still run: a yes confirms nothing else, and the stage rules
	// ask their own questions then.
	Late bool `json:"late,omitempty"`
}

// Interactions keeps pending questions until answered or expired.
type Interactions interface {
	// Put stores a question; it expires by itself.
	Put(ctx context.Context, i *Interaction) error
	// Take removes a question and returns it, once: a second Take of the same
	// id, or of an expired one, returns NotFound.
	Take(ctx context.Context, id string) (*Interaction, error)
	// Get returns a question without removing it; NotFound when gone.
	Get(ctx context.Context, id string) (*Interaction, error)
}

// Secrets keeps small secrets, such as the tokens of chat workspaces chatops
// is installed in. Values arrive sealed (encrypted) by the adapter that owns
// them; the store never sees them in clear.
type Secrets interface {
	// Put stores a sealed value under name, replacing any.
	Put(ctx context.Context, name string, sealed []byte) error
	// Get returns the sealed value; NotFound when there is none.
	Get(ctx context.Context, name string) ([]byte, error)
	// Delete removes a value and every earlier one; none is no error.
	Delete(ctx context.Context, name string) error
}

// AuditLog is the append-only record of every command from every adapter.
type AuditLog interface {
	// Append records one command, or one later event of it (Event). A record
	// with the same job id and event as one appended before (within the
	// deduplication window) is dropped, so a redelivered job is recorded once.
	// It returns Unavailable when the log cannot be reached.
	Append(ctx context.Context, r *AuditRecord) error
	// Read returns the records that match q, oldest first: those appended and
	// those that came with ledger changes.
	Read(ctx context.Context, q AuditQuery) ([]AuditRecord, error)
	// Export passes every record that q selects to fn (q.Limit aside), from
	// both sources, holding only a few at a time, and returns fn's first
	// error. The records of each source come in the order they were stored,
	// and the two sources are interleaved by the time each record was stored:
	// sorted by At as far as the writers' clocks agree. It ends with the last
	// record there was when it began. It returns Unavailable when the log
	// cannot be reached.
	Export(ctx context.Context, q AuditQuery, fn func(*AuditRecord) error) error
}

// Jobs keeps the record of every command run as a job: from the moment it is
// queued to its outcome and its answer. The record is also the job's claim:
// a worker runs a job's effect only after moving its record from queued to
// running, so a redelivered job never starts its effect twice. Records outlive
// every redelivery of their job.
type Jobs interface {
	// Create stores j unless a job with its id exists; it reports whether it
	// did.
	Create(ctx context.Context, j *Job) (bool, error)
	// Update applies fn to the job's record (a Job with only ID set when there
	// is none) and stores the result by compare-and-set, calling fn again on
	// fresh state when another writer got there first. An error from fn is
	// returned and nothing is stored.
	Update(ctx context.Context, id string, fn func(*Job) error) (*Job, error)
	// Get returns a job; NotFound when there is none with that id.
	Get(ctx context.Context, id string) (*Job, error)
	// List returns up to limit jobs, most recently changed first, without
	// reading every record.
	List(ctx context.Context, limit int) ([]Job, error)
}

// AuditRecord is one command as the audit stream keeps it.
type AuditRecord struct {
	At    time.Time `json:"at"`
	JobID string    `json:"job_id,omitempty"`
	Actor string    `json:"actor"`
	// By is who ran the command as Actor (--as); As, on a refused
	// attempt, is whom Actor asked to act as.
	By       string        `json:"by,omitempty"`
	As       string        `json:"as,omitempty"`
	Source   string        `json:"source"`
	Channel  string        `json:"channel,omitempty"`
	Command  string        `json:"command"`
	Pipeline string        `json:"pipeline,omitempty"`
	Decision string        `json:"decision"` // allowed, denied, invalid
	Rule     string        `json:"rule,omitempty"`
	Approver string        `json:"approver,omitempty"`
	Outcome  string        `json:"outcome"` // ok, or an error code
	Message  string        `json:"message,omitempty"`
	ErrorRef string        `json:"error_ref,omitempty"`
	Duration time.Duration `json:"duration_ns"`
	// Event is empty for the command itself; "undelivered" records that its
	// answer reached nobody.
	Event string `json:"event,omitempty"`
}

// AuditQuery selects audit records.
type AuditQuery struct {
	// Pipeline selects the records of one pipeline; all when empty.
	Pipeline string
	// Since selects the records stored at or after it; all when zero.
	Since time.Time
	// Limit keeps the Limit records stored last; all when zero.
	Limit int
}

// Job states.
const (
	JobQueued  = "queued"  // accepted, waiting for a worker
	JobRunning = "running" // claimed by a worker
	JobDone    = "done"    // ran, outcome ok
	JobFailed  = "failed"  // ran or was refused, outcome an error code
	// JobUnknown: the effect started and its worker died; what it did is
	// unknown, and it is never started again.
	JobUnknown = "unknown"
	// JobUndelivered: finished, but its answer reached nobody.
	JobUndelivered = "undelivered"
)

// Job is one command run: what, by whom, where it stands and how it ended.
type Job struct {
	ID      string `json:"id"`
	Command string `json:"command"`
	Actor   string `json:"actor"`
	Source  string `json:"source"`
	Channel string `json:"channel,omitempty"`
	State   string `json:"state"`
	// Worker names the process that claimed the job, and Beat is when it
	// last said it still runs it.
	Worker   string    `json:"worker,omitempty"`
	Beat     time.Time `json:"beat,omitzero"`
	Attempts int       `json:"attempts,omitempty"`
	Queued   time.Time `json:"queued,omitzero"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	// Outcome is ok, unconfirmed, or an error code.
	Outcome string `json:"outcome,omitempty"`
	Message string `json:"message,omitempty"` // what the person was told of a failure
	// Chat is Message as a chat shows it, when it differs (see Error.Chat).
	Chat     string   `json:"chat,omitempty"`
	ErrorRef string   `json:"error_ref,omitempty"`
	Progress []string `json:"progress,omitempty"`
	// Result is the stored answer of a finished job, answered again when the
	// job is redelivered.
	Result *Result `json:"result,omitempty"`
	// Question is the confirmation the command asked for.
	Question *ConfirmationError `json:"question,omitempty"`
	// AuditedWithChange says the audit record went into the ledger with the
	// command's change.
	AuditedWithChange bool `json:"audited_with_change,omitempty"`
	// Answer is how the answer fared; AnswerNote says by which route, or why
	// none worked.
	Answer     Answer `json:"answer,omitempty"`
	AnswerNote string `json:"answer_note,omitempty"`
}

// Answer is where a job's answer stands.
type Answer string

// Answer states.
const (
	AnswerNone        Answer = ""            // not yet posted
	AnswerPosted      Answer = "posted"      // in the outbox, on its way
	AnswerDelivered   Answer = "delivered"   // reached the person
	AnswerUndelivered Answer = "undelivered" // no route worked
)

// Final reports whether the job has an outcome.
func (j *Job) Final() bool {
	switch j.State {
	case JobDone, JobFailed, JobUnknown, JobUndelivered:
		return true
	}
	return false
}

// Err returns the stored failure of a finished job as an error, or nil.
func (j *Job) Err() error {
	switch {
	case j.Question != nil:
		return j.Question
	case j.Outcome == "" || j.Outcome == "ok":
		return nil
	}
	return &Error{Code: Code(j.Outcome), Msg: j.Message, Chat: j.Chat, Ref: j.ErrorRef}
}

// Outbox carries answers durably from the workers that ran a command to the
// person who asked, each delivery on its own retry schedule: a held or failing
// answer never delays another, and no worker sleeps waiting for a retry.
type Outbox interface {
	// Post stores a delivery durably before it returns. A delivery whose ID
	// was posted before (within the deduplication window) is dropped, so a
	// redelivered job posts its answer once. It returns Unavailable when the
	// outbox cannot be reached.
	Post(ctx context.Context, d *Delivery) error
	// Deliver calls deliver for each delivery until ctx ends, several at a
	// time. The delivery is removed when deliver returns Retry zero; otherwise
	// it comes back after Retry.After (Retry-After honoured, or a backoff). A
	// delivery whose process died comes back after the outbox's ack wait.
	Deliver(ctx context.Context, deliver func(context.Context, *Delivery) Retry) error
}

// Delivery is one answer on its way: what to say and every route the adapter
// may try to say it.
type Delivery struct {
	// ID is the job id and the phase ("<job>/answer"): the deduplication key.
	ID    string `json:"id"`
	JobID string `json:"job_id"`
	// Reply holds the routes, as the adapter wrote them in the job: a
	// response URL, a team, a channel, a thread, the requester.
	Reply map[string]string `json:"reply,omitempty"`
	// Message is the adapter's rendering of the answer.
	Message json.RawMessage `json:"message"`
	// Part numbers a continuation of an answer too long for one message:
	// 2, 3, …; zero for the answer itself.
	Part int `json:"part,omitempty"`
	// Next holds the continuations still to post, in order: each becomes
	// a delivery of its own once the one before it is delivered.
	Next []json.RawMessage `json:"next,omitempty"`
	// Created is when the answer was posted; a delivery gives up after the
	// adapter's deadline counted from it.
	Created time.Time `json:"created"`
	// Attempt is the delivery count, from 1.
	Attempt int `json:"-"`
}

// Retry is what a delivery attempt asks of the outbox: nothing (done, or given
// up for good), or another attempt after After.
type Retry struct {
	After time.Duration
}
