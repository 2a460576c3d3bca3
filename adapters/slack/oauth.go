package slack

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/chatops/chatops/engine"
	"github.com/hashicorp/go-retryablehttp"
	"github.com/slack-go/slack"
)

// Cipher seals tokens at rest with AES-256-GCM.
type Cipher struct{ aead cipher.AEAD }

// NewCipher takes a base64 key of 32 bytes (openssl rand -base64 32).
func NewCipher(key64 string) (*Cipher, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(key64))
	if err != nil || len(key) != 32 {
		return nil, errors.New("the token key must be 32 bytes in base64: make one with openssl rand -base64 32")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Cipher{aead: aead}, nil
}

// Seal encrypts plain, bound to name so a sealed value cannot be moved to
// another name.
func (c *Cipher) Seal(name string, plain []byte) []byte {
	nonce := make([]byte, c.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return c.aead.Seal(nonce, nonce, plain, []byte(name))
}

// Open decrypts what Seal made for name.
func (c *Cipher) Open(name string, sealed []byte) ([]byte, error) {
	n := c.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed value too short")
	}
	return c.aead.Open(nil, sealed[:n], sealed[n:], []byte(name))
}

// Installation is chatops installed in one workspace.
type Installation struct {
	Team        string    `json:"team"`
	TeamName    string    `json:"team_name"`
	BotUserID   string    `json:"bot_user_id"`
	BotToken    string    `json:"bot_token"`
	InstalledBy string    `json:"installed_by"`
	At          time.Time `json:"at"`
}

// DefaultScopes are the bot scopes the app asks for.
var DefaultScopes = []string{"commands", "chat:write", "app_mentions:read", "im:history"}

// OAuth installs chatops into workspaces ("Add to Slack") and keeps each
// workspace's bot token sealed in Secrets.
type OAuth struct {
	ClientID, ClientSecret string
	// RedirectURL is this server's /slack/oauth/callback as Slack reaches it.
	RedirectURL string
	Scopes      []string
	Cipher      *Cipher
	Secrets     engine.Secrets
	// States keeps the state of each install in flight, for ten minutes.
	States engine.Interactions
	// APIURL is Slack's Web API, AuthorizeURL its authorize page.
	APIURL, AuthorizeURL string
	HTTP                 *retryablehttp.Client
	Now                  func() time.Time

	// shared are the clients of this OAuth and of its WithHTTP copies, so
	// that forgetting a workspace forgets it in all of them.
	shared     *oauthClients
	sharedOnce sync.Once
}

// oauthClients caches each workspace's Web API client, per HTTP client.
type oauthClients struct {
	mu     sync.Mutex
	byHTTP map[*retryablehttp.Client]map[string]*slack.Client
	// forgotten counts the forgets, so that a client made from an
	// installation read before one is not cached after it.
	forgotten uint64
}

func (o *OAuth) clients() *oauthClients {
	o.sharedOnce.Do(func() {
		if o.shared == nil {
			o.shared = &oauthClients{byHTTP: map[*retryablehttp.Client]map[string]*slack.Client{}}
		}
	})
	return o.shared
}

// forget drops the cached clients of team in this OAuth and its copies;
// every workspace's when team is empty.
func (o *OAuth) forget(team string) {
	c := o.clients()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgotten++
	for _, teams := range c.byHTTP {
		if team == "" {
			clear(teams)
		} else {
			delete(teams, team)
		}
	}
}

// Watch forgets a workspace's clients as soon as any process installs chatops
// there again or uninstalls it, until ctx ends. Without it, another gateway
// or worker would go on using the token it read first: revoked, or replaced
// by the new installation's. While the watch cannot be kept up, it says so
// in log, once. Watch returns nil at once when Secrets cannot tell of
// changes.
func (o *OAuth) Watch(ctx context.Context, log *slog.Logger) error {
	w, ok := o.Secrets.(interface {
		Watch(ctx context.Context, prefix string, changed func(name string), failed func(error)) error
	})
	if !ok {
		return nil
	}
	var down bool
	return w.Watch(ctx, secretName(""), func(name string) {
		if down {
			down = false
			log.Info("watching the Slack installations again")
		}
		if name == "" {
			o.forget("")
			return
		}
		if team, ok := strings.CutPrefix(name, secretName("")); ok && team != "" {
			o.forget(team)
		}
	}, func(err error) {
		if !down {
			down = true
			log.Warn("cannot watch the Slack installations: a workspace installed again or uninstalled by another process keeps its old token here until the watch is back", "err", err)
		}
	})
}

func secretName(team string) string { return "slack.team." + team }

// WithHTTP returns the same installations reached through another HTTP
// client, with clients of their own.
func (o *OAuth) WithHTTP(c *retryablehttp.Client) *OAuth {
	return &OAuth{ClientID: o.ClientID, ClientSecret: o.ClientSecret, RedirectURL: o.RedirectURL, Scopes: o.Scopes,
		Cipher: o.Cipher, Secrets: o.Secrets, States: o.States, APIURL: o.APIURL, AuthorizeURL: o.AuthorizeURL, HTTP: c, Now: o.Now,
		shared: o.clients()}
}

