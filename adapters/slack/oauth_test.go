package slack_test

import (
	"bytes"
	"context"
	"fmt"
	"github.com/chatops/chatops/engine"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chatops/chatops/adapters/slack"
)

func TestOAuthInstall(t *testing.T) {
	ctx := context.Background()
	e, conn := newEngine(t, testConfig)
	secrets, err := conn.Secrets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	states, err := conn.Interactions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var exchanged url.Values
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.URL.Path != "/oauth.v2.access" {
			t.Errorf("unexpected %s", r.URL.Path)
		}
		exchanged = r.PostForm
		if user, pass, ok := r.BasicAuth(); ok {
			exchanged.Set("client_id", user)
			exchanged.Set("client_secret", pass)
		}
		io.WriteString(w, `{"ok":true,"access_token":"xoxb-team2","bot_user_id":"UB2","team":{"id":"T2","name":"Second & Co"},"authed_user":{"id":"U9"}}`)
	}))
	defer api.Close()
	cipher, err := slack.NewCipher("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	if err != nil {
		t.Fatal(err)
	}
	oauth := &slack.OAuth{ClientID: "cid", ClientSecret: "csecret", RedirectURL: "https://chatops.example.com/slack/oauth/callback",
		Cipher: cipher, Secrets: secrets, States: states, APIURL: api.URL, HTTP: slack.NewHTTPClient(nil), Now: time.Now}
	srv := httptest.NewServer((&slack.Server{Engine: e, Verifier: slack.Verifier{Secret: secret}, Workspaces: slack.Workspaces{OAuth: oauth}}).Handler())
	defer srv.Close()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	resp, err := noRedirect.Get(srv.URL + "/slack/install")
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("install: %v %v", resp, err)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	state := loc.Query().Get("state")
	if loc.Host != "slack.com" || loc.Query().Get("client_id") != "cid" || state == "" || !strings.Contains(loc.Query().Get("scope"), "commands") {
		t.Fatalf("authorize URL %s", loc)
	}

	get := func(q string) (int, string) {
		resp, err := http.Get(srv.URL + "/slack/oauth/callback?" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("code=c1&state=forged"); code != 400 {
		t.Errorf("forged state: %d", code)
	}
	if code, body := get("code=c1&state=" + state); code != 200 || !strings.Contains(body, "installed in Second &amp; Co") {
		t.Fatalf("callback: %d %s", code, body)
	}
	if exchanged.Get("code") != "c1" || exchanged.Get("client_id") != "cid" {
		t.Errorf("code exchange sent %v", exchanged)
	}
	if code, _ := get("code=c1&state=" + state); code != 400 {
		t.Errorf("replayed state: %d", code)
	}
	if code, _ := get("error=access_denied&state=" + state); code != 400 {
		t.Errorf("denied install: %d", code)
	}

	sealed, err := secrets.Get(ctx, "slack.team.T2")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("xoxb-team2")) {
		t.Error("the token is stored in clear")
	}
	inst, err := oauth.Installation(ctx, "T2")
	if err != nil || inst.BotToken != "xoxb-team2" || inst.BotUserID != "UB2" || inst.InstalledBy != "U9" {
		t.Errorf("installation: %+v %v", inst, err)
	}
	other, _ := slack.NewCipher("ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=")
	if _, err := other.Open("slack.team.T2", sealed); err == nil {
		t.Error("another key opened the token")
	}
	if _, err := cipher.Open("slack.team.T3", sealed); err == nil {
		t.Error("the sealed token opened under another team's name")
	}
	if _, err := slack.NewCipher("short"); err == nil {
		t.Error("a short key was accepted")
	}

	// A workspace with no installation, and a token sealed with another
	// key, are logged with what to do, not passed over in silence.
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	ws := slack.Workspaces{OAuth: oauth}
	if c := ws.Client(ctx, "T404", log); c != nil || !strings.Contains(logged.String(), "install the app there again") {
		t.Errorf("unknown team: %v, logged %s", c, logged.String())
	}
	otherKey := &slack.OAuth{Cipher: other, Secrets: secrets, APIURL: api.URL, HTTP: slack.NewHTTPClient(nil)}
	logged.Reset()
	if c := (slack.Workspaces{OAuth: otherKey}).Client(ctx, "T2", log); c != nil || !strings.Contains(logged.String(), "was the token key changed?") {
		t.Errorf("another key: %v, logged %s", c, logged.String())
	}

	// The workspace removes the app: its token goes, and the audit says so.
	body := fmt.Sprintf(`{"type":"event_callback","team_id":"T2","event_id":"EvGone","event_time":%d,"event":{"type":"app_uninstalled"}}`, time.Now().Unix())
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/slack/events", strings.NewReader(body))
	req.Header = slack.Sign(secret, time.Now(), []byte(body))
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("app_uninstalled: %v %v", resp, err)
	}
	resp.Body.Close()
	if _, err := secrets.Get(ctx, "slack.team.T2"); engine.ErrorCode(err) != engine.NotFound {
		t.Errorf("the token of an uninstalled workspace: %v", err)
	}
	if _, err := oauth.Installation(ctx, "T2"); engine.ErrorCode(err) != engine.NotFound {
		t.Errorf("the installation of an uninstalled workspace: %v", err)
	}
	recs, err := e.Audit.Read(ctx, engine.AuditQuery{})
	if err != nil || len(recs) != 1 || recs[0].Command != "app_uninstalled T2" || !strings.Contains(recs[0].Message, "sealed token was deleted") {
		t.Errorf("audit: %+v %v", recs, err)
	}
}

