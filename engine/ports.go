package engine

import (
	"context"
	"encoding/json"
	"time"
)

// Store keeps the pipelines ledger. Implementations compare and set on a
// revision, so two writers of one pipeline never lose an update.
type Store interface {
	// Load returns the state of a pipeline and its revision. It returns a
	// NotFound *Error when the pipeline was never saved, Unavailable when the
	// store cannot be reached.
	Load(ctx context.Context, pipeline string) (*PipelineState, uint64, error)
	// Save writes the state if the stored revision is still rev (0: not saved
	// yet) and returns the new revision. It returns a Conflict *Error when
	// another writer got there first, Unavailable when the store cannot be
	// reached.
	Save(ctx context.Context, st *PipelineState, rev uint64) (uint64, error)
}

// History keeps every release of every slot: the ledger itself keeps only the
// recent ones, so that each change stays small.
type History interface {
	// Append records that release r went into slot as change seq of the
	// pipeline. Appending the same (pipeline, seq, slot) twice records it once.
	// It returns Unavailable when the history cannot be reached.
	Append(ctx context.Context, pipeline string, seq uint64, slot string, r Release) error
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
	// Work calls handle for each job until ctx ends. A job whose handle
	// returns an error, or whose worker dies, is delivered again later, a
	// bounded number of times.
	Work(ctx context.Context, handle func(context.Context, *QueuedJob) error) error
}

// QueuedJob is a command accepted by an adapter, waiting for a worker.
type QueuedJob struct {
	ID        string    `json:"id"`
	Command   string    `json:"command"` // canonical text
	Actor     Actor     `json:"actor"`
	Channel   string    `json:"channel,omitempty"`
	Confirmed bool      `json:"confirmed,omitempty"`
	Approver  string    `json:"approver,omitempty"`
	Enqueued  time.Time `json:"enqueued"`
	// Reply holds what the adapter needs to answer: a response URL, a thread.
	Reply map[string]string `json:"reply,omitempty"`
	// Attempt is the delivery count, from 1.
	Attempt int `json:"-"`
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
}

// AuditLog is the append-only record of every command from every adapter.
type AuditLog interface {
	// Append records one command. It returns Unavailable when the log cannot
	// be reached; the engine then reports the command as failed, so nobody
	// takes an unrecorded command for done (its change, if any, stands, and a
	// retry with the same idempotency key does not repeat it).
	Append(ctx context.Context, r *AuditRecord) error
	// Read returns the records that match q, oldest first.
	Read(ctx context.Context, q AuditQuery) ([]AuditRecord, error)
}

// Jobs keeps the status of every command run as a job.
type Jobs interface {
	// Put creates or replaces a job's record.
	Put(ctx context.Context, j *Job) error
	// Get returns a job; NotFound when there is none with that id.
	Get(ctx context.Context, id string) (*Job, error)
	// List returns up to limit jobs, newest first.
	List(ctx context.Context, limit int) ([]Job, error)
}

// AuditRecord is one command as the audit stream keeps it.
type AuditRecord struct {
	At       time.Time     `json:"at"`
	JobID    string        `json:"job_id,omitempty"`
	Actor    string        `json:"actor"`
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
}

// AuditQuery selects audit records.
type AuditQuery struct {
	Pipeline string
	Since    time.Time
	Limit    int
}

// Job is one command run: what, by whom, and how it ended.
type Job struct {
	ID       string    `json:"id"`
	Command  string    `json:"command"`
	Actor    string    `json:"actor"`
	Source   string    `json:"source"`
	State    string    `json:"state"` // running, done, failed
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	Outcome  string    `json:"outcome,omitempty"`
	Progress []string  `json:"progress,omitempty"`
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
