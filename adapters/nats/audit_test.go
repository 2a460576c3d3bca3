package nats_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chatops/chatops/adapters/nats"
	"github.com/chatops/chatops/engine"
)

// TestAuditRead: a limited read returns the same records as the newest of an
// unlimited one, from both streams, whatever the filter.
func TestAuditRead(t *testing.T) {
	ctx := context.Background()
	f := fillAudit(t, t.TempDir(), 2_000)
	for _, tc := range []struct {
		name string
		q    engine.AuditQuery
	}{
		{"limit=1", engine.AuditQuery{Limit: 1}},
		{"limit=100", engine.AuditQuery{Limit: 100}},
		{"limit beyond the streams", engine.AuditQuery{Limit: 5_000}},
		{"pipeline", engine.AuditQuery{Pipeline: "web", Limit: 100}},
		{"pipeline beyond its records", engine.AuditQuery{Pipeline: "worker", Limit: 400}},
		{"no pipeline", engine.AuditQuery{Pipeline: "nosuch", Limit: 10}},
		{"since", engine.AuditQuery{Since: f.since, Limit: 100}},
		{"since, more than the limit", engine.AuditQuery{Since: f.since, Limit: 10}},
		{"since and pipeline", engine.AuditQuery{Pipeline: "docs", Since: f.since, Limit: 50}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			all, err := f.conn.Audit.Read(ctx, engine.AuditQuery{Pipeline: tc.q.Pipeline, Since: tc.q.Since})
			if err != nil {
				t.Fatal(err)
			}
			want := all[max(0, len(all)-tc.q.Limit):]
			got, err := f.conn.Audit.Read(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, want, sameRecord) {
				t.Fatalf("read %d records %s … %s, want %d: %s … %s", len(got), first(got), last(got), len(want), first(want), last(want))
			}
			var fromLedger int
			for _, r := range got {
				if r.Pipeline != tc.q.Pipeline && tc.q.Pipeline != "" {
					t.Fatalf("record of %q read for pipeline %q", r.Pipeline, tc.q.Pipeline)
				}
				if strings.HasPrefix(r.Command, "release ") {
					fromLedger++
				}
			}
			if len(got) >= 100 && fromLedger == 0 {
				t.Errorf("none of %d records came from the ledger", len(got))
			}
		})
	}
}

// TestAuditExport: every record once, in the order they were stored, from
// both streams; filtered by pipeline and time; stopped by its callback.
func TestAuditExport(t *testing.T) {
	ctx := context.Background()
	const n = 3_000
	f := fillAudit(t, t.TempDir(), n)
	for _, tc := range []struct {
		name string
		q    engine.AuditQuery
		want int
	}{
		{"all", engine.AuditQuery{}, n},
		{"pipeline", engine.AuditQuery{Pipeline: "web"}, n / len(fillPipelines)},
		{"since", engine.AuditQuery{Since: f.since}, sinceTail},
		{"limit is ignored", engine.AuditQuery{Limit: 10}, n},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []engine.AuditRecord
			err := f.conn.Audit.Export(ctx, tc.q, func(r *engine.AuditRecord) error {
				got = append(got, *r)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want {
				t.Fatalf("exported %d records, want %d", len(got), tc.want)
			}
			seen := map[string]bool{}
			for i, r := range got {
				if seen[r.JobID] {
					t.Fatalf("record %d: %s exported twice", i, r.JobID)
				}
				seen[r.JobID] = true
				if i > 0 && r.JobID < got[i-1].JobID {
					t.Fatalf("record %d: %s after %s, out of the order they were stored", i, r.JobID, got[i-1].JobID)
				}
			}
		})
	}
	t.Run("stopped", func(t *testing.T) {
		stop := errors.New("stop")
		calls := 0
		err := f.conn.Audit.Export(ctx, engine.AuditQuery{}, func(*engine.AuditRecord) error {
			if calls++; calls == 10 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || calls != 10 {
			t.Fatalf("export returned %v after %d records, want the callback's error after 10", err, calls)
		}
	})
}

func sameRecord(a, b engine.AuditRecord) bool {
	return a.JobID == b.JobID && a.At.Equal(b.At) && a.Command == b.Command
}

func first(recs []engine.AuditRecord) string {
	if len(recs) == 0 {
		return "(none)"
	}
	return fmt.Sprintf("%s %q", recs[0].JobID, recs[0].Command)
}

func last(recs []engine.AuditRecord) string { return first(recs[max(0, len(recs)-1):]) }

// TestJobsList: the jobs changed last, newest first, read from the end of the
// bucket's stream as the audit is.
func TestJobsList(t *testing.T) {
	ctx := context.Background()
	c, err := nats.Open(ctx, nats.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 300 {
		if _, err := c.Jobs.Create(ctx, &engine.Job{ID: fmt.Sprintf("job-%03d", i), State: engine.JobQueued}); err != nil {
			t.Fatal(err)
		}
	}
	// Job 5 changes last: it comes first, and once.
	if _, err := c.Jobs.Update(ctx, "job-005", func(j *engine.Job) error { j.State = engine.JobDone; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		limit int
		want  []string
	}{
		{0, nil},
		{1, []string{"job-005"}},
		{4, []string{"job-005", "job-299", "job-298", "job-297"}},
	} {
		t.Run(fmt.Sprint("limit=", tc.limit), func(t *testing.T) {
			jobs, err := c.Jobs.List(ctx, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, j := range jobs {
				ids = append(ids, j.ID)
			}
			if !slices.Equal(ids, tc.want) {
				t.Fatalf("listed %v, want %v", ids, tc.want)
			}
		})
	}
	if jobs, err := c.Jobs.List(ctx, 1000); err != nil || len(jobs) != 300 {
		t.Fatalf("listed %d jobs, %v; want all 300", len(jobs), err)
	}
}

// TestAuditAppendRepeats: a job's record written again (the same job, event
// and decision) is dropped; a refusal and a run of the same job id, or two
// events of one job, are all kept.
func TestAuditAppendRepeats(t *testing.T) {
	ctx := context.Background()
	c, err := nats.Open(ctx, nats.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	at := time.Now()
	rec := func(decision, event string) *engine.AuditRecord {
		return &engine.AuditRecord{At: at, JobID: "s1", Actor: "alice", Source: "slack", Command: "lock demo", Pipeline: "demo", Decision: decision, Outcome: "ok", Event: event}
	}
	for _, r := range []*engine.AuditRecord{
		rec("denied", ""), rec("denied", ""), // the same refusal twice: one kept
		rec("allowed", ""), rec("allowed", ""), // the run, twice: one kept
		rec("allowed", "undelivered"),
		rec("invalid", ""),
	} {
		if err := c.Audit.Append(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.Audit.Read(ctx, engine.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, r := range got {
		kinds = append(kinds, r.Decision+"/"+r.Event)
	}
	if want := []string{"denied/", "allowed/", "allowed/undelivered", "invalid/"}; !slices.Equal(kinds, want) {
		t.Errorf("records %q, want %q", kinds, want)
	}
}
