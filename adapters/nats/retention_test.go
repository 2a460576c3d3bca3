package nats

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatops/chatops/engine"
)

// dirBytes sums the sizes of the files under dir.
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return n
}

// TestRetentionBoundsDataDir: 50 000 commands' records (an audit record and a
// job record each) under small limits leave a data dir that holds only what
// the limits keep, not what was written. The figures are logged for the
// issue's report.
func TestRetentionBoundsDataDir(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100 000 records")
	}
	ctx := context.Background()
	dir := t.TempDir()
	c := openDir(t, ctx, dir, Options{Reconcile: true, Retention: Retention{Audit: 2 * time.Second, Jobs: 2 * time.Second}})
	const commands = 50_000
	var written atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 8 {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > commands {
					return
				}
				id := fmt.Sprintf("job%06d", i)
				rec := &engine.AuditRecord{At: time.Now(), JobID: id, Actor: "alice", Source: "slack", Channel: "C1",
					Command: "note hello from a load of commands", Pipeline: "demo", Decision: "allowed", Outcome: "ok"}
				if err := c.Audit.Append(ctx, rec); err != nil {
					t.Error(err)
					return
				}
				job := &engine.Job{ID: id, Command: rec.Command, Actor: "alice", Source: "slack", State: engine.JobDone, Outcome: "ok"}
				if _, err := c.Jobs.Create(ctx, job); err != nil {
					t.Error(err)
					return
				}
				written.Add(2)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	atWrite := dirBytes(t, dir)
	audit, _ := c.js.Stream(ctx, AuditStream)
	jobs, _ := c.js.Stream(ctx, "KV_"+JobsBucket)
	var kept uint64
	waitFor(t, "the records to age out", func() bool {
		a, err1 := audit.Info(ctx)
		j, err2 := jobs.Info(ctx)
		if err1 != nil || err2 != nil {
			return false
		}
		kept = a.State.Bytes + j.State.Bytes
		return a.State.Msgs == 0 && j.State.Msgs == 0
	})
	time.Sleep(500 * time.Millisecond) // the store removes emptied blocks
	after := dirBytes(t, dir)
	t.Logf("%d commands (%d records) written in %v; data dir %d bytes at the end of the writes, %d bytes once the limits applied (streams hold %d bytes)",
		commands, written.Load(), took.Round(time.Millisecond), atWrite, after, kept)
	// Each command wrote some 500 bytes; what is left is the store's
	// bookkeeping, whatever was written.
	if after > 4<<20 {
		t.Errorf("data dir %d bytes after every record aged out: not bounded by the limits", after)
	}
}