// TestOAuthClientsFollowInstalls: a workspace installed again, or
// uninstalled, by one process is no longer reached with the old token by
// another (each has its own OAuth, on the same secrets), nor by a WithHTTP
// copy in the same process.
func TestOAuthClientsFollowInstalls(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, conn := newEngine(t, testConfig)
	secrets, err := conn.Secrets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tokens := make(chan string, 16)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if token == "" { // slack-go may send it in the form instead
			_ = r.ParseForm()
			token = r.PostForm.Get("token")
		}
		tokens <- token
		io.WriteString(w, `{"ok":true,"url":"https://x.slack.com/","team":"x","user":"bot","team_id":"T5","user_id":"UB5"}`)
	}))
	defer api.Close()
	cipher, err := slack.NewCipher("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	if err != nil {
		t.Fatal(err)
	}
	install := func(token string) {
		t.Helper()
		plain := fmt.Sprintf(`{"team":"T5","team_name":"Five","bot_user_id":"UB5","bot_token":%q}`, token)
		if err := secrets.Put(ctx, "slack.team.T5", cipher.Seal("slack.team.T5", []byte(plain))); err != nil {
			t.Fatal(err)
		}
	}
	install("xoxb-first")
	newOAuth := func() *slack.OAuth {
		return &slack.OAuth{Cipher: cipher, Secrets: secrets, APIURL: api.URL, HTTP: slack.NewHTTPClient(nil), Now: time.Now}
	}
	this, other := newOAuth(), newOAuth() // two processes
	copied := this.WithHTTP(slack.NewHTTPClient(nil))
	go func() { _ = other.Watch(ctx, slog.New(slog.DiscardHandler)) }()
	// The token a client of o reaches Slack with, once a change had time
	// to arrive.
	token := func(o *slack.OAuth, want string) string {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			c, err := o.Client(ctx, "T5")
			if err != nil {
				return "error: " + engine.ErrorMessage(err)
			}
			if _, err := c.AuthTestContext(ctx); err != nil {
				t.Fatal(err)
			}
			got := <-tokens
			if got == want || time.Now().After(deadline) {
				return got
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, o := range []*slack.OAuth{this, copied, other} {
		if got := token(o, "xoxb-first"); got != "xoxb-first" {
			t.Fatalf("before any change: %s", got)
		}
	}
	time.Sleep(100 * time.Millisecond) // the watch is up
	install("xoxb-second")             // by a third process
	if got := token(other, "xoxb-second"); got != "xoxb-second" {
		t.Errorf("another process's watching OAuth after a new install: %s, want xoxb-second", got)
	}
	if err := this.Uninstall(ctx, "T5"); err != nil {
		t.Fatal(err)
	}
	if _, err := copied.Client(ctx, "T5"); engine.ErrorCode(err) != engine.NotFound {
		t.Errorf("a WithHTTP copy after Uninstall: %v, want no installation", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := other.Client(ctx, "T5")
		if engine.ErrorCode(err) == engine.NotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("another process's watching OAuth after an uninstall: %v, want no installation", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
