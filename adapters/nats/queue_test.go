package nats

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/chatops/chatops/engine"
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
