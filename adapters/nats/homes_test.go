package nats

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"
)

// TestHomes: an opened Home tab is listed once however often it is opened,
// by workspace and person; ids that are not plain are not kept.
func TestHomes(t *testing.T) {
	ctx := context.Background()
	h := openHomes(t)
	now := time.Now()
	for _, v := range [][2]string{{"T1", "U1"}, {"T1", "U1"}, {"T1", "U2"}, {"T2", "U1"}, {"", "U3"}, {"T1", "U.*"}, {"T>", "U4"}} {
		if err := h.Opened(ctx, v[0], v[1], now, "a"); err != nil {
			t.Fatal(err)
		}
	}
	// T1/U2's tab shows something new; T2/U1 opened it again before the
	// refresh of the older opening was recorded, which then forgets what
	// it shows: the refresh may have published over the newer view.
	if err := h.Shown(ctx, "T1", "U2", now, "b"); err != nil {
		t.Fatal(err)
	}
	if err := h.Opened(ctx, "T2", "U1", now.Add(time.Second), "c"); err != nil {
		t.Fatal(err)
	}
	if err := h.Shown(ctx, "T2", "U1", now, "stale"); err != nil {
		t.Fatal(err)
	}
	recent := func(at time.Time) []string {
		var got []string
		if _, err := h.Recent(ctx, at, func(team, user string, _ time.Time, shown string) { got = append(got, team+"/"+user+"="+shown) }); err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		return got
	}
	if got, want := recent(now), []string{"/U3=a", "T1/U1=a", "T1/U2=b", "T2/U1="}; !slices.Equal(got, want) {
		t.Errorf("recent Home tabs %q, want %q", got, want)
	}
	// An hour on, only the tab opened a second later is still watched.
	if got, want := recent(now.Add(HomeWatched+time.Millisecond)), []string{"T2/U1="}; !slices.Equal(got, want) {
		t.Errorf("Home tabs an hour on %q, want %q", got, want)
	}
}

// TestHomesPastTheCap: past maxHomes tabs, Recent counts the rest and reads
// every value to the end, so that no watcher is left waiting to hand one
// over.
func TestHomesPastTheCap(t *testing.T) {
	ctx := context.Background()
	h := openHomes(t)
	now := time.Now()
	for i := range maxHomes + 300 {
		if err := h.Opened(ctx, "T1", fmt.Sprintf("U%d", i), now, "a"); err != nil {
			t.Fatal(err)
		}
	}
	before := runtime.NumGoroutine()
	for range 5 {
		n := 0
		more, err := h.Recent(ctx, now, func(string, string, time.Time, string) { n++ })
		if err != nil || n != maxHomes || more != 300 {
			t.Fatalf("Recent: %d tabs and %d more, %v; want %d and 300", n, more, err, maxHomes)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if after := runtime.NumGoroutine(); after > before+2 {
		t.Errorf("%d goroutines after 5 reads, %d before: watchers left waiting", after, before)
	}
}

// openHomes opens the Home tabs of a fresh data dir's store.
func openHomes(t *testing.T) *Homes {
	t.Helper()
	c, err := Open(context.Background(), Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	h, err := c.Homes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h
}
