package nats

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatops/chatops/engine"
)

// TestSharedDataDir: a second process on the same data dir reaches the first
// one's server and sees the same ledger.
func TestSharedDataDir(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	first, err := Open(ctx, Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if _, err := first.Store.Commit(ctx, change("web", 1), 0); err != nil {
		t.Fatal(err)
	}
	second, err := Open(ctx, Options{DataDir: dir})
	if err != nil {
		t.Fatalf("second open on the same data dir: %v", err)
	}
	defer second.Close()
	if second.server != nil {
		t.Fatal("the second process started its own server on a data dir in use")
	}
	st, rev, err := second.Store.Load(ctx, "web")
	if err != nil || st.Seq != 1 {
		t.Fatalf("second process reads %+v, %v", st, err)
	}
	// Compare-and-set holds across the two.
	if _, err := first.Store.Commit(ctx, change("web", 2), rev); err != nil {
		t.Fatal(err)
	}
	if _, err := second.Store.Commit(ctx, change("web", 2), rev); engine.ErrorCode(err) != engine.Conflict {
		t.Fatalf("stale save from the second process: %v, want a conflict", err)
	}
}

// TestDataDirInUseUnreachable: the data dir is locked but its server cannot be
// reached: a clear error, and nothing started.
func TestDataDirInUseUnreachable(t *testing.T) {
	dir := t.TempDir()
	lock, err := tryLock(filepath.Join(dir, "chatops.lock"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	_, err = Open(context.Background(), Options{DataDir: dir, LocalWait: 100 * time.Millisecond})
	var e *engine.Error
	if !errors.As(err, &e) || e.Code != engine.Unavailable || !strings.Contains(e.Msg, "is in use by another chatops process that cannot be reached") {
		t.Fatalf("got %v", err)
	}
}

// TestReopen: the file store keeps the ledger, audit and history across restarts.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c, err := Open(ctx, Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ch := change("web", 7)
	ch.Added = []engine.SlotRelease{{Seq: 7, Slot: "staging/api", Release: engine.Release{Version: "1.0.0"}}}
	if _, err := c.Store.Commit(ctx, ch, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Audit.Append(ctx, &engine.AuditRecord{Actor: "alice", Command: "promote web", Pipeline: "web"}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c, err = Open(ctx, Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if st, _, err := c.Store.Load(ctx, "web"); err != nil || st.Seq != 7 {
		t.Errorf("ledger after restart: %+v, %v", st, err)
	}
	if recs, err := c.Audit.Read(ctx, engine.AuditQuery{Pipeline: "web"}); err != nil || len(recs) != 2 { // appended, and the change's
		t.Errorf("audit after restart: %d records, %v", len(recs), err)
	}
	if rels, err := c.History.List(ctx, "web", "staging/api", 10); err != nil || len(rels) != 1 {
		t.Errorf("history after restart: %d releases, %v", len(rels), err)
	}
	if _, _, err := c.Store.Load(ctx, "nosuch"); engine.ErrorCode(err) != engine.NotFound {
		t.Errorf("missing pipeline: %v", err)
	}
}

// change is a change of pipeline to its seq-th state, with its audit record.
func change(pipeline string, seq uint64) *engine.Change {
	return &engine.Change{Pipeline: pipeline, Key: fmt.Sprint("job", seq), State: &engine.PipelineState{Name: pipeline, Seq: seq},
		Audit: &engine.AuditRecord{Actor: "alice", Command: "release " + pipeline, Pipeline: pipeline, Outcome: "ok"}}
}
