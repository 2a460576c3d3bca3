package engine_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	natsadapter "github.com/chatops/chatops/adapters/nats"
	"github.com/chatops/chatops/engine"
)

// eventEngine is newEngine with its events stream followed: the returned
// func waits for n events and returns their descriptions.
func eventEngine(t *testing.T, cfg *engine.Config) (*engine.Engine, func(n int) []string) {
	t.Helper()
	ctx := context.Background()
	conn, err := natsadapter.Open(ctx, natsadapter.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	events, err := conn.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(cfg, conn.Store, conn.Audit, conn.Jobs)
	if err != nil {
		t.Fatal(err)
	}
	e.History, e.Events = conn.History, events
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	var clock sync.Mutex
	e.Now = func() time.Time {
		clock.Lock()
		defer clock.Unlock()
		now = now.Add(time.Second)
		return now
	}
	var mu sync.Mutex
	var got []engine.Event
	fctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = events.Follow(fctx, "", func(ev *engine.Event) {
			mu.Lock()
			got = append(got, *ev)
			mu.Unlock()
		})
	}()
	t.Cleanup(func() { stop(); <-done })
	// Following starts a moment after Follow is called: wait until an
	// event published now arrives.
	for i := 0; ; i++ {
		if err := events.Publish(ctx, &engine.Event{ID: fmt.Sprint("sentinel/", i), Pipeline: "sentinel"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		k := len(got)
		got = nil
		mu.Unlock()
		if k > 0 {
			break
		}
	}
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	got = nil
	mu.Unlock()
	return e, func(n int) []string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			k := len(got)
			mu.Unlock()
			if k >= n || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond) // and no more than n
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, ev := range got {
			out = append(out, ev.Pipeline+" "+ev.Stage+" "+ev.Version+" "+ev.State+" | "+ev.Describe())
		}
		got = nil
		return out
	}
}

type channels map[string]string

func (c channels) Lookup(_ context.Context, _, name string) (string, error) {
	if id, ok := c[name]; ok {
		return id, nil
	}
	return "", engine.Errorf(engine.NotFound, "no channel #%s", name)
}

// TestChangeEvents pins the events each kind of change makes, as watch and
// the threads describe them.
func TestChangeEvents(t *testing.T) {
	e, events := eventEngine(t, engine.DemoConfig())
	ctx := context.Background()
	alice := terminal(e, "alice")
	steps := []struct {
		line string
		want []string
	}{
		{"route demo to C0DEPLOY123", []string{"demo   routed | alice sent demo's notifications here (from a terminal): to C0DEPLOY123"}},
		{"release demo 1.4.0", []string{"demo development 1.4.0 success | alice released 1.4.0 to development (from a terminal)"}},
		{"promote demo", []string{"demo production 1.2.0 success | alice promoted 1.2.0 from staging to production (from a terminal)"}},
		{"lock demo production --reason freeze", []string{"demo production  locked | alice locked demo production (from a terminal)"}},
		{"unlock demo production", []string{"demo production  unlocked | alice unlocked demo production (from a terminal)"}},
		{"info demo", nil},
		{"unroute demo", nil},
	}
	for _, s := range steps {
		if _, err := e.ExecLine(ctx, alice, s.line); err != nil {
			t.Fatalf("%s: %v", s.line, err)
		}
		if got := events(len(s.want)); strings.Join(got, "\n") != strings.Join(s.want, "\n") {
			t.Errorf("%s: events\n%s\nwant\n%s", s.line, strings.Join(got, "\n"), strings.Join(s.want, "\n"))
		}
	}
}

