package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/chatops/chatops/engine"
	"github.com/nats-io/nats.go/jetstream"
)

var (
	_ engine.Store    = (*Store)(nil)
	_ engine.AuditLog = (*Audit)(nil)
	_ engine.Jobs     = (*Jobs)(nil)
	_ engine.History  = (*History)(nil)
)

// Store keeps each pipeline's ledger under its name in a KV bucket; the entry's
// revision is the compare-and-set token.
type Store struct{ kv jetstream.KeyValue }

// Load implements engine.Store.
func (s *Store) Load(ctx context.Context, pipeline string) (*engine.PipelineState, uint64, error) {
	e, err := s.kv.Get(ctx, pipeline)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, engine.Errorf(engine.NotFound, "pipeline %s has no ledger yet", pipeline)
	}
	if err != nil {
		return nil, 0, unavailable(fmt.Errorf("loading %s: %w", pipeline, err))
	}
	var st engine.PipelineState
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return nil, 0, &engine.Error{Code: engine.Internal, Msg: "the ledger of " + pipeline + " is unreadable", Err: err}
	}
	return &st, e.Revision(), nil
}

// Save implements engine.Store.
func (s *Store) Save(ctx context.Context, st *engine.PipelineState, rev uint64) (uint64, error) {
	data, err := json.Marshal(st)
	if err != nil {
		return 0, &engine.Error{Code: engine.Internal, Msg: "encoding the ledger", Err: err}
	}
	var n uint64
	if rev == 0 {
		n, err = s.kv.Create(ctx, st.Name, data)
	} else {
		n, err = s.kv.Update(ctx, st.Name, data, rev)
	}
	switch {
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		return 0, engine.Errorf(engine.Conflict, "the ledger of %s changed meanwhile", st.Name)
	case err != nil:
		return 0, unavailable(fmt.Errorf("saving %s: %w", st.Name, err))
	}
	return n, nil
}

// Audit appends records to the audit stream, one subject per pipeline.
type Audit struct{ js jetstream.JetStream }

// subject is chatops.audit.<pipeline>, with '.' escaped so a name stays one token.
func subject(pipeline string) string {
	if pipeline == "" {
		return auditSubject + "._"
	}
	return auditSubject + "." + strings.ReplaceAll(pipeline, ".", "%2E")
}

// Append implements engine.AuditLog.
func (a *Audit) Append(ctx context.Context, r *engine.AuditRecord) error {
	data, err := json.Marshal(r)
	if err != nil {
		return &engine.Error{Code: engine.Internal, Msg: "encoding an audit record", Err: err}
	}
	if _, err := a.js.Publish(ctx, subject(r.Pipeline), data); err != nil {
		return unavailable(fmt.Errorf("writing the audit stream: %w", err))
	}
	return nil
}

// Read implements engine.AuditLog.
func (a *Audit) Read(ctx context.Context, q engine.AuditQuery) ([]engine.AuditRecord, error) {
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if q.Pipeline != "" {
		cfg.FilterSubjects = []string{subject(q.Pipeline)}
	}
	if !q.Since.IsZero() {
		since := q.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	var out []engine.AuditRecord
	err := readStream(ctx, a.js, AuditStream, cfg, func(data []byte) {
		var r engine.AuditRecord
		if json.Unmarshal(data, &r) == nil {
			out = append(out, r)
		}
	})
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[len(out)-q.Limit:]
	}
	return out, err
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
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			return unavailable(err)
		}
		if done || n == 0 {
			return nil
		}
	}
}

// History keeps every release in a stream, one subject per pipeline and slot.
type History struct{ js jetstream.JetStream }

func historySubject(pipeline, slot string) string {
	esc := strings.NewReplacer(".", "%2E", "/", "%2F")
	return releasesSubject + "." + esc.Replace(pipeline) + "." + esc.Replace(slot)
}

// Append implements engine.History. The message id makes a repeat a no-op.
func (h *History) Append(ctx context.Context, pipeline string, seq uint64, slot string, r engine.Release) error {
	data, err := json.Marshal(r)
	if err != nil {
		return &engine.Error{Code: engine.Internal, Msg: "encoding a release", Err: err}
	}
	id := fmt.Sprintf("%s/%d/%s", pipeline, seq, slot)
	if _, err := h.js.Publish(ctx, historySubject(pipeline, slot), data, jetstream.WithMsgID(id)); err != nil {
		return unavailable(fmt.Errorf("writing the release history: %w", err))
	}
	return nil
}

// List implements engine.History.
func (h *History) List(ctx context.Context, pipeline, slot string, limit int) ([]engine.Release, error) {
	var all []engine.Release
	err := readStream(ctx, h.js, ReleasesStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{historySubject(pipeline, slot)},
	}, func(data []byte) {
		var r engine.Release
		if json.Unmarshal(data, &r) == nil {
			all = append(all, r)
		}
	})
	out := make([]engine.Release, 0, min(limit, len(all)))
	for i := len(all) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, all[i])
	}
	return out, err
}

// Jobs keeps job records in a KV bucket whose entries expire.
type Jobs struct{ kv jetstream.KeyValue }

// Put implements engine.Jobs.
func (j *Jobs) Put(ctx context.Context, job *engine.Job) error {
	data, err := json.Marshal(job)
	if err != nil {
		return &engine.Error{Code: engine.Internal, Msg: "encoding a job", Err: err}
	}
	if _, err := j.kv.Put(ctx, job.ID, data); err != nil {
		return unavailable(fmt.Errorf("saving job %s: %w", job.ID, err))
	}
	return nil
}

// Get implements engine.Jobs.
func (j *Jobs) Get(ctx context.Context, id string) (*engine.Job, error) {
	e, err := j.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return nil, engine.Errorf(engine.NotFound, "no job %q (jobs are kept for a week)", id)
	}
	if err != nil {
		return nil, unavailable(err)
	}
	var job engine.Job
	if err := json.Unmarshal(e.Value(), &job); err != nil {
		return nil, &engine.Error{Code: engine.Internal, Msg: "job " + id + " is unreadable", Err: err}
	}
	return &job, nil
}

// List implements engine.Jobs.
func (j *Jobs) List(ctx context.Context, limit int) ([]engine.Job, error) {
	w, err := j.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, unavailable(err)
	}
	defer w.Stop()
	var out []engine.Job
	for e := range w.Updates() {
		if e == nil {
			break // the initial values are all in
		}
		var job engine.Job
		if err := json.Unmarshal(e.Value(), &job); err == nil {
			out = append(out, job)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Started.After(out[b].Started) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
