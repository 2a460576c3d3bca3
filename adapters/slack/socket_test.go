package slack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chatops/chatops/adapters/slack"
	"github.com/chatops/chatops/adapters/slack/slacktest"
	"github.com/chatops/chatops/engine"
)

// runSocket runs Socket Mode for the fixture's server against a fake Slack.
// Run's error is sent on the channel it returns.
func runSocket(t *testing.T, f *fixture, token string) (*slacktest.Socket, *slack.Socket, <-chan error) {
	fs := slacktest.NewSocket(t, "xapp-test")
	sock := &slack.Socket{Server: f.server, AppToken: token, APIURL: fs.URL, HTTP: slack.NewHTTPClient(nil)}
	ctx, cancel := context.WithCancel(context.Background())
	done, stopped := make(chan error, 1), make(chan struct{})
	go func() {
		done <- sock.Run(ctx)
		close(stopped)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-stopped:
		case <-time.After(10 * time.Second):
			t.Error("Socket Mode did not stop")
		}
	})
	return fs, sock, done
}

// slashEnvelope is a slash_commands envelope answered at the fixture's
// response_url receiver.
func (f *fixture) slashEnvelope(id, user, text string) map[string]any {
	return slacktest.SlashEnvelope(id, user, text, f.rc.srv.URL+"/commands/T1/1/"+id)
}

// TestSocketSlashCommand: a slash command over Socket Mode is acked with its
// envelope id and the same ack as over HTTP, and answered once at its
// response_url; the same envelope sent again (Slack's retry) runs nothing
// more. A disconnect envelope makes the client connect again, and nothing is
// lost: a command sent on the new connection runs too.
func TestSocketSlashCommand(t *testing.T) {
	f := newFixture(t)
	fs, sock, _ := runSocket(t, f, "xapp-test")
	conns := fs.WaitConns(t, slack.DefaultSocketConnections)
	for end := time.Now().Add(5 * time.Second); sock.Connected() != nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal(sock.Connected())
		}
	}

	env := f.slashEnvelope("E1", "U1", "promote demo")
	sent := time.Now()
	conns[0].Send(env)
	a := fs.Ack(t, "E1")
	if d := a.At.Sub(sent); d > 3*time.Second {
		t.Errorf("ack after %v", d)
	}
	var ack answer
	if err := json.Unmarshal(a.Payload, &ack); err != nil || ack.ResponseType != "in_channel" || !strings.HasPrefix(ack.Text, "Running promote demo") {
		t.Fatalf("ack payload %s (%v)", a.Payload, err)
	}
	// Slack's retry of an envelope it did not see acked.
	env["retry_attempt"], env["retry_reason"] = 1, "timeout"
	conns[1].Send(env)
	fs.Ack(t, "E1")
	if m := f.next(t); m.Text != "Promoted demo 1.2.0 from staging to production." {
		t.Fatalf("answer %+v", m)
	}

	// Slack asks the first connection to go; the client opens another.
	before := fs.Opened()
	conns[0].Send(map[string]any{"type": "disconnect", "reason": "refresh_requested", "debug_info": map[string]any{"host": "applink-test"}})
	for end := time.Now().Add(10 * time.Second); fs.Opened() == before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("no new connection after a disconnect envelope")
		}
	}
	conns = fs.WaitConns(t, slack.DefaultSocketConnections)
	conns[len(conns)-1].Send(f.slashEnvelope("E2", "U1", "rollback demo"))
	if a := fs.Ack(t, "E2"); !strings.Contains(string(a.Payload), "Running rollback demo") {
		t.Fatalf("ack on the new connection: %s", a.Payload)
	}
	if m := f.next(t); !strings.HasPrefix(m.Text, "Rolled demo back") {
		t.Fatalf("answer %+v", m)
	}
	time.Sleep(300 * time.Millisecond) // room for a wrong second answer
	f.rc.mu.Lock()
	n := len(f.rc.msgs)
	f.rc.mu.Unlock()
	if n != 2 {
		t.Errorf("%d answers at the response_urls, want 2", n)
	}
	recs, err := f.engine.Audit.Read(context.Background(), engine.AuditQuery{Pipeline: "demo"})
	if err != nil || len(recs) != 2 {
		t.Errorf("audit: %d records (%v), want 2", len(recs), err)
	}

	// Refused at once, as over HTTP: ephemeral, nothing enqueued.
	conns[0].Send(f.slashEnvelope("E3", "U2", "lock demo"))
	if a := fs.Ack(t, "E3"); !strings.Contains(string(a.Payload), `"response_type":"ephemeral"`) || !strings.Contains(string(a.Payload), "may not run lock") {
		t.Errorf("refusal ack: %s", a.Payload)
	}
}

