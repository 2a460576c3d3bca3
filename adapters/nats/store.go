package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatops/chatops/engine"
	nc "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

var (
	_ engine.Store    = (*Store)(nil)
	_ engine.History  = (*History)(nil)
	_ engine.AuditLog = (*Audit)(nil)
	_ engine.Jobs     = (*Jobs)(nil)
)

// Store keeps the pipelines ledger as a log of changes in the releases stream,
// one subject per pipeline. The last message of a pipeline's subject is its
// state, and its stream sequence the revision that a change must name to be
// appended (Nats-Expected-Last-Subject-Sequence): compare-and-set and the
// append of the change, its releases and its audit record are one write.
type Store struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	// events is set once the events stream is known to exist.
	events atomic.Bool
	log    *slog.Logger
}

// ledgerSubject is chatops.releases.<pipeline>.
func ledgerSubject(pipeline string) string {
	return releasesSubject + "." + token(pipeline)
}

// token escapes '.' in a pipeline name, so it stays one subject token.
func token(pipeline string) string { return strings.ReplaceAll(pipeline, ".", "%2E") }

// Load implements engine.Store.
func (s *Store) Load(ctx context.Context, pipeline string) (*engine.PipelineState, uint64, error) {
	m, err := s.stream.GetLastMsgForSubject(ctx, ledgerSubject(pipeline))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, 0, engine.Errorf(engine.NotFound, "pipeline %s has no ledger yet", pipeline)
	}
	if err != nil {
		return nil, 0, unavailable(fmt.Errorf("loading %s: %w", pipeline, err))
	}
	var ch engine.Change
	if err := json.Unmarshal(m.Data, &ch); err != nil || ch.State == nil {
		return nil, 0, &engine.Error{Code: engine.Internal, Msg: "the ledger of " + pipeline + " is unreadable", Err: err}
	}
	return ch.State, m.Sequence, nil
}

// Commit implements engine.Store.
func (s *Store) Commit(ctx context.Context, ch *engine.Change, rev uint64) (uint64, error) {
	data, err := json.Marshal(ch)
	if err != nil {
		return 0, &engine.Error{Code: engine.Internal, Msg: "encoding a change", Err: err}
	}
	id := changeID(ch)
	ack, err := s.js.Publish(ctx, ledgerSubject(ch.Pipeline), data, jetstream.WithExpectLastSequencePerSubject(rev), jetstream.WithMsgID(id))
	var apiErr *jetstream.APIError
	switch {
	case errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant): // the latter on replicated streams
		return 0, engine.Errorf(engine.Conflict, "the ledger of %s changed meanwhile", ch.Pipeline)
	case err != nil:
		return 0, unavailable(fmt.Errorf("saving %s: %w", ch.Pipeline, err))
	}
	if s.events.Load() && len(ch.Events) > 0 {
		// The events stream sources the ledger, a moment later; the same
		// change sent now keeps its events ahead of those published after
		// it (a driver's progress), and the source's copy, with the same
		// message id, is then dropped. Sent or not, the change arrives.
		m := &nc.Msg{Subject: eventSubject(ch.Pipeline), Data: data, Header: nc.Header{}}
		m.Header.Set(jetstream.MsgIDHeader, id)
		m.Header.Set(kindHeader, kindChange)
		if _, err := s.js.PublishMsg(ctx, m); err != nil {
			s.log.Debug("sending a change's events ahead of the ledger's source", "pipeline", ch.Pipeline, "err", err)
		}
	}
	return ack.Sequence, nil
}

// changeID is a change's message id, in the ledger and in the events.
func changeID(ch *engine.Change) string { return "change/" + token(ch.Pipeline) + "/" + ch.Key }

