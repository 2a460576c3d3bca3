package slack_test

import (
	"context"
	"testing"
	"time"

	"github.com/chatops/chatops/adapters/slack"
	"github.com/chatops/chatops/engine"
)

// TestChannelsLookup: a channel is found by name through every page of
// conversations.list; otherwise the error says what to fix.
func TestChannelsLookup(t *testing.T) {
	pages := [][]nfChannel{
		{{"C0GENERAL", "general"}, {"C0RANDOM", "random"}},
		{{"C0DEPLOYS", "Deploys"}, {"C0OPS", "ops"}},
	}
	tests := []struct {
		name      string
		lookup    string
		noToken   bool
		limited   bool
		want      string
		wantCode  engine.Code
		wantMsg   string
		wantCalls int
	}{
		{name: "second page", lookup: "#deploys", want: "C0DEPLOYS", wantCalls: 2},
		{name: "first page", lookup: "GENERAL", want: "C0GENERAL", wantCalls: 1},
		{name: "not found", lookup: "nosuch", wantCode: engine.NotFound, wantCalls: 2,
			wantMsg: "no channel #nosuch that the bot can see (among 4 channels): check the name; the bot needs the channels:read and groups:read scopes, and must be invited to a private channel (/invite @chatops); or give the channel's id (C…)"},
		{name: "no token", lookup: "deploys", noToken: true, wantCode: engine.Invalid,
			wantMsg: "cannot look up #deploys: no Slack bot token is set; set SLACK_BOT_TOKEN, or give the channel's id (C…) instead of its name"},
		{name: "rate limited", lookup: "deploys", limited: true, wantCode: engine.Unavailable, wantCalls: 0,
			wantMsg: "cannot look up #deploys now: Slack did not answer; try again in a minute, or give the channel's id (C…)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newNFSlack(t, time.Now)
			f.pages = pages
			if tc.limited {
				f.limited["conversations.list"] = 1
			}
			c := &slack.Channels{Token: f.token, APIURL: f.srv.URL + "/api/"}
			if tc.noToken {
				c.Token = func(context.Context, string) (string, error) { return "", nil }
			}
			id, err := c.Lookup(context.Background(), "", tc.lookup)
			if id != tc.want || engine.ErrorCode(err) != tc.wantCode {
				t.Fatalf("Lookup(%q) = %q, %v (code %q), want %q, code %q", tc.lookup, id, err, engine.ErrorCode(err), tc.want, tc.wantCode)
			}
			if err != nil && engine.ErrorMessage(err) != tc.wantMsg {
				t.Errorf("message:\n%s\nwant:\n%s", engine.ErrorMessage(err), tc.wantMsg)
			}
			f.mu.Lock()
			lists := f.lists
			f.mu.Unlock()
			if len(lists) != tc.wantCalls {
				t.Fatalf("%d conversations.list calls recorded, want %d: %v", len(lists), tc.wantCalls, lists)
			}
			for i, l := range lists {
				wantCursor := ""
				if i > 0 {
					wantCursor = "dGVhbTpD1"
				}
				if l["cursor"] != wantCursor || l["types"] != "public_channel,private_channel" || l["exclude_archived"] != "true" || l["limit"] != "200" {
					t.Errorf("call %d: %v, want cursor %q, both channel types, archived excluded, limit 200", i, l, wantCursor)
				}
			}
		})
	}
}

// TestChannelsCache: a channel found is remembered for the TTL, then looked
// up again.
func TestChannelsCache(t *testing.T) {
	clock := newFakeClock()
	f := newNFSlack(t, clock.Now)
	f.pages = [][]nfChannel{{{"C0DEPLOYS", "deploys"}}}
	c := &slack.Channels{Token: f.token, APIURL: f.srv.URL + "/api/", Now: clock.Now}
	calls := func() int {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.lists)
	}
	for i, step := range []struct {
		advance time.Duration
		calls   int
	}{{0, 1}, {time.Minute, 1}, {slack.DefaultChannelTTL, 2}} {
		clock.Advance(step.advance)
		if id, err := c.Lookup(context.Background(), "", "deploys"); id != "C0DEPLOYS" || err != nil {
			t.Fatalf("lookup %d = %q, %v", i, id, err)
		}
		if got := calls(); got != step.calls {
			t.Errorf("after lookup %d: %d calls, want %d", i, got, step.calls)
		}
	}
}