// TestSocketInteractivity: a confirmation's button click and a
// block_suggestion come as interactive envelopes; the click runs the
// command, and the suggestion's ack carries the options.
func TestSocketInteractivity(t *testing.T) {
	f := newFixtureConfig(t, confirmConfig)
	fs, _, _ := runSocket(t, f, "xapp-test")
	conns := fs.WaitConns(t, 1)
	conns[0].Send(f.slashEnvelope("E1", "U1", "promote demo"))
	if a := fs.Ack(t, "E1"); !strings.Contains(string(a.Payload), "Asking before promote demo") {
		t.Fatalf("ack %s", a.Payload)
	}
	q := f.next(t)
	m := questionID.FindStringSubmatch(string(q.Blocks))
	if m == nil {
		t.Fatalf("no question: %s %s", q.Text, q.Blocks)
	}
	conns[0].Send(map[string]any{"envelope_id": "E2", "type": "interactive", "accepts_response_payload": false,
		"payload": map[string]any{
			"type": "block_actions", "user": map[string]string{"id": "U1"}, "team": map[string]string{"id": "T1"},
			"response_url": f.rc.srv.URL + "/actions/1",
			"actions":      []map[string]string{{"block_id": "chatops_question", "action_id": slack.ActionApprove, "value": m[1], "type": "button"}},
		}})
	if a := fs.Ack(t, "E2"); len(a.Payload) != 0 && string(a.Payload) != "null" {
		t.Errorf("a click's ack carries %s", a.Payload)
	}
	if m := f.next(t); !strings.HasPrefix(m.Text, "Running promote demo") {
		t.Errorf("after the click: %+v", m)
	}
	if m := f.next(t); m.Text != "Promoted demo 1.2.0 from staging to production." {
		t.Errorf("outcome: %+v", m)
	}
	conns[0].Send(map[string]any{"envelope_id": "E3", "type": "interactive", "accepts_response_payload": true,
		"payload": map[string]any{"type": "block_suggestion", "user": map[string]string{"id": "U1"}, "team": map[string]string{"id": "T1"},
			"block_id": "pipeline", "action_id": "value", "value": "de"}})
	if a := fs.Ack(t, "E3"); !strings.Contains(string(a.Payload), `"options":[`) || !strings.Contains(string(a.Payload), `"value":"demo"`) {
		t.Errorf("options ack: %s", a.Payload)
	}
}

// TestSocketRefusedToken: a token Slack refuses before any connection came
// up stops Socket Mode with an error that says so.
func TestSocketRefusedToken(t *testing.T) {
	f := newFixture(t)
	_, _, done := runSocket(t, f, "xapp-wrong")
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "app-level token was refused") || !strings.Contains(err.Error(), "invalid_auth") {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Socket Mode kept trying a refused token")
	}
}

// BenchmarkSocketAcks sends slash command envelopes at 100 a second over
// one Socket Mode connection and reports the ack latency, p50 and p99,
// from the envelope's send to its ack's arrival.
//
//	go test ./adapters/slack -run '^$' -bench SocketAcks -benchtime 1000x
func BenchmarkSocketAcks(b *testing.B) {
	f := newFixture(b)
	drained := make(chan struct{})
	defer close(drained)
	go func() { // the answers, which nobody reads here
		for {
			select {
			case <-f.rc.got:
			case <-drained:
				return
			}
		}
	}()
	fs := slacktest.NewSocket(b, "xapp-test")
	sock := &slack.Socket{Server: f.server, AppToken: "xapp-test", APIURL: fs.URL, HTTP: slack.NewHTTPClient(nil), Connections: 1}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		_ = sock.Run(ctx)
		close(stopped)
	}()
	defer func() {
		cancel()
		<-stopped
	}()
	for end := time.Now().Add(10 * time.Second); sock.Connected() != nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			b.Fatal(sock.Connected())
		}
	}
	conn := fs.WaitConns(b, 1)[0]
	sent := make([]time.Time, b.N)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	start := time.Now()
	go func() {
		for i := range b.N {
			time.Sleep(time.Until(start.Add(time.Duration(i) * 10 * time.Millisecond)))
			sent[i] = time.Now()
			conn.Send(f.slashEnvelope(fmt.Sprintf("B%d", i), "U1", "promote demo"))
		}
	}()
	for range b.N {
		select {
		case a := <-fs.Acks:
			var i int
			fmt.Sscanf(a.EnvelopeID, "B%d", &i)
			lat = append(lat, a.At.Sub(sent[i]))
		case <-time.After(30 * time.Second):
			b.Fatalf("%d acks of %d", len(lat), b.N)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1000, "p99-ms")
}