// Find implements engine.Store.
func (s *Store) Find(ctx context.Context, pipeline, key string, since time.Time) (*engine.Change, error) {
	var found *engine.Change
	err := readStream(ctx, s.js, ReleasesStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{ledgerSubject(pipeline)},
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy, OptStartTime: &since,
	}, func(data []byte) {
		var ch engine.Change
		if found == nil && json.Unmarshal(data, &ch) == nil && ch.Key == key {
			found = &ch
		}
	})
	return found, err
}

// History reads every release from the ledger's log of changes.
type History struct{ js jetstream.JetStream }

// List implements engine.History.
func (h *History) List(ctx context.Context, pipeline, slot string, limit int) ([]engine.Release, error) {
	var all []engine.Release
	err := readStream(ctx, h.js, ReleasesStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{ledgerSubject(pipeline)},
	}, func(data []byte) {
		var ch engine.Change
		if json.Unmarshal(data, &ch) != nil {
			return
		}
		for _, a := range ch.Added {
			if a.Slot == slot {
				all = append(all, a.Release)
			}
		}
	})
	out := make([]engine.Release, 0, min(limit, len(all)))
	for i := len(all) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, all[i])
	}
	return out, err
}

// Audit appends records to the audit stream, one subject per pipeline. The
// records of ledger changes live in the changes themselves; Read merges both.
type Audit struct{ js jetstream.JetStream }

// subject is chatops.audit.<pipeline>, with '.' escaped so a name stays one token.
func subject(pipeline string) string {
	if pipeline == "" {
		return auditSubject + "._"
	}
	return auditSubject + "." + token(pipeline)
}

// Append implements engine.AuditLog. A record of a job is published with the
// job id, the event and, for a refusal, the decision as its message id, so
// a repeat is dropped: a command refused again when its request came twice,
// a job's run recorded again after its worker died. A refusal and a run of
// the same job id are both kept.
func (a *Audit) Append(ctx context.Context, r *engine.AuditRecord) error {
	data, err := json.Marshal(r)
	if err != nil {
		return &engine.Error{Code: engine.Internal, Msg: "encoding an audit record", Err: err}
	}
	var opts []jetstream.PublishOpt
	if r.JobID != "" {
		kind := "command"
		if r.Decision != "" && r.Decision != "allowed" {
			kind = r.Decision
		}
		opts = append(opts, jetstream.WithMsgID(r.JobID+"/"+strings.TrimSuffix(kind+"/"+r.Event, "/")))
	}
	if _, err := a.js.Publish(ctx, subject(r.Pipeline), data, opts...); err != nil {
		return unavailable(fmt.Errorf("writing the audit stream: %w", err))
	}
	return nil
}

// Read implements engine.AuditLog. With a limit it returns the q.Limit
// records stored last (by the time the store received them), oldest first by
// At; it reads them backwards from the end of each stream, and from the audit
// stream's oldest record it keeps on, only the ledger's changes stored since,
// so it reads about q.Limit records whatever the length of the streams. Without
// a limit it returns every record that q selects.
func (a *Audit) Read(ctx context.Context, q engine.AuditQuery) ([]engine.AuditRecord, error) {
	var recs []stamped
	if q.Limit <= 0 {
		err := a.export(ctx, q, func(r *stamped) error { recs = append(recs, *r); return nil })
		if err != nil {
			return nil, err
		}
	} else {
		since := q.Since
		for _, src := range auditSources(q.Pipeline) {
			got, err := tail(ctx, a.js, src.stream, src.filter, q.Limit, since, src.decode)
			if err != nil {
				return nil, err
			}
			recs = append(recs, got...)
			// A record the next stream stored before the oldest of these
			// q.Limit is not among the newest q.Limit.
			if len(got) == q.Limit && got[0].stored.After(since) {
				since = got[0].stored
			}
		}
		sort.SliceStable(recs, func(i, j int) bool { return recs[i].stored.Before(recs[j].stored) })
		recs = recs[max(0, len(recs)-q.Limit):]
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].rec.At.Before(recs[j].rec.At) })
	out := make([]engine.AuditRecord, len(recs))
	for i := range recs {
		out[i] = recs[i].rec
	}
	return out, nil
}

