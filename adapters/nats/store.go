package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
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
// job id and the event as its message id, so a repeat is dropped.
func (a *Audit) Append(ctx context.Context, r *engine.AuditRecord) error {
	data, err := json.Marshal(r)
	if err != nil {
		return &engine.Error{Code: engine.Internal, Msg: "encoding an audit record", Err: err}
	}
	var opts []jetstream.PublishOpt
	if r.JobID != "" {
		opts = append(opts, jetstream.WithMsgID(r.JobID+"/"+strings.TrimSuffix("command/"+r.Event, "/")))
	}
	if _, err := a.js.Publish(ctx, subject(r.Pipeline), data, opts...); err != nil {
		return unavailable(fmt.Errorf("writing the audit stream: %w", err))
	}
	return nil
}

// Read implements engine.AuditLog.
func (a *Audit) Read(ctx context.Context, q engine.AuditQuery) ([]engine.AuditRecord, error) {
	var out []engine.AuditRecord
	read := func(stream, subject string, decode func([]byte) *engine.AuditRecord) error {
		cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
		if q.Pipeline != "" {
			cfg.FilterSubjects = []string{subject}
		}
		if !q.Since.IsZero() {
			since := q.Since
			cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
		}
		return readStream(ctx, a.js, stream, cfg, func(data []byte) {
			if r := decode(data); r != nil {
				out = append(out, *r)
			}
		})
	}
	err := read(AuditStream, subject(q.Pipeline), func(data []byte) *engine.AuditRecord {
		var r engine.AuditRecord
		if json.Unmarshal(data, &r) != nil {
			return nil
		}
		return &r
	})
	if err != nil {
		return nil, err
	}
	err = read(ReleasesStream, ledgerSubject(q.Pipeline), func(data []byte) *engine.AuditRecord {
		var ch engine.Change
		if json.Unmarshal(data, &ch) != nil {
			return nil
		}
		return ch.Audit // nil for the releases of older versions
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
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

// Get implements engine.Jobs.
func (j *Jobs) Get(ctx context.Context, id string) (*engine.Job, error) {
	job, _, err := j.get(ctx, id)
	return job, err
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

// List implements engine.Jobs: it reads the bucket's stream backwards from its
// last message, so it costs a few reads whatever the number of jobs.
func (j *Jobs) List(ctx context.Context, limit int) ([]engine.Job, error) {
	stream, err := j.js.Stream(ctx, "KV_"+JobsBucket)
	if err != nil {
		return nil, unavailable(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	var out []engine.Job
	seen := map[string]bool{}
	// Each job is written a few times, and superseded writes are gone: a
	// bounded scan finds the latest jobs without reading them all.
	budget := max(limit, 1) * 50
	for seq := info.State.LastSeq; seq >= info.State.FirstSeq && seq > 0 && len(out) < limit && budget > 0; seq-- {
		budget--
		m, err := stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, unavailable(err)
		}
		key := strings.TrimPrefix(m.Subject, "$KV."+JobsBucket+".")
		if seen[key] || len(m.Data) == 0 {
			seen[key] = true
			continue
		}
		seen[key] = true
		var job engine.Job
		if json.Unmarshal(m.Data, &job) == nil {
			out = append(out, job)
		}
	}
	return out, nil
}
