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
}

// Opened records that user of team opened their Home tab at at. A team or
// user id that is not plain (Slack's are) is not kept.
func (h *Homes) Opened(ctx context.Context, team, user string, at time.Time) error {
	if !plainToken(user) || (team != "" && !plainToken(team)) {
		return nil
	}
	data, _ := json.Marshal(homeViewer{Team: team, User: user, Opened: at})
	if _, err := h.kv.Put(ctx, channelToken(team)+"."+user, data); err != nil {
		return unavailable(fmt.Errorf("recording an opened Home tab: %w", err))
	}
	return nil
}

// Recent calls f with the workspace and person of each Home tab opened in
// the last HomeWatched (the bucket ages the others out), at most maxHomes.
func (h *Homes) Recent(ctx context.Context, f func(team, user string)) error {
	keys, err := h.kv.ListKeys(ctx)
	if err != nil {
		return unavailable(fmt.Errorf("listing opened Home tabs: %w", err))
	}
	n := 0
	for key := range keys.Keys() {
		if n == maxHomes {
			_ = keys.Stop()
			break
		}
		e, err := h.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // aged out meanwhile
		}
		if err != nil {
			_ = keys.Stop()
			return unavailable(fmt.Errorf("reading an opened Home tab: %w", err))
		}
		var v homeViewer
		if json.Unmarshal(e.Value(), &v) != nil || v.User == "" {
			continue
		}
		n++
		f(v.Team, v.User)
	}
	return nil
}