// Export implements engine.AuditLog. It reads both streams at once, one
// batch of each at a time, and passes on whichever record the store received
// first: each stream's records in the order it stored them, and the two
// interleaved by the time they were stored. It ends with the last record there
// was when it began.
func (a *Audit) Export(ctx context.Context, q engine.AuditQuery, fn func(*engine.AuditRecord) error) error {
	return a.export(ctx, q, func(r *stamped) error { return fn(&r.rec) })
}

func (a *Audit) export(ctx context.Context, q engine.AuditQuery, fn func(*stamped) error) error {
	srcs := auditSources(q.Pipeline)
	curs := make([]*cursor, len(srcs))
	heads := make([]*stamped, len(srcs))
	defer func() {
		for _, c := range curs {
			c.close()
		}
	}()
	// advance moves heads[i] to the next record of source i; nil at its end.
	advance := func(i int) error {
		for heads[i] = nil; ; {
			m, err := curs[i].next()
			if m == nil || err != nil {
				return err
			}
			if r, ok := srcs[i].decode(m); ok {
				heads[i] = &r
				return nil
			}
		}
	}
	for i, src := range srcs {
		c, err := openCursor(ctx, a.js, src.stream, src.filter, fromTime(q.Since), cursorBatch)
		if err != nil {
			return err
		}
		curs[i] = c
		if err := advance(i); err != nil {
			return err
		}
	}
	for {
		first := -1
		for i, h := range heads {
			if h != nil && (first < 0 || h.stored.Before(heads[first].stored)) {
				first = i
			}
		}
		if first < 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(heads[first]); err != nil {
			return err
		}
		if err := advance(first); err != nil {
			return err
		}
	}
}

// stamped is an audit record and when its stream stored it.
type stamped struct {
	rec    engine.AuditRecord
	stored time.Time
}

// auditSource is a stream holding audit records, and how to find them.
type auditSource struct {
	stream, filter string
	decode         func(jetstream.Msg) (stamped, bool)
}

// auditSources are the audit stream and the ledger's, the first the denser:
// Read reads it first, and the ledger then only back to its oldest record.
func auditSources(pipeline string) []auditSource {
	audit, ledger := auditSubject+".>", releasesSubject+".>"
	if pipeline != "" {
		audit, ledger = subject(pipeline), ledgerSubject(pipeline)
	}
	return []auditSource{
		{AuditStream, audit, func(m jetstream.Msg) (stamped, bool) {
			var s stamped
			return s, json.Unmarshal(m.Data(), &s.rec) == nil && stampOf(m, &s)
		}},
		{ReleasesStream, ledger, func(m jetstream.Msg) (stamped, bool) {
			// Only the record: the change's state is skipped, not built.
			var ch struct {
				Audit *engine.AuditRecord `json:"audit"`
			}
			var s stamped
			if json.Unmarshal(m.Data(), &ch) != nil || ch.Audit == nil { // nil for the releases of older versions
				return s, false
			}
			s.rec = *ch.Audit
			return s, stampOf(m, &s)
		}},
	}
}

func stampOf(m jetstream.Msg, s *stamped) bool {
	md, err := m.Metadata()
	if err != nil {
		return false
	}
	s.stored = md.Timestamp
	return true
}

