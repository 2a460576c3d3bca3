package slack

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/chatops/chatops/engine"
	"github.com/hashicorp/go-retryablehttp"
	"github.com/slack-go/slack"
)

// Defaults of Channels.
const (
	// DefaultChannelTTL is how long a channel found by name is remembered:
	// renaming a channel is rare, and conversations.list is slow and
	// tightly rate-limited.
	DefaultChannelTTL = 5 * time.Minute
	// channelPageSize is conversations.list's limit per page; Slack
	// recommends no more than 200.
	channelPageSize = 200
	// maxChannelPages bounds one lookup: 20 000 channels.
	maxChannelPages = 100
)

var _ engine.Channels = (*Channels)(nil)

// Channels finds Slack channels by name through conversations.list: the
// public and private channels the bot can see, archived ones left out.
type Channels struct {
	// Token returns a workspace's bot token: "" (or a NotFound error)
	// when there is none.
	Token func(ctx context.Context, team string) (string, error)
	// APIURL is Slack's Web API unless a test gives its own.
	APIURL string
	// HTTP makes every call: NewDeliveryHTTPClient when nil.
	HTTP *retryablehttp.Client
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// TTL is how long a channel found is remembered; DefaultChannelTTL
	// when zero.
	TTL time.Duration
	// CheckRetry says which failures may pass by themselves (Unavailable)
	// rather than need a fix; DefaultCheckRetry when nil.
	CheckRetry CheckRetry

	once  sync.Once
	apis  *webAPIs
	mu    sync.Mutex
	found map[string]foundChannel // by workspace and lower-case name
}

type foundChannel struct {
	id      string
	expires time.Time
}

func (c *Channels) init() {
	c.once.Do(func() {
		if c.HTTP == nil {
			c.HTTP = NewDeliveryHTTPClient()
		}
		if c.Now == nil {
			c.Now = time.Now
		}
		if c.TTL == 0 {
			c.TTL = DefaultChannelTTL
		}
		if c.CheckRetry == nil {
			c.CheckRetry = DefaultCheckRetry
		}
		c.apis = newWebAPIs(c.HTTP)
	})
}

// Lookup returns the id of the channel called name (with or without '#',
// compared without regard to case) in workspace ("" for the single bot
// token's). It returns NotFound when the bot can see no such channel, Invalid
// when there is no bot token or Slack refuses to list channels, Unavailable
// when Slack cannot answer now.
func (c *Channels) Lookup(ctx context.Context, workspace, name string) (string, error) {
	c.init()
	name = strings.TrimPrefix(name, "#")
	key := workspace + "\x00" + strings.ToLower(name)
	if id, ok := c.cached(key); ok {
		return id, nil
	}
	api, err := c.apis.client(ctx, c.Token, c.APIURL, workspace)
	if err != nil {
		return "", &engine.Error{Code: engine.Unavailable, Err: RedactError(err),
			Msg: fmt.Sprintf("cannot look up #%s now: the Slack bot token cannot be read; try again, or give the channel's id (C…)", name)}
	}
	if api == nil {
		where := "is set"
		if workspace != "" {
			where = "for workspace " + workspace
		}
		return "", engine.Errorf(engine.Invalid, "cannot look up #%s: no Slack bot token %s; set SLACK_BOT_TOKEN, or give the channel's id (C…) instead of its name", name, where)
	}
	params := &slack.GetConversationsParameters{
		Types: []string{"public_channel", "private_channel"}, ExcludeArchived: true, Limit: channelPageSize,
	}
	seen := 0
	for range maxChannelPages {
		chans, next, err := api.GetConversationsContext(ctx, params)
		if err != nil {
			return "", c.listError(name, err)
		}
		for _, ch := range chans {
			if strings.EqualFold(ch.Name, name) || strings.EqualFold(ch.NameNormalized, name) {
				c.remember(key, ch.ID)
				return ch.ID, nil
			}
		}
		seen += len(chans)
		if next == "" {
			break
		}
		params.Cursor = next
	}
	return "", engine.Errorf(engine.NotFound, "no channel #%s that the bot can see (among %d channels): check the name; "+
		"the bot needs the channels:read and groups:read scopes, and must be invited to a private channel (/invite @chatops); "+
		"or give the channel's id (C…)", name, seen)
}

// listError says why conversations.list failed: for now (a rate limit,
// Slack or the network down), or until someone fixes the token or scopes.
func (c *Channels) listError(name string, err error) error {
	err = RedactError(err)
	if retry, _ := c.CheckRetry(err); retry {
		return &engine.Error{Code: engine.Unavailable, Err: err,
			Msg: fmt.Sprintf("cannot look up #%s now: Slack did not answer; try again in a minute, or give the channel's id (C…)", name)}
	}
	var se slack.SlackErrorResponse
	code := "an error"
	if errAs(err, &se) {
		code = se.Err
	}
	return &engine.Error{Code: engine.Invalid, Err: err,
		Msg: fmt.Sprintf("cannot look up #%s: Slack refused to list channels (%s); the bot needs the channels:read and groups:read scopes, or give the channel's id (C…)", name, code)}
}

func (c *Channels) cached(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.found[key]
	if !ok || !c.Now().Before(f.expires) {
		delete(c.found, key)
		return "", false
	}
	return f.id, true
}

func (c *Channels) remember(key, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.found == nil {
		c.found = map[string]foundChannel{}
	}
	c.found[key] = foundChannel{id: id, expires: c.Now().Add(c.TTL)}
}
