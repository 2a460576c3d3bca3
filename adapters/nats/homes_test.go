package nats

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestHomes: an opened Home tab is listed once however often it is opened,
// by workspace and person; ids that are not plain are not kept.
func TestHomes(t *testing.T) {
	ctx := context.Background()
	c, err := Open(ctx, Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h, err := c.Homes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, v := range [][2]string{{"T1", "U1"}, {"T1", "U1"}, {"T1", "U2"}, {"T2", "U1"}, {"", "U3"}, {"T1", "U.*"}, {"T>", "U4"}} {
		if err := h.Opened(ctx, v[0], v[1], now); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	if err := h.Recent(ctx, func(team, user string) { got = append(got, team+"/"+user) }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if want := []string{"/U3", "T1/U1", "T1/U2", "T2/U1"}; !slices.Equal(got, want) {
		t.Errorf("recent Home tabs %q, want %q", got, want)
	}
}