// tail returns the last limit messages that filter selects in a stream, among
// those stored since the given time (any, when zero), decoded, oldest first;
// a message decode refuses does not count. It reads backwards from the end,
// in windows of sequences that double until it has limit, reaches the start
// of the stream or the time, so that it reads about limit messages, and holds
// at most limit decoded ones: memory follows limit, not the stream.
func tail[T any](ctx context.Context, js jetstream.JetStream, stream, filter string, limit int, since time.Time, decode func(jetstream.Msg) (T, bool)) ([]T, error) {
	if !since.IsZero() {
		// Few messages since then: read them forward, at once.
		c, err := openCursor(ctx, js, stream, filter, fromTime(since), cursorBatch)
		if err != nil {
			return nil, err
		}
		if c.left <= uint64(4*limit) {
			keep := newest[T]{n: limit}
			err := c.each(func(m jetstream.Msg, _ *jetstream.MsgMetadata) bool {
				if v, ok := decode(m); ok {
					keep.add(v)
				}
				return true
			})
			c.close()
			return keep.list(), err
		}
		c.close()
	}
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, unavailable(err)
	}
	state := st.CachedInfo().State
	if state.Msgs == 0 {
		return nil, nil
	}
	var chunks [][]T // newest first
	found, stop, window := 0, state.LastSeq+1, uint64(max(limit, 1))
	// after counts the messages filter selects from stop on, as the last
	// window's cursor counted them: those a cursor from start counts past
	// them are the window's, so that it fetches no more.
	var after uint64
	for found < limit && stop > state.FirstSeq {
		start := stop - min(window, stop-state.FirstSeq)
		c, err := openCursor(ctx, js, stream, filter, fromSeq(start), int(min(window, cursorBatch)))
		if err != nil {
			return nil, err
		}
		all := c.left
		c.left -= min(after, c.left)
		after = all
		keep, older, newestWindow := newest[T]{n: limit - found}, false, stop == state.LastSeq+1
		err = c.each(func(m jetstream.Msg, md *jetstream.MsgMetadata) bool {
			switch {
			case md.Sequence.Stream >= stop && !newestWindow:
				// Read in the window before. The newest window reads on
				// past the last message of the stream's state: a bucket
				// entry written since moved there from where it was.
				return false
			case md.Timestamp.Before(since):
				older = true
			default:
				if v, ok := decode(m); ok {
					keep.add(v)
				}
			}
			return true
		})
		c.close()
		if err != nil {
			return nil, err
		}
		chunk := keep.list()
		chunks, found = append(chunks, chunk), found+len(chunk)
		if older {
			break
		}
		stop, window = start, window*2
	}
	out := make([]T, 0, found)
	for i := len(chunks) - 1; i >= 0; i-- {
		out = append(out, chunks[i]...)
	}
	return out, nil
}

// newest keeps the last n values it is given, in at most 2n of memory.
type newest[T any] struct {
	n    int
	vals []T
}

func (k *newest[T]) add(v T) {
	if k.n <= 0 {
		return
	}
	if len(k.vals) == 2*k.n {
		k.vals = append(k.vals[:0], k.vals[k.n:]...)
	}
	k.vals = append(k.vals, v)
}

func (k *newest[T]) list() []T { return k.vals[max(0, len(k.vals)-k.n):] }

// cursorBatch is how many messages a cursor fetches at a time.
const cursorBatch = 256

// cursor reads the messages of a stream that a filter selects, oldest first,
// through an ephemeral consumer of its own, up to the last one the stream had
// when the cursor opened. It holds one batch at a time.
type cursor struct {
	ctx    context.Context
	js     jetstream.JetStream
	stream string
	cons   jetstream.Consumer
	// left counts the messages still to read, as the consumer counted them
	// when it was created.
	left  uint64
	size  int
	batch []jetstream.Msg
}

// fromSeq starts a consumer at a sequence.
func fromSeq(seq uint64) func(*jetstream.ConsumerConfig) {
	return func(cfg *jetstream.ConsumerConfig) {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, seq
	}
}

// fromTime starts a consumer with the first message stored at or after t, or
// at the first message when t is zero.
func fromTime(t time.Time) func(*jetstream.ConsumerConfig) {
	return func(cfg *jetstream.ConsumerConfig) {
		if !t.IsZero() {
			cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
		}
	}
}

