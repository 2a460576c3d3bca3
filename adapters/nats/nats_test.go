package nats

import (
	"context"
	"errors"
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
	if _, err := first.Store.Save(ctx, &engine.PipelineState{Name: "web", Seq: 1}, 0); err != nil {
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
	if _, err := first.Store.Save(ctx, &engine.PipelineState{Name: "web", Seq: 2}, rev); err != nil {
		t.Fatal(err)
	}
	if _, err := second.Store.Save(ctx, &engine.PipelineState{Name: "web", Seq: 2}, rev); engine.ErrorCode(err) != engine.Conflict {
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
	if _, err := c.Store.Save(ctx, &engine.PipelineState{Name: "web", Seq: 7}, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Audit.Append(ctx, &engine.AuditRecord{Actor: "alice", Command: "promote web", Pipeline: "web"}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the same change twice is recorded once
		if err := c.History.Append(ctx, "web", 7, "staging/api", engine.Release{Version: "1.0.0"}); err != nil {
			t.Fatal(err)
		}
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
	if recs, err := c.Audit.Read(ctx, engine.AuditQuery{Pipeline: "web"}); err != nil || len(recs) != 1 {
		t.Errorf("audit after restart: %d records, %v", len(recs), err)
	}
	if rels, err := c.History.List(ctx, "web", "staging/api", 10); err != nil || len(rels) != 1 {
		t.Errorf("history after restart: %d releases, %v", len(rels), err)
	}
	if _, _, err := c.Store.Load(ctx, "nosuch"); engine.ErrorCode(err) != engine.NotFound {
		t.Errorf("missing pipeline: %v", err)
	}
}
