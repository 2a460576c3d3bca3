package slack_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatops/chatops/adapters/slack"
)

// BenchmarkSlashAck is the gateway's own work for one slash command, without
// the network: the signed request goes straight to the handler, which
// verifies it, parses it, checks the policy, enqueues the job durably in an
// embedded JetStream and writes the ack. Its B/op and allocs/op are what
// each ack costs the garbage collector; BenchmarkSlashLoad adds HTTP.
//
//	go test ./adapters/slack -run '^$' -bench SlashAck -benchmem
func BenchmarkSlashAck(b *testing.B) {
	e, conn := newEngine(b, testConfig)
	q, err := conn.Queue(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	h := (&slack.Server{Engine: e, Queue: q, Verifier: slack.Verifier{Secret: secret}}).Handler()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		body := url.Values{
			"team_id": {"T1"}, "channel_id": {"C1"}, "user_id": {"U1"}, "command": {"/h"},
			"text": {"promote demo"}, "trigger_id": {strconv.Itoa(i)},
			"response_url": {"https://hooks.slack.com/commands/T1/" + strconv.Itoa(i) + "/x"},
		}.Encode()
		req := httptest.NewRequest(http.MethodPost, "/slack/commands", strings.NewReader(body))
		req.Header = slack.Sign(secret, time.Now(), []byte(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Running promote demo") {
			b.Fatalf("ack %d: %d %s", i, rec.Code, rec.Body)
		}
	}
}