func TestRouteByName(t *testing.T) {
	e := newEngine(t, engine.DemoConfig())
	ctx := context.Background()
	alice := terminal(e, "alice")
	_, err := e.ExecLine(ctx, alice, "route demo to '#deploys'")
	if want := "cannot look up #deploys here: there is no Slack token to ask Slack with. Give the channel's id instead (route demo to C0123ABCD; Slack shows it at the bottom of the channel's details), or set SLACK_BOT_TOKEN"; engine.ErrorMessage(err) != want {
		t.Errorf("without a token: %v\nwant %s", err, want)
	}
	e.Channels = channels{"deploys": "C0DEPLOY123"}
	if _, err := e.ExecLine(ctx, alice, "route demo to #nope"); engine.ErrorCode(err) != engine.NotFound {
		t.Errorf("unknown channel: %v", err)
	}
	res, err := e.ExecLine(ctx, alice, "route demo to #deploys")
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != "demo's notifications go to #deploys now." {
		t.Errorf("route said %q", res.Text)
	}
	res, err = e.ExecLine(ctx, alice, "route")
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Rows[0]; strings.Join(got, "|") != "demo|#deploys|alice|2026-11-24 12:00 UTC" {
		t.Errorf("route lists %q", got)
	}
	if n, err := e.NoticeOf(ctx, &engine.Event{ID: "old", Pipeline: "demo", At: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}); n != nil || err != nil {
		t.Errorf("NoticeOf an event older than the route = %+v, %v", n, err)
	}
	n, err := e.NoticeOf(ctx, &engine.Event{ID: "x", Pipeline: "demo", At: e.Now()})
	if err != nil || n == nil || n.Route.Channel != "C0DEPLOY123" || strings.Join(n.Stages, ",") != "development,staging,production" {
		t.Errorf("NoticeOf = %+v, %v", n, err)
	}
	if _, err := e.ExecLine(ctx, alice, "unroute demo"); err != nil {
		t.Fatal(err)
	}
	if n, err := e.NoticeOf(ctx, &engine.Event{ID: "x", Pipeline: "demo", At: e.Now()}); n != nil || err != nil {
		t.Errorf("NoticeOf an unrouted pipeline = %+v, %v", n, err)
	}
}

// TestDriverEvents: a deployment through a driver shows as in progress, its
// progress, then its outcome; a failed one as failed.
func TestDriverEvents(t *testing.T) {
	e, events := eventEngine(t, engine.DemoConfig())
	e.Drivers = map[engine.StageKey]engine.Driver{{Pipeline: "demo", Stage: "production"}: &fakeDriver{ref: "r1"}}
	ctx := context.Background()
	if _, err := e.ExecLine(ctx, terminal(e, "alice"), "promote demo"); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"demo production 1.2.0 in_progress | production: promote of 1.2.0 by alice in progress (from a terminal)",
		"demo production 1.2.0 in_progress | production: promote of 1.2.0 by alice in progress (from a terminal): started 1.2.0",
		"demo production 1.2.0 success | alice promoted 1.2.0 from staging to production (from a terminal)",
	}
	// The driver's first line is an event at once, "done" comes within
	// ProgressEvery of it and waits for the end of the driver.
	got := events(4)
	if len(got) != 4 || strings.Join(got[:2], "\n") != strings.Join(want[:2], "\n") || got[3] != want[2] ||
		!strings.HasSuffix(got[2], ": done") {
		t.Errorf("events\n%s\nwant\n%s\n(…done)\n%s", strings.Join(got, "\n"), strings.Join(want[:2], "\n"), want[2])
	}
	e.Drivers[engine.StageKey{Pipeline: "demo", Stage: "production"}] = &fakeDriver{err: &engine.DriverError{Driver: "fake", Msg: "build failed"}}
	if _, err := e.ExecLine(ctx, terminal(e, "alice"), "rollback demo"); engine.ErrorCode(err) != engine.Failed {
		t.Fatalf("rollback through a failing driver: %v", err)
	}
	got = events(3)
	if len(got) != 3 || got[2] != "demo production 1.1.0 failure | production: rollback of 1.1.0 by alice failed (from a terminal): rollback demo 1.1.0 to production failed: fake driver: build failed. The ledger is unchanged." {
		t.Errorf("failed deployment's events:\n%s", strings.Join(got, "\n"))
	}
}