func openCursor(ctx context.Context, js jetstream.JetStream, stream, filter string, start func(*jetstream.ConsumerConfig), size int) (*cursor, error) {
	cfg := jetstream.ConsumerConfig{
		DeliverPolicy: jetstream.DeliverAllPolicy, AckPolicy: jetstream.AckNonePolicy,
		FilterSubject: filter, MemoryStorage: true, Replicas: 1,
		// Removed by close; this only if the process dies first.
		InactiveThreshold: time.Minute,
	}
	start(&cfg)
	cons, err := js.CreateConsumer(ctx, stream, cfg)
	if err != nil {
		return nil, unavailable(fmt.Errorf("reading stream %s: %w", stream, err))
	}
	return &cursor{ctx: ctx, js: js, stream: stream, cons: cons, left: cons.CachedInfo().NumPending, size: max(size, 1)}, nil
}

// next returns the next message, or nil after the last.
func (c *cursor) next() (jetstream.Msg, error) {
	if len(c.batch) == 0 && c.left > 0 {
		b, err := c.cons.FetchNoWait(int(min(c.left, uint64(c.size))))
		if err != nil {
			return nil, unavailable(fmt.Errorf("reading stream %s: %w", c.stream, err))
		}
		for m := range b.Messages() {
			c.batch = append(c.batch, m)
		}
		switch err := b.Error(); {
		case err != nil && !errors.Is(err, jetstream.ErrNoMessages):
			return nil, unavailable(fmt.Errorf("reading stream %s: %w", c.stream, err))
		case len(c.batch) == 0:
			c.left = 0 // aged out meanwhile
		}
	}
	if len(c.batch) == 0 {
		return nil, nil
	}
	m := c.batch[0]
	c.batch[0] = nil
	c.batch = c.batch[1:]
	c.left--
	if md, err := m.Metadata(); err == nil && md.NumPending == 0 {
		c.left = 0
	}
	return m, nil
}

// each passes the messages left to fn, with their metadata, until fn returns
// false.
func (c *cursor) each(fn func(jetstream.Msg, *jetstream.MsgMetadata) bool) error {
	for {
		m, err := c.next()
		if m == nil || err != nil {
			return err
		}
		md, err := m.Metadata()
		if err != nil {
			return &engine.Error{Code: engine.Internal, Msg: "a message of stream " + c.stream + " has no metadata", Err: err}
		}
		if !fn(m, md) {
			return nil
		}
	}
}

// close removes the cursor's consumer.
func (c *cursor) close() {
	if c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), 5*time.Second)
	defer cancel()
	_ = c.js.DeleteConsumer(ctx, c.stream, c.cons.CachedInfo().Name)
}

// readStream passes every message of a stream that cfg selects to fn, oldest
// first, and returns once it has seen the last one.
func readStream(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.OrderedConsumerConfig, fn func([]byte)) error {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return unavailable(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return unavailable(err)
	}
	if info.State.Msgs == 0 {
		return nil
	}
	cons, err := js.OrderedConsumer(ctx, stream, cfg)
	if err != nil {
		return unavailable(err)
	}
	for {
		batch, err := cons.FetchNoWait(500)
		if err != nil {
			return unavailable(err)
		}
		n, done := 0, false
		for m := range batch.Messages() {
			n++
			fn(m.Data())
			if md, err := m.Metadata(); err == nil && (md.NumPending == 0 || md.Sequence.Stream >= info.State.LastSeq) {
				done = true
			}
		}
		switch err := batch.Error(); {
		case done, errors.Is(err, jetstream.ErrNoMessages):
			return nil
		case err != nil:
			// A timeout is not the end of the stream: a reader that took it
			// for one would miss a change it looks for.
			return unavailable(err)
		case n == 0:
			return nil
		}
	}
}

// Jobs keeps job records in a KV bucket whose entries expire, long after any
// redelivery of their job.
type Jobs struct {
	kv jetstream.KeyValue
	js jetstream.JetStream // List reads the bucket's own stream backwards

	mu   sync.Mutex
	jobs jetstream.Stream // the queue's stream, once found
}

