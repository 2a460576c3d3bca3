// Package slacktest fakes Slack's side of Socket Mode on 127.0.0.1, for
// tests of chatops's Slack adapter and of chatops serve: apps.connections.open
// at a Web API base URL, which hands out the URL of a WebSocket endpoint,
// and that endpoint, which says hello, pings, sends envelopes and keeps the
// acks, in the shapes of Slack's documentation (docs.slack.dev, "Using
// Socket Mode") and slack-go's socketmode package.
package slacktest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Socket is Slack's Socket Mode side. Its Web API accepts only the app
// token it was made with, answering invalid_auth to any other.
type Socket struct {
	// URL is the Web API's base URL, ending in a slash.
	URL string
	// Acks gets every ack the app sends, in order.
	Acks chan Ack

	srv     *httptest.Server
	opened  atomic.Int32
	closing atomic.Bool

	mu    sync.Mutex
	conns []*Conn // open now, oldest first
}

// Conn is one open Socket Mode connection.
type Conn struct {
	// N numbers the connections from 1, in the order they were opened.
	N  int
	ws *websocket.Conn
	mu sync.Mutex // one writer at a time
}

// Ack is an ack as the app sends it, with when it arrived.
type Ack struct {
	EnvelopeID string          `json:"envelope_id"`
	Payload    json.RawMessage `json:"payload"`
	At         time.Time       `json:"-"`
}

// NewSocket starts the fake, closed when the test ends.
func NewSocket(tb testing.TB, appToken string) *Socket {
	f := &Socket{Acks: make(chan Ack, 10000)}
	// Slack's client sends Origin: https://api.slack.com.
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /apps.connections.open", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer "+appToken {
			io.WriteString(w, `{"ok":false,"error":"invalid_auth"}`)
			return
		}
		fmt.Fprintf(w, `{"ok":true,"url":"ws://%s/link/?ticket=%d"}`, r.Host, f.opened.Load()+1)
	})
	mux.HandleFunc("GET /link/", func(w http.ResponseWriter, r *http.Request) {
		if f.closing.Load() {
			http.Error(w, "closing", http.StatusServiceUnavailable)
			return
		}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c := &Conn{N: int(f.opened.Add(1)), ws: ws}
		f.mu.Lock()
		f.conns = append(f.conns, c)
		open := len(f.conns)
		f.mu.Unlock()
		defer f.drop(c)
		c.Send(map[string]any{"type": "hello", "num_connections": open,
			"debug_info":      map[string]any{"host": "applink-test", "build_number": 1, "approximate_connection_time": 18060},
			"connection_info": map[string]any{"app_id": "A1"}})
		stop := make(chan struct{})
		defer close(stop)
		go func() { // Slack pings; a client that hears none reconnects
			for {
				select {
				case <-stop:
					return
				case <-time.After(200 * time.Millisecond):
				}
				c.mu.Lock()
				_ = ws.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(time.Second))
				c.mu.Unlock()
			}
		}()
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			var a Ack
			if err := json.Unmarshal(data, &a); err != nil || a.EnvelopeID == "" {
				tb.Errorf("fake Socket Mode: not an ack: %s", data)
				continue
			}
			a.At = time.Now()
			f.Acks <- a
		}
	})
	f.srv = httptest.NewServer(mux)
	f.URL = f.srv.URL + "/"
	tb.Cleanup(func() {
		f.closing.Store(true)
		f.mu.Lock()
		for _, c := range f.conns {
			c.ws.Close()
		}
		f.mu.Unlock()
		f.srv.Close()
	})
	return f
}

// Opened is how many connections were opened, ever.
func (f *Socket) Opened() int { return int(f.opened.Load()) }

func (f *Socket) drop(c *Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.conns = slices.DeleteFunc(f.conns, func(o *Conn) bool { return o == c })
	c.ws.Close()
}

// Send writes one message (an envelope) to the connection as JSON.
func (c *Conn) Send(v any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.ws.WriteJSON(v)
}

// WaitConns waits until n connections are open and returns them, oldest
// first.
func (f *Socket) WaitConns(tb testing.TB, n int) []*Conn {
	tb.Helper()
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		f.mu.Lock()
		conns := slices.Clone(f.conns)
		f.mu.Unlock()
		if len(conns) >= n {
			return conns
		}
		if time.Now().After(end) {
			tb.Fatalf("%d Socket Mode connections open, want %d", len(conns), n)
		}
	}
}

// Ack waits for the ack of envelope id, dropping others, for up to 10 s.
func (f *Socket) Ack(tb testing.TB, id string) Ack {
	tb.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case a := <-f.Acks:
			if a.EnvelopeID == id {
				return a
			}
		case <-timeout:
			tb.Fatalf("no ack of envelope %s", id)
		}
	}
}

// SlashEnvelope is a slash_commands envelope, the form's fields as JSON, as
// Slack sends /h text typed by user in channel C1 of team T1.
func SlashEnvelope(id, user, text, responseURL string) map[string]any {
	return map[string]any{
		"envelope_id": id, "type": "slash_commands", "accepts_response_payload": true,
		"payload": map[string]any{
			"token": "ignored", "team_id": "T1", "team_domain": "acme", "channel_id": "C1", "channel_name": "ops",
			"user_id": user, "user_name": "someone", "command": "/h", "text": text, "api_app_id": "A1",
			"is_enterprise_install": "false", "response_url": responseURL, "trigger_id": "1.2." + id,
		},
	}
}
