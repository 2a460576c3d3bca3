package nats

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/chatops/chatops/engine"
)

func openConn(t *testing.T, ctx context.Context) *Conn {
	t.Helper()
	c, err := Open(ctx, Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// waitFor polls cond until it holds or the test's patience runs out.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type recorder struct {
	mu  sync.Mutex
	got []engine.Event
}

func (r *recorder) add(ev *engine.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, *ev)
}

func (r *recorder) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.got {
		out = append(out, ev.ID)
	}
	return out
}

// TestEventsCarryLedgerChanges: a change appended to the ledger arrives on the
// events stream with its events, between events published directly, in
// order, and an event published twice arrives once.
func TestEventsCarryLedgerChanges(t *testing.T) {
	ctx := context.Background()
	c := openConn(t, ctx)
	// A change made before the events stream exists is not replayed.
	if _, err := c.Store.Commit(ctx, &engine.Change{Pipeline: "demo", Key: "old", State: &engine.PipelineState{Name: "demo"},
		Events: []engine.Event{{ID: "demo/old/0", Pipeline: "demo"}}}, 0); err != nil {
		t.Fatal(err)
	}
	ev, err := c.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var followed, other, consumed recorder
	fctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = ev.Follow(fctx, "demo", followed.add) })
	wg.Go(func() { _ = ev.Follow(fctx, "other", other.add) })
	failOnce := true
	wg.Go(func() {
		_ = ev.Consume(fctx, "test", func(_ context.Context, e *engine.Event) error {
			if e.ID == "demo/j2/0" && failOnce {
				failOnce = false
				return errors.New("store down") // comes back, before the events after it
			}
			consumed.add(e)
			return nil
		})
	})
	defer func() { stop(); wg.Wait() }()
	time.Sleep(200 * time.Millisecond) // the consumers start from now

	publish := func(id string) {
		t.Helper()
		if err := ev.Publish(ctx, &engine.Event{ID: id, Pipeline: "demo", Action: "ci", State: engine.EventSuccess}); err != nil {
			t.Fatal(err)
		}
	}
	publish("github/1")
	rev, _ := c.Store.Commit(ctx, &engine.Change{Pipeline: "demo", Key: "j2", State: &engine.PipelineState{Name: "demo"},
		Events: []engine.Event{{ID: "demo/j2/0", Pipeline: "demo"}, {ID: "demo/j2/1", Pipeline: "demo"}}}, 1)
	if rev == 0 {
		t.Fatal("commit failed")
	}
	waitFor(t, "the sourced change", func() bool { return len(followed.ids()) >= 3 })
	publish("github/1") // redelivered: dropped
	publish("github/3")
	want := []string{"github/1", "demo/j2/0", "demo/j2/1", "github/3"}
	waitFor(t, "every event followed", func() bool { return len(followed.ids()) >= 4 })
	waitFor(t, "every event consumed", func() bool { return len(consumed.ids()) >= 4 })
	time.Sleep(100 * time.Millisecond)
	if got := followed.ids(); !equal(got, want) {
		t.Errorf("followed %v, want %v", got, want)
	}
	if got := consumed.ids(); !equal(got, want) {
		t.Errorf("consumed %v, want %v", got, want)
	}
	if got := other.ids(); len(got) != 0 {
		t.Errorf("another pipeline's follower got %v", got)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestNoticesOrderPerChannel: a channel's notices are delivered one at a
// time and in order, a retried one before those after it, while another
// channel's go on.
func TestNoticesOrderPerChannel(t *testing.T) {
	ctx := context.Background()
	c := openConn(t, ctx)
	q, err := c.Notices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a, b := engine.Route{Channel: "CAAAAAAAA"}, engine.Route{Channel: "CBBBBBBBB", Workspace: "T1"}
	var mu sync.Mutex
	got := map[string][]string{}
	busy := map[string]int{}
	overlap := false
	retried := false
	dctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = q.Deliver(dctx, func(_ context.Context, n *engine.Notice) engine.Retry {
			ch := n.Route.Channel
			mu.Lock()
			busy[ch]++
			overlap = overlap || busy[ch] > 1
			mu.Unlock()
			defer func() { mu.Lock(); busy[ch]--; mu.Unlock() }()
			if n.ID == "a1" && !retried {
				retried = true
				return engine.Retry{After: 300 * time.Millisecond}
			}
			time.Sleep(10 * time.Millisecond)
			mu.Lock()
			got[ch] = append(got[ch], n.ID)
			mu.Unlock()
			return engine.Retry{}
		})
	}()
	defer func() { stop(); <-done }()
	for i := range 5 {
		for _, r := range []engine.Route{a, b} {
			id := string("ab"[boolInt(r == b)]) + string(rune('0'+i))
			if err := q.Post(ctx, &engine.Notice{ID: id, Route: r}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := q.Post(ctx, &engine.Notice{ID: "a0", Route: a}); err != nil { // a repeat: dropped
		t.Fatal(err)
	}
	waitFor(t, "every notice", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got[a.Channel]) == 5 && len(got[b.Channel]) == 5
	})
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if w := []string{"a0", "a1", "a2", "a3", "a4"}; !equal(got[a.Channel], w) {
		t.Errorf("channel a got %v, want %v", got[a.Channel], w)
	}
	if w := []string{"b0", "b1", "b2", "b3", "b4"}; !equal(got[b.Channel], w) {
		t.Errorf("channel b got %v, want %v", got[b.Channel], w)
	}
	if overlap {
		t.Error("two notices of one channel were delivered at once")
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestThreadsCompareAndSet(t *testing.T) {
	ctx := context.Background()
	c := openConn(t, ctx)
	th, err := c.Threads(ctx)
	if err != nil {
		t.Fatal(err)
	}
	key := engine.ThreadKey(engine.Route{Channel: "C1"}, "demo", "1.2.3+build.1")
	if _, _, err := th.Get(ctx, key); engine.ErrorCode(err) != engine.NotFound {
		t.Fatalf("Get of a new thread: %v, want NotFound", err)
	}
	rev, err := th.Put(ctx, key, &engine.Thread{Pipeline: "demo", TS: "1.1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := th.Put(ctx, key, &engine.Thread{TS: "2.2"}, 0); engine.ErrorCode(err) != engine.Conflict {
		t.Errorf("second create: %v, want Conflict", err)
	}
	if _, err := th.Put(ctx, key, &engine.Thread{TS: "3.3"}, rev+7); engine.ErrorCode(err) != engine.Conflict {
		t.Errorf("stale update: %v, want Conflict", err)
	}
	if _, err := th.Put(ctx, key, &engine.Thread{Pipeline: "demo", TS: "1.1", Replied: "n1"}, rev); err != nil {
		t.Fatal(err)
	}
	got, _, err := th.Get(ctx, key)
	if err != nil || got.TS != "1.1" || got.Replied != "n1" {
		t.Errorf("Get = %+v, %v", got, err)
	}
}

// TestEventsFirstChange: the first change of an empty ledger is an event too
// (a start time, rather than a sequence, made the server skip it).
func TestEventsFirstChange(t *testing.T) {
	ctx := context.Background()
	c := openConn(t, ctx)
	ev, err := c.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.Store.events.Store(false) // only the source carries the change, as after a crash
	if _, err := c.Store.Commit(ctx, &engine.Change{Pipeline: "demo", Key: "k1", State: &engine.PipelineState{Name: "demo"},
		Events: []engine.Event{{ID: "demo/k1/0", Pipeline: "demo"}}}, 0); err != nil {
		t.Fatal(err)
	}
	var got recorder
	cctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = ev.Consume(cctx, "first", func(_ context.Context, e *engine.Event) error { got.add(e); return nil })
	}()
	defer func() { stop(); <-done }()
	// The consumer was made after the change: it starts from new events,
	// so look at the stream itself.
	st, err := c.js.Stream(ctx, EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the sourced change", func() bool {
		info, err := st.Info(ctx)
		return err == nil && info.State.Msgs == 1
	})
	m, err := st.GetMsg(ctx, 1)
	if err != nil || m.Subject != "chatops.releases.demo" {
		t.Fatalf("first event: %v %v", m, err)
	}
}