// Create implements engine.Jobs.
func (j *Jobs) Create(ctx context.Context, job *engine.Job) (bool, error) {
	data, err := json.Marshal(job)
	if err != nil {
		return false, &engine.Error{Code: engine.Internal, Msg: "encoding a job", Err: err}
	}
	_, err = j.kv.Create(ctx, job.ID, data)
	switch {
	case errors.Is(err, jetstream.ErrKeyExists):
		return false, nil
	case err != nil:
		return false, unavailable(fmt.Errorf("saving job %s: %w", job.ID, err))
	}
	return true, nil
}

// Update implements engine.Jobs.
func (j *Jobs) Update(ctx context.Context, id string, fn func(*engine.Job) error) (*engine.Job, error) {
	for {
		job, rev, err := j.get(ctx, id)
		if engine.ErrorCode(err) == engine.NotFound {
			job, rev, err = &engine.Job{ID: id}, 0, nil
		}
		if err != nil {
			return nil, err
		}
		if err := fn(job); err != nil {
			return nil, err
		}
		data, err := json.Marshal(job)
		if err != nil {
			return nil, &engine.Error{Code: engine.Internal, Msg: "encoding a job", Err: err}
		}
		if rev == 0 {
			_, err = j.kv.Create(ctx, id, data)
		} else {
			_, err = j.kv.Update(ctx, id, data, rev)
		}
		switch {
		case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
			continue // another writer: again, on fresh state
		case err != nil:
			return nil, unavailable(fmt.Errorf("saving job %s: %w", id, err))
		}
		return job, nil
	}
}

// Get implements engine.Jobs. A job that waits in the queue for a worker has
// no record yet: its message there is shown as queued.
func (j *Jobs) Get(ctx context.Context, id string) (*engine.Job, error) {
	job, _, err := j.get(ctx, id)
	if engine.ErrorCode(err) != engine.NotFound {
		return job, err
	}
	switch q, qerr := j.waiting(ctx, id); {
	case qerr != nil:
		return nil, qerr
	case q != nil:
		return q.Record(), nil
	}
	return nil, err
}

// waiting returns the job id while it waits in the queue (nil when it is
// not there), from its message, found by its subject.
func (j *Jobs) waiting(ctx context.Context, id string) (*engine.QueuedJob, error) {
	if !plainToken(id) {
		return nil, nil
	}
	st, err := j.queue(ctx)
	if err != nil || st == nil {
		return nil, err
	}
	m, err := st.GetLastMsgForSubject(ctx, jobsSubject+"."+id)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return nil, nil
	case err != nil:
		return nil, unavailable(fmt.Errorf("reading queued job %s: %w", id, err))
	}
	var q engine.QueuedJob
	if err := json.Unmarshal(m.Data, &q); err != nil {
		return nil, &engine.Error{Code: engine.Internal, Msg: "queued job " + id + " is unreadable", Err: err}
	}
	return &q, nil
}

// queue returns the jobs stream, nil while it does not exist (nothing was
// ever queued).
func (j *Jobs) queue(ctx context.Context) (jetstream.Stream, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.jobs != nil {
		return j.jobs, nil
	}
	st, err := j.js.Stream(ctx, JobsStream)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return nil, nil
	case err != nil:
		return nil, unavailable(fmt.Errorf("jobs stream: %w", err))
	}
	j.jobs = st
	return st, nil
}

func (j *Jobs) get(ctx context.Context, id string) (*engine.Job, uint64, error) {
	e, err := j.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil, 0, engine.Errorf(engine.NotFound, "no job %q (jobs are kept for a week)", id)
	}
	if err != nil {
		return nil, 0, unavailable(err)
	}
	var job engine.Job
	if err := json.Unmarshal(e.Value(), &job); err != nil {
		return nil, 0, &engine.Error{Code: engine.Internal, Msg: "job " + id + " is unreadable", Err: err}
	}
	return &job, e.Revision(), nil
}

