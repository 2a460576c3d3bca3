package nats

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatops/chatops/engine"
	"github.com/nats-io/nats.go/jetstream"
)

// TestQueue: a doubled job is enqueued once; a failing job is delivered again;
// every job runs to success exactly once.
func TestQueue(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Open(ctx, Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q, err := c.Queue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"a", "a", "b", "c"} {
		dup, err := q.Enqueue(ctx, &engine.QueuedJob{ID: id, Command: "promote demo"})
		if err != nil {
			t.Fatal(err)
		}
		if dup != (i == 1) {
			t.Errorf("enqueue #%d (%s): duplicate=%v", i, id, dup)
		}
	}
	var mu sync.Mutex
	runs := map[string][]int{}
	done := make(chan struct{})
	workCtx, stop := context.WithCancel(ctx)
	go func() {
		_ = q.Work(workCtx, func(_ context.Context, j *engine.QueuedJob) error {
			mu.Lock()
			defer mu.Unlock()
			runs[j.ID] = append(runs[j.ID], j.Attempt)
			if j.ID == "b" && j.Attempt == 1 {
				return errors.New("transient")
			}
			if len(runs["a"]) > 0 && len(runs["c"]) > 0 && len(runs["b"]) == 2 {
				close(done)
			}
			return nil
		})
	}()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("jobs did not all run: %v", runs)
	}
	stop()
	mu.Lock()
	defer mu.Unlock()
	if len(runs["a"]) != 1 || len(runs["c"]) != 1 || len(runs["b"]) != 2 || runs["b"][1] != 2 {
		t.Errorf("deliveries %v, want a once, c once, b twice (attempts 1, 2)", runs)
	}
}

// TestWaitingJobs: a job in the queue has no record until a worker makes
// one, and the store shows it as queued all the same, by id and first in the
// list; once recorded it is shown once, as recorded. A job enqueued by an
// earlier version, on the queue's old subject, still reaches a worker after
// the stream takes the new subjects.
func TestWaitingJobs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	old, err := Open(ctx, Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	// The queue as earlier versions made it, with one job on its subject.
	if _, err := old.js.CreateStream(ctx, jetstream.StreamConfig{Name: JobsStream, Subjects: []string{jobsSubject},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage, MaxAge: 7 * 24 * time.Hour, Duplicates: DedupWindow}); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(&engine.QueuedJob{ID: "sold", Command: "promote demo"})
	if _, err := old.js.Publish(ctx, jobsSubject, data); err != nil {
		t.Fatal(err)
	}
	old.Close()

	c, err := Open(ctx, Options{DataDir: dir, Reconcile: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q, err := c.Queue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Jobs.Get(ctx, "s1"); engine.ErrorCode(err) != engine.NotFound {
		t.Fatalf("a job never enqueued: %v", err)
	}
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	for i, id := range []string{"s1", "s2", "s3"} {
		j := &engine.QueuedJob{ID: id, Command: "promote demo", Actor: engine.Actor{ID: "alice", Source: engine.SourceSlack},
			Channel: "C1", Enqueued: at.Add(time.Duration(i) * time.Second)}
		if _, err := q.Enqueue(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.Jobs.Get(ctx, "s2")
	want := &engine.Job{ID: "s2", Command: "promote demo", Actor: "alice", Source: engine.SourceSlack, Channel: "C1",
		State: engine.JobQueued, Queued: at.Add(time.Second)}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("queued job: %+v, %v\nwant %+v", got, err, want)
	}
	// A worker took s1: its record is what is shown.
	if _, err := c.Jobs.Update(ctx, "s1", func(j *engine.Job) error {
		j.Command, j.State, j.Worker = "promote demo", engine.JobRunning, "w1"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	list, err := c.Jobs.List(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, j := range list {
		ids = append(ids, j.ID+":"+j.State)
	}
	if got, want := strings.Join(ids, " "), "s3:queued s2:queued s1:running"; got != want {
		t.Errorf("list = %s, want %s", got, want)
	}
	if list, err := c.Jobs.List(ctx, 2); err != nil || len(list) != 2 || list[0].ID != "s3" {
		t.Errorf("list of 2 = %+v, %v", list, err)
	}
	if _, err := q.Enqueue(ctx, &engine.QueuedJob{ID: "a.b", Command: "promote demo"}); engine.ErrorCode(err) != engine.Internal {
		t.Errorf("a job id that is no subject token: %v", err)
	}

	// Every job reaches a worker, the old one too.
	seen := map[string]bool{}
	var mu sync.Mutex
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		_ = q.Work(wctx, func(_ context.Context, j *engine.QueuedJob) error {
			mu.Lock()
			defer mu.Unlock()
			seen[j.ID] = true
			if len(seen) == 4 {
				stop()
			}
			return nil
		})
	}()
	<-wctx.Done()
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 4 || !seen["sold"] {
		t.Fatalf("workers saw %v, want sold, s1, s2, s3", seen)
	}
	// Once the done jobs left the queue, a new one is found past their gap.
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		st, err := c.js.Stream(ctx, JobsStream)
		if err == nil && st.CachedInfo().State.Msgs == 0 {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the done jobs are still in the queue")
		}
	}
	if _, err := q.Enqueue(ctx, &engine.QueuedJob{ID: "s4", Command: "promote demo"}); err != nil {
		t.Fatal(err)
	}
	if list, err := c.Jobs.List(ctx, 10); err != nil || len(list) != 2 || list[0].ID != "s4" || list[0].State != engine.JobQueued || list[1].ID != "s1" {
		t.Errorf("list after the gap = %+v, %v", list, err)
	}
}

// TestEnqueueStopsWaiting: Enqueue waits for the stored-ack no longer than
// its context. With no stream to store the job, the wait ends with the
// context, not with the publisher's own retries; a job whose enqueuer gave up
// but that was stored anyway makes the retry a duplicate, stored once; and no
// stored-ack is left pending.
func TestEnqueueStopsWaiting(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Open(ctx, Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q, err := c.Queue(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Given up on at once: stored or not, the retry stores it once.
	gone, stop := context.WithCancel(ctx)
	stop()
	if _, err := q.Enqueue(gone, &engine.QueuedJob{ID: "s1", Command: "promote demo"}); err != nil && engine.ErrorCode(err) != engine.Unavailable {
		t.Fatalf("enqueue with an ended context: %v, want nil or unavailable", err)
	}
	dup, err := q.Enqueue(ctx, &engine.QueuedJob{ID: "s1", Command: "promote demo"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.js.Stream(ctx, JobsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 || !dup {
		t.Errorf("after the retry: %d jobs stored, duplicate=%v; want 1, true (the first enqueue was stored)", info.State.Msgs, dup)
	}

	// No stream answers: the wait ends with the context.
	if err := c.js.DeleteStream(ctx, JobsStream); err != nil {
		t.Fatal(err)
	}
	short, done := context.WithTimeout(ctx, 100*time.Millisecond)
	defer done()
	_, err = q.Enqueue(short, &engine.QueuedJob{ID: "s2", Command: "promote demo"})
	if engine.ErrorCode(err) != engine.Unavailable || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("enqueue with no stream: %v, want unavailable from the context's deadline", err)
	}
	for q.pub.PublishAsyncPending() > 0 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	if n := q.pub.PublishAsyncPending(); n != 0 {
		t.Errorf("%d stored-acks still pending", n)
	}
}
