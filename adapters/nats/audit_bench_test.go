package nats_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chatops/chatops/adapters/nats"
	"github.com/chatops/chatops/engine"
)

// auditFill is what fillAudit wrote.
type auditFill struct {
	conn *nats.Conn
	// since is when the last sinceTail records began.
	since time.Time
}

const (
	fillRecords = 50_000
	sinceTail   = 1_000
	// Every changeEvery-th command changed a pipeline: its record went
	// into the ledger with the change.
	changeEvery = 10
)

var fillPipelines = []string{"web", "api", "worker", "billing", "search", "mobile", "docs", ""}

// fillAudit opens a store in dir and records n commands, as chatops would
// after n commands: most in the audit stream, every changeEvery-th as a
// ledger change with a pipeline state of realistic size.
func fillAudit(tb testing.TB, dir string, n int) auditFill {
	tb.Helper()
	ctx := context.Background()
	c, err := nats.Open(ctx, nats.Options{DataDir: dir})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	f := auditFill{conn: c}
	revs := map[string]uint64{}
	states := map[string]*engine.PipelineState{}
	for i := range n {
		if i == n-sinceTail {
			f.since = time.Now()
		}
		p := fillPipelines[i%len(fillPipelines)]
		r := &engine.AuditRecord{At: time.Now(), JobID: fmt.Sprintf("job-%06d", i), Actor: "alice", Source: "slack",
			Channel: "C0123456", Command: "info " + p, Pipeline: p, Decision: "allowed", Outcome: "ok", Duration: 3 * time.Millisecond}
		if i%changeEvery != 0 || p == "" {
			if err := c.Audit.Append(ctx, r); err != nil {
				tb.Fatal(err)
			}
			continue
		}
		r.Command = "release " + p + " 1." + fmt.Sprint(i)
		st := states[p]
		if st == nil {
			st = &engine.PipelineState{Name: p, Slots: map[string]*engine.Slot{}}
			for _, s := range []string{"development", "staging", "production"} {
				st.Slots[s] = &engine.Slot{}
			}
			states[p] = st
		}
		st.Seq++
		rel := engine.Release{Version: fmt.Sprintf("1.%d.0", i), Commit: "9f2c1e7d", By: "alice", At: r.At, Action: "release"}
		for _, s := range st.Slots {
			s.Current = &rel
			s.History = append(s.History, rel)
			if len(s.History) > 20 {
				s.History = s.History[1:]
			}
		}
		ch := &engine.Change{Pipeline: p, Key: r.JobID, Summary: "Released " + p, State: st, Audit: r,
			Added: []engine.SlotRelease{{Seq: st.Seq, Slot: "development", Release: rel}}}
		rev, err := c.Store.Commit(ctx, ch, revs[p])
		if err != nil {
			tb.Fatal(err)
		}
		revs[p] = rev
	}
	return f
}

// BenchmarkAuditRead measures what chatops audit reads to show the newest
// 100 records after 50 k commands: all of them, with a pipeline, and since a
// time.
func BenchmarkAuditRead(b *testing.B) {
	f := fillAudit(b, b.TempDir(), fillRecords)
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		q    engine.AuditQuery
	}{
		{"limit=100", engine.AuditQuery{Limit: 100}},
		{"pipeline/limit=100", engine.AuditQuery{Pipeline: "web", Limit: 100}},
		{"since/limit=100", engine.AuditQuery{Since: f.since, Limit: 100}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				recs, err := f.conn.Audit.Read(ctx, bc.q)
				if err != nil {
					b.Fatal(err)
				}
				n = len(recs)
			}
			if n != bc.q.Limit {
				b.Fatalf("read %d records, want %d", n, bc.q.Limit)
			}
		})
	}
}