// List implements engine.Jobs: the jobs that wait in the queue for a
// worker, newest first, then the others, changed last first. It reads the
// queue's and the bucket's streams backwards from their last message (see
// tail), so it costs a few reads whatever the number of jobs. The bucket
// keeps one message a job, its last write, so the stream's last messages are
// the jobs changed last.
func (j *Jobs) List(ctx context.Context, limit int) ([]engine.Job, error) {
	if limit <= 0 {
		return nil, nil
	}
	jobs, err := tail(ctx, j.js, "KV_"+JobsBucket, "$KV."+JobsBucket+".>", limit, time.Time{}, func(m jetstream.Msg) (engine.Job, bool) {
		var job engine.Job
		return job, len(m.Data()) > 0 && json.Unmarshal(m.Data(), &job) == nil // empty: deleted
	})
	if err != nil {
		return nil, err
	}
	slices.Reverse(jobs)
	// A job written while it was read may show twice, as it was and as it
	// is: the newer, first, stays.
	seen := make(map[string]bool, len(jobs))
	jobs = slices.DeleteFunc(jobs, func(j engine.Job) bool {
		dup := seen[j.ID]
		seen[j.ID] = true
		return dup
	})
	waiting, err := j.listWaiting(ctx, limit, jobs)
	if err != nil {
		return nil, err
	}
	return append(waiting, jobs...)[:min(limit, len(waiting)+len(jobs))], nil
}

// listWaiting returns up to limit jobs of the queue, newest first, that no
// worker has recorded: neither in known nor in the bucket. The queue holds
// the jobs not yet acknowledged, those running too, which have a record.
func (j *Jobs) listWaiting(ctx context.Context, limit int, known []engine.Job) ([]engine.Job, error) {
	st, err := j.queue(ctx)
	if err != nil || st == nil {
		return nil, err
	}
	queued, err := lastQueued(ctx, st, limit)
	if err != nil {
		return nil, err
	}
	recorded := make(map[string]bool, len(known))
	for _, k := range known {
		recorded[k.ID] = true
	}
	var out []engine.Job
	for _, q := range queued {
		if recorded[q.ID] {
			continue
		}
		switch _, _, err := j.get(ctx, q.ID); engine.ErrorCode(err) {
		case engine.NotFound:
			out = append(out, *q.Record())
		case "":
		default:
			return nil, err
		}
	}
	return out, nil
}

// lastQueued returns up to limit of the last jobs in the queue, newest
// first. A work queue allows no reader of its own beside the workers'
// consumer, so it gets them one by one, each the first job at or after a
// sequence, in windows of sequences back from the last that double while
// they find too few: the jobs done and removed leave gaps.
func lastQueued(ctx context.Context, st jetstream.Stream, limit int) ([]engine.QueuedJob, error) {
	info, err := st.Info(ctx)
	if err != nil {
		return nil, unavailable(fmt.Errorf("jobs stream: %w", err))
	}
	state := info.State
	var out []engine.QueuedJob
	stop, window := state.LastSeq+1, uint64(max(limit, 1))
	for state.Msgs > 0 && len(out) < limit && stop > state.FirstSeq {
		start := stop - min(window, stop-state.FirstSeq)
		var chunk []engine.QueuedJob
		for seq := start; seq < stop; {
			m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(jobsSubject+".>"))
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				break
			}
			if err != nil {
				return nil, unavailable(fmt.Errorf("reading the jobs stream: %w", err))
			}
			if m.Sequence >= stop {
				break
			}
			var q engine.QueuedJob
			if json.Unmarshal(m.Data, &q) == nil {
				chunk = append(chunk, q)
			}
			seq = m.Sequence + 1
		}
		slices.Reverse(chunk)
		out = append(out, chunk[:min(len(chunk), limit-len(out))]...)
		stop, window = start, window*2
	}
	return out, nil
}
