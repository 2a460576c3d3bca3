package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Homes settings.
const (
	// HomesBucket remembers who opened their App Home tab lately.
	HomesBucket = "chatops_homes"
	// HomeWatched is how long an opened Home tab is kept up to date: a
	// person who has not opened it for that long sees it refreshed when
	// they next do.
	HomeWatched = time.Hour
	// maxHomes bounds how many Home tabs one refresh reads.
	maxHomes = 500
)

// Homes are the App Home tabs opened lately, by workspace and person, so
// that the one process doing periodic work can refresh them when what they
// show changes.
type Homes struct{ kv jetstream.KeyValue }

// Homes returns the Home tabs opened lately, creating their bucket.
func (c *Conn) Homes(ctx context.Context) (*Homes, error) {
	kv, err := c.ensureBucket(ctx, HomesBucket)
	if err != nil {
		return nil, err
	}
	return &Homes{kv: kv}, nil
}

type homeViewer struct {
	Team   string    `json:"team"`
	User   string    `json:"user"`
	Opened time.Time `json:"opened"`
	// Shown is what the tab shows, as the adapter sums it.
	Shown string `json:"shown,omitempty"`
}

func homeKey(team, user string) (string, bool) {
	if !plainToken(user) || (team != "" && !plainToken(team)) {
		return "", false
	}
	return channelToken(team) + "." + user, true
}

// Opened records that user of team opened their Home tab at at, and was
// shown shown. A team or user id that is not plain (Slack's are) is not
// kept.
func (h *Homes) Opened(ctx context.Context, team, user string, at time.Time, shown string) error {
	key, ok := homeKey(team, user)
	if !ok {
		return nil
	}
	data, _ := json.Marshal(homeViewer{Team: team, User: user, Opened: at, Shown: shown})
	if _, err := h.kv.Put(ctx, key, data); err != nil {
		return unavailable(fmt.Errorf("recording an opened Home tab: %w", err))
	}
	return nil
}

// Shown records that the Home tab of user of team, opened at opened, now
// shows shown. If the tab was opened again meanwhile, what it shows is
// forgotten instead: this refresh may have published over the newer view,
// and the next one publishes again.
func (h *Homes) Shown(ctx context.Context, team, user string, opened time.Time, shown string) error {
	key, ok := homeKey(team, user)
	if !ok {
		return nil
	}
	e, err := h.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return unavailable(fmt.Errorf("reading an opened Home tab: %w", err))
	}
	var v homeViewer
	if json.Unmarshal(e.Value(), &v) != nil {
		return nil
	}
	if v.Shown = shown; !v.Opened.Equal(opened) {
		v.Shown = ""
	}
	data, _ := json.Marshal(v)
	_, err = h.kv.Update(ctx, key, data, e.Revision())
	if err != nil && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) && !errors.Is(err, jetstream.ErrKeyExists) {
		return unavailable(fmt.Errorf("recording a refreshed Home tab: %w", err))
	}
	return nil // written, or opened again just now: the next refresh sees it
}

// Recent calls f with each Home tab opened in the last HomeWatched, at most
// maxHomes of them: its workspace, person, when it was opened and what it
// shows. It returns how many more there were.
func (h *Homes) Recent(ctx context.Context, now time.Time, f func(team, user string, opened time.Time, shown string)) (int, error) {
	st, err := h.kv.Status(ctx)
	if err != nil {
		return 0, unavailable(fmt.Errorf("opened Home tabs: %w", err))
	}
	if st.Values() == 0 {
		return 0, nil
	}
	w, err := h.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return 0, unavailable(fmt.Errorf("listing opened Home tabs: %w", err))
	}
	defer func() { _ = w.Stop() }()
	// Read to the end of the current values (nil), even past maxHomes:
	// the watcher hands them over one by one and waits for each.
	n, more := 0, 0
	for {
		var e jetstream.KeyValueEntry
		select {
		case <-ctx.Done():
			return more, ctx.Err()
		case e = <-w.Updates():
		}
		if e == nil {
			return more, nil
		}
		var v homeViewer
		// Refreshes rewrite the entry, so its age in the bucket is not
		// the tab's.
		if json.Unmarshal(e.Value(), &v) != nil || v.User == "" || now.Sub(v.Opened) > HomeWatched {
			continue
		}
		if n == maxHomes {
			more++
			continue
		}
		n++
		f(v.Team, v.User, v.Opened, v.Shown)
	}
}
