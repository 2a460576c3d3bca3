package nats

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chatops/chatops/engine"
	"github.com/nats-io/nats.go/jetstream"
)

// openDir opens the data dir with opts, closing it with the test.
func openDir(t *testing.T, ctx context.Context, dir string, opts Options) *Conn {
	t.Helper()
	opts.DataDir = dir
	c, err := Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func streamConfig(t *testing.T, ctx context.Context, c *Conn, name string) jetstream.StreamConfig {
	t.Helper()
	st, err := c.js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return st.CachedInfo().Config
}

// TestLayoutDefaults: the streams and buckets have the default retention,
// one replica on a server of its own, and every creator makes them so.
func TestLayoutDefaults(t *testing.T) {
	ctx := context.Background()
	c := openDir(t, ctx, t.TempDir(), Options{Reconcile: true})
	if _, err := c.Queue(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Interactions(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		stream   string
		maxAge   time.Duration
		maxBytes int64
	}{
		{AuditStream, 90 * 24 * time.Hour, -1},
		{ReleasesStream, 0, 10 << 30},
		{JobsStream, 7 * 24 * time.Hour, -1},
		{"KV_" + JobsBucket, 7 * 24 * time.Hour, -1},
		{"KV_" + InteractionsBucket, 30 * time.Minute, -1},
	} {
		t.Run(tc.stream, func(t *testing.T) {
			cfg := streamConfig(t, ctx, c, tc.stream)
			if cfg.Replicas != 1 || cfg.MaxAge != tc.maxAge || cfg.MaxBytes != tc.maxBytes {
				t.Errorf("replicas %d, max age %v, max bytes %d; want 1, %v, %d", cfg.Replicas, cfg.MaxAge, cfg.MaxBytes, tc.maxAge, tc.maxBytes)
			}
		})
	}
}

// TestReconcileUpdates: streams and buckets made otherwise (as older
// versions did, or by hand) are brought to the retention configured when
// chatops next starts, and a second start changes nothing.
func TestReconcileUpdates(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	first := openDir(t, ctx, dir, Options{Reconcile: true})
	if _, err := first.Queue(ctx); err != nil {
		t.Fatal(err)
	}
	// As chatops made them before retention: no limits.
	for _, name := range []string{AuditStream, JobsStream, ReleasesStream} {
		cfg := streamConfig(t, ctx, first, name)
		cfg.MaxAge, cfg.MaxBytes, cfg.Duplicates = 0, -1, 2*time.Minute
		if _, err := first.js.UpdateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	first.Close()

	ret := Retention{Audit: time.Hour, Releases: 1 << 20, Jobs: 2 * time.Hour, Interactions: time.Minute}
	second := openDir(t, ctx, dir, Options{Reconcile: true, Retention: ret})
	for _, tc := range []struct {
		stream     string
		maxAge     time.Duration
		maxBytes   int64
		duplicates time.Duration
	}{
		{AuditStream, time.Hour, -1, 30 * time.Minute},
		{ReleasesStream, 0, 1 << 20, 2 * time.Minute},
		// Not opened yet by this process: reconciled at start all the same.
		{JobsStream, 2 * time.Hour, -1, DedupWindow},
		{"KV_" + JobsBucket, 2 * time.Hour, -1, 2 * time.Minute},
	} {
		t.Run(tc.stream, func(t *testing.T) {
			cfg := streamConfig(t, ctx, second, tc.stream)
			if cfg.MaxAge != tc.maxAge || cfg.MaxBytes != tc.maxBytes || cfg.Duplicates != tc.duplicates {
				t.Errorf("max age %v, max bytes %d, duplicates %v; want %v, %d, %v", cfg.MaxAge, cfg.MaxBytes, cfg.Duplicates, tc.maxAge, tc.maxBytes, tc.duplicates)
			}
			if !cfg.DenyDelete && tc.stream != JobsStream {
				t.Error("deny delete lost")
			}
		})
	}
	// A bucket made before, with the TTL of another version.
	if _, err := second.Interactions(ctx); err != nil {
		t.Fatal(err)
	}
	if cfg := streamConfig(t, ctx, second, "KV_"+InteractionsBucket); cfg.MaxAge != time.Minute || cfg.Duplicates > time.Minute {
		t.Errorf("interactions: ttl %v, duplicates %v; want 1m, 1m at most", cfg.MaxAge, cfg.Duplicates)
	}

	// The same again: nothing to change, so no update (which would bump
	// the stream's timestamp).
	before := streamConfig(t, ctx, second, AuditStream)
	third := openDir(t, ctx, dir, Options{Reconcile: true, Retention: ret})
	if after := streamConfig(t, ctx, third, AuditStream); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("a second start changed the audit stream:\n%+v\n%+v", before, after)
	}

	// A one-shot command (no Reconcile) with other limits uses the streams
	// as they are: a laptop's config does not change the cluster's.
	fourth := openDir(t, ctx, dir, Options{Retention: Retention{Audit: 5 * time.Hour}})
	if after := streamConfig(t, ctx, fourth, AuditStream); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("a start without Reconcile changed the audit stream:\n%+v\n%+v", before, after)
	}
}

// TestReconcileExplicitReplicas: --replicas is what chatops asks for, and a
// standalone server's refusal says what chatops tried.
func TestReconcileExplicitReplicas(t *testing.T) {
	ctx := context.Background()
	_, err := Open(ctx, Options{Reconcile: true, DataDir: t.TempDir(), Replicas: 3})
	if err == nil {
		t.Fatal("three replicas on a standalone server: no error")
	}
	if !strings.Contains(err.Error(), "replicas > 1 not supported in non-clustered mode") || !strings.Contains(err.Error(), "bucket chatops_jobs") {
		t.Errorf("error %q does not name the bucket and the server's reason", err)
	}
}

// TestReconcileRefuses: what JetStream cannot change is reported with each
// difference, for every stream at once, and nothing else is changed.
func TestReconcileRefuses(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	first := openDir(t, ctx, dir, Options{Reconcile: true})
	// Someone made the jobs queue and the outbox as limits streams, and the
	// outbox in memory.
	for _, cfg := range []jetstream.StreamConfig{
		{Name: JobsStream, Subjects: []string{jobsSubject, jobsSubject + ".>"}, Storage: jetstream.FileStorage, DenyDelete: true},
		{Name: OutboxStream, Subjects: []string{outboxSubject}, Storage: jetstream.MemoryStorage, MaxAge: time.Hour},
	} {
		if _, err := first.js.CreateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	// A second process, on the first's server: the outbox is in its memory.
	_, err := Open(ctx, Options{Reconcile: true, DataDir: dir})
	want := "NATS: stream CHATOPS_JOBS: retention is limits, chatops wants workqueue; deny delete is true, chatops wants false; " +
		"max age is forever, chatops wants 7d; duplicate window is 2m, chatops wants 10m " +
		"(JetStream cannot change retention and deny delete in place: move the data to a new stream, or delete this one)\n" +
		"stream CHATOPS_OUTBOX: storage is memory, chatops wants file; retention is limits, chatops wants workqueue; " +
		"max age is 1h, chatops wants forever; duplicate window is 2m, chatops wants 10m " +
		"(JetStream cannot change storage and retention in place: move the data to a new stream, or delete this one)"
	if engine.ErrorCode(err) != engine.Conflict || err.Error() != want {
		t.Fatalf("got  %v (%s)\nwant %s", err, engine.ErrorCode(err), want)
	}
}

// TestRetentionAgesOut: JetStream ages the audit out and caps the ledger,
// though both deny deletes and purges.
func TestRetentionAgesOut(t *testing.T) {
	ctx := context.Background()
	c := openDir(t, ctx, t.TempDir(), Options{Reconcile: true, Retention: Retention{Audit: time.Second, Releases: 4 << 10}})
	if cfg := streamConfig(t, ctx, c, AuditStream); !cfg.DenyDelete || !cfg.DenyPurge || cfg.Duplicates != time.Second {
		t.Fatalf("audit stream %+v: want deny delete and purge, and a duplicate window no longer than its max age", cfg)
	}
	for i := range 5 {
		if err := c.Audit.Append(ctx, &engine.AuditRecord{At: time.Now(), Actor: "alice", Source: "terminal",
			Command: fmt.Sprint("whoami ", i), Decision: "allowed", Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	audit, err := c.js.Stream(ctx, AuditStream)
	if err != nil {
		t.Fatal(err)
	}
	msgs := func() uint64 {
		info, err := audit.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Msgs
	}
	if n := msgs(); n != 5 {
		t.Fatalf("%d audit records, want 5", n)
	}
	waitFor(t, "the audit records to age out", func() bool { return msgs() == 0 })

	// Changes of 1 KiB each: the ledger keeps the newest that fit in 4 KiB.
	for i := range 10 {
		if _, err := c.js.Publish(ctx, ledgerSubject(fmt.Sprint("p", i)), make([]byte, 1<<10)); err != nil {
			t.Fatal(err)
		}
	}
	ledger, err := c.js.Stream(ctx, ReleasesStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := ledger.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Bytes > 4<<10 || info.State.LastSeq != 10 || info.State.FirstSeq < 2 {
		t.Errorf("ledger keeps %d bytes, seq %d to %d; want 4 KiB at most, the newest to 10", info.State.Bytes, info.State.FirstSeq, info.State.LastSeq)
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{{0, "forever"}, {90 * 24 * time.Hour, "90d"}, {36 * time.Hour, "36h"}, {90 * time.Minute, "1h30m"}, {30 * time.Minute, "30m"}, {1500 * time.Millisecond, "1.5s"}} {
		if got := FormatAge(tc.d); got != tc.want {
			t.Errorf("FormatAge(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
	for _, tc := range []struct {
		n    int64
		want string
	}{{-1, "unlimited"}, {10 << 30, "10GiB"}, {1 << 20, "1MiB"}, {1500, "1500B"}} {
		if got := FormatBytes(tc.n); got != tc.want {
			t.Errorf("FormatBytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// TestReconcileConcurrent: processes starting together with a new retention
// all start, and leave the streams as they all want them.
func TestReconcileConcurrent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	openDir(t, ctx, dir, Options{Reconcile: true}) // serves the dir
	ret := Retention{Audit: 48 * time.Hour, Jobs: time.Hour}
	errs := make(chan error, 6)
	for range cap(errs) {
		go func() {
			c, err := Open(ctx, Options{Reconcile: true, DataDir: dir, Retention: ret})
			if err == nil {
				_, err = c.Queue(ctx)
				c.Close()
			}
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	c := openDir(t, ctx, dir, Options{Reconcile: true, Retention: ret})
	if cfg := streamConfig(t, ctx, c, AuditStream); cfg.MaxAge != 48*time.Hour {
		t.Errorf("audit max age %v, want 48h", cfg.MaxAge)
	}
	if cfg := streamConfig(t, ctx, c, JobsStream); cfg.MaxAge != time.Hour {
		t.Errorf("jobs max age %v, want 1h", cfg.MaxAge)
	}
}