// install redirects to Slack's authorize page with a fresh state.
func (o *OAuth) install(w http.ResponseWriter, r *http.Request) {
	state := engine.NewID() + engine.NewID()
	if err := o.States.Put(r.Context(), &engine.Interaction{ID: "o" + state, Question: "oauth", Expires: o.Now().Add(10 * time.Minute)}); err != nil {
		http.Error(w, "cannot start the installation right now", http.StatusServiceUnavailable)
		return
	}
	authorize := o.AuthorizeURL
	if authorize == "" {
		authorize = "https://slack.com/oauth/v2/authorize"
	}
	scopes := o.Scopes
	if scopes == nil {
		scopes = DefaultScopes
	}
	q := url.Values{"client_id": {o.ClientID}, "scope": {strings.Join(scopes, ",")}, "state": {state}, "redirect_uri": {o.RedirectURL}}
	http.Redirect(w, r, authorize+"?"+q.Encode(), http.StatusFound)
}

// callback checks the state, exchanges the code and stores the sealed token.
func (o *OAuth) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		http.Error(w, "Slack did not install chatops: "+e, http.StatusBadRequest)
		return
	}
	state, code := q.Get("state"), q.Get("code")
	if state == "" || code == "" {
		http.Error(w, "missing state or code", http.StatusBadRequest)
		return
	}
	i, err := o.States.Take(r.Context(), "o"+state)
	if err != nil || o.Now().After(i.Expires) {
		http.Error(w, "unknown or expired installation state: start again from /slack/install", http.StatusBadRequest)
		return
	}
	opts := []slack.OAuthOption{}
	if o.APIURL != "" {
		opts = append(opts, slack.OAuthOptionAPIURL(strings.TrimRight(o.APIURL, "/")+"/"))
	}
	resp, err := slack.GetOAuthV2ResponseContext(r.Context(), o.HTTP.StandardClient(), o.ClientID, o.ClientSecret, code, o.RedirectURL, opts...)
	if err != nil {
		http.Error(w, "Slack refused the installation: "+err.Error(), http.StatusBadGateway)
		return
	}
	inst := Installation{Team: resp.Team.ID, TeamName: resp.Team.Name, BotUserID: resp.BotUserID, BotToken: resp.AccessToken,
		InstalledBy: resp.AuthedUser.ID, At: o.Now()}
	plain, _ := json.Marshal(inst)
	if err := o.Secrets.Put(r.Context(), secretName(inst.Team), o.Cipher.Seal(secretName(inst.Team), plain)); err != nil {
		http.Error(w, "cannot store the installation right now; try again", http.StatusServiceUnavailable)
		return
	}
	o.forget(inst.Team)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<!doctype html><title>chatops installed</title><p>chatops is installed in %s. Try <code>/h help</code>.</p>", html.EscapeString(inst.TeamName))
}

// Installation returns a workspace's installation, its token unsealed.
func (o *OAuth) Installation(ctx context.Context, team string) (*Installation, error) {
	sealed, err := o.Secrets.Get(ctx, secretName(team))
	if err != nil {
		return nil, err
	}
	plain, err := o.Cipher.Open(secretName(team), sealed)
	if err != nil {
		return nil, &engine.Error{Code: engine.Internal, Msg: "the token of " + team + " cannot be unsealed: was the token key changed?", Err: err}
	}
	var inst Installation
	if err := json.Unmarshal(plain, &inst); err != nil {
		return nil, &engine.Error{Code: engine.Internal, Msg: "installation " + team + " is unreadable", Err: err}
	}
	return &inst, nil
}

// Uninstall forgets a workspace that removed the app, or whose bot token
// Slack revoked: its sealed token is deleted, with no earlier copy kept.
func (o *OAuth) Uninstall(ctx context.Context, team string) error {
	if err := o.Secrets.Delete(ctx, secretName(team)); err != nil {
		return err
	}
	o.forget(team)
	return nil
}

// Client returns a Web API client with the workspace's bot token.
func (o *OAuth) Client(ctx context.Context, team string) (*slack.Client, error) {
	cache := o.clients()
	cache.mu.Lock()
	c, ok := cache.byHTTP[o.HTTP][team]
	forgotten := cache.forgotten
	cache.mu.Unlock()
	if ok {
		return c, nil
	}
	inst, err := o.Installation(ctx, team)
	if err != nil {
		return nil, err
	}
	c = NewAPI(inst.BotToken, o.APIURL, o.HTTP)
	cache.mu.Lock()
	defer cache.mu.Unlock()
	if cache.forgotten != forgotten {
		return c, nil // read before a forget: used once, not kept
	}
	if cache.byHTTP[o.HTTP] == nil {
		cache.byHTTP[o.HTTP] = map[string]*slack.Client{}
	}
	cache.byHTTP[o.HTTP][team] = c
	return c, nil
}
