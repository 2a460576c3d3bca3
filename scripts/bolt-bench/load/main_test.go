package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestSignSlackVector signs Slack's published example
// (https://api.slack.com/authentication/verifying-requests-from-slack).
func TestSignSlackVector(t *testing.T) {
	const body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	h := http.Header{}
	sign(h, "8f742231b10e8888abcd99yyyzzz85a5", time.Unix(1531420618, 0), body)
	if got, want := h.Get("X-Slack-Request-Timestamp"), "1531420618"; got != want {
		t.Errorf("timestamp %q, want %q", got, want)
	}
	if got, want := h.Get("X-Slack-Signature"), "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"; got != want {
		t.Errorf("signature %q, want %q", got, want)
	}
}

func TestSlashBody(t *testing.T) {
	a, err := url.ParseQuery(slashBody(42, 7, "U1"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := url.ParseQuery(slashBody(42, 8, "U1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ field, want string }{
		{"team_id", "T0BENCH01"},
		{"channel_id", "C0BENCH01"},
		{"user_id", "U1"},
		{"command", "/h"},
		{"text", "promote demo to staging"},
		{"response_url", "https://hooks.slack.com/commands/T0BENCH01/7.42/bench7.42"},
		{"trigger_id", "7.42.bench7.42"},
	} {
		t.Run(tt.field, func(t *testing.T) {
			if got := a.Get(tt.field); got != tt.want {
				t.Errorf("%s = %q, want %q", tt.field, got, tt.want)
			}
		})
	}
	// Command 7 of another run is another command.
	c, err := url.ParseQuery(slashBody(43, 7, "U1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"response_url", "trigger_id"} {
		if a.Get(f) == b.Get(f) {
			t.Errorf("commands 7 and 8 share %s %q", f, a.Get(f))
		}
		if a.Get(f) == c.Get(f) {
			t.Errorf("command 7 of two runs shares %s %q", f, a.Get(f))
		}
	}
}

// TestClientKeepsAliveAndRedials: the client sends every request whole over
// one connection, reads fixed-length and chunked answers alike, and dials
// again when the server closes the connection.
func TestClientKeepsAliveAndRedials(t *testing.T) {
	var mu sync.Mutex
	conns := map[string]bool{}
	var n int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conns[r.RemoteAddr] = true
		n++
		k := n
		mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("X-Slack-Signature") == "" || string(body) != "a=b" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if k == 3 {
			w.Header().Set("Connection", "close") // the next request needs a new connection
		}
		if k%2 == 0 {
			w.(http.Flusher).Flush() // chunked
		}
		io.WriteString(w, "Running "+strconv.Itoa(k))
	}))
	defer srv.Close()
	u, err := url.Parse(srv.URL + "/slack/commands")
	if err != nil {
		t.Fatal(err)
	}
	c := &client{target: u}
	defer c.close()
	for k := 1; k <= 5; k++ {
		status, ack, err := c.post(context.Background(), []string{"X-Slack-Signature: v0=x"}, "a=b")
		if err != nil {
			t.Fatalf("request %d: %v", k, err)
		}
		if want := "Running " + strconv.Itoa(k); status != http.StatusOK || string(ack) != want {
			t.Fatalf("request %d: %d %q, want 200 %q", k, status, ack, want)
		}
	}
	if len(conns) != 2 {
		t.Errorf("%d connections for 5 requests with one close, want 2", len(conns))
	}
}
