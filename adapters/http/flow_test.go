package http_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	chatopshttp "github.com/chatops/chatops/adapters/http"
	"github.com/chatops/chatops/engine"
)

// A retry is signed afresh, with its own timestamp, and carries the same
// Idempotency-Key: one deployment, accepted by a receiver with a window.
func TestDeployResignsRetries(t *testing.T) {
	h := newHarness(t, []reply{{status: http.StatusServiceUnavailable}, {status: http.StatusOK}}, nil)
	t0 := time.Unix(1_700_000_000, 0)
	var mu sync.Mutex
	calls := 0
	h.d.Now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return t0.Add(time.Duration(calls-1) * 4 * time.Minute)
	}
	h.rcv.now = func() time.Time { return t0.Add(4 * time.Minute) }
	if _, err := h.d.Deploy(context.Background(), promotion(), nil); err != nil {
		t.Fatalf("Deploy: %v", err)
	}
	reqs := h.rcv.requests()
	if len(reqs) != 2 {
		t.Fatalf("receiver got %d requests, want 2", len(reqs))
	}
	var stamps, keys []string
	for _, r := range reqs {
		if r.verr != nil {
			t.Errorf("signature: %v", r.verr)
		}
		stamps = append(stamps, r.header.Get("X-Chatops-Timestamp"))
		keys = append(keys, r.header.Get("Idempotency-Key"))
	}
	if want := []string{"1700000000", "1700000240"}; !reflect.DeepEqual(stamps, want) {
		t.Errorf("timestamps = %v, want %v", stamps, want)
	}
	if want := []string{"J42", "J42"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("Idempotency-Keys = %v, want %v", keys, want)
	}
}

// A failure quotes the last 20 lines of the log, all of which went to
// progress once.
func TestDeployFailureTail(t *testing.T) {
	var log []string
	for i := 1; i <= 30; i++ {
		log = append(log, fmt.Sprintf("step %d", i))
	}
	h := newHarness(t, []reply{{status: http.StatusAccepted, body: `{"status_url":"/status/J42"}`}},
		[]reply{status("pending", "", log[:12]...), status("failure", "step 30 failed", log...)})
	var progress []string
	_, err := h.d.Deploy(context.Background(), promotion(), func(s string) { progress = append(progress, s) })
	var de *engine.DriverError
	if !errors.As(err, &de) {
		t.Fatalf("Deploy = %v, want a *engine.DriverError", err)
	}
	if de.Msg != "step 30 failed" {
		t.Errorf("Msg = %q, want %q", de.Msg, "step 30 failed")
	}
	if !reflect.DeepEqual(de.Log, log[10:]) {
		t.Errorf("Log = %q, want %q", de.Log, log[10:])
	}
	if !reflect.DeepEqual(progress[1:], log) {
		t.Errorf("progress = %q, want the accepted line and each log line once", progress)
	}
}

// Neither the HMAC key nor a token in the URL shows in the errors or logs
// of failing calls: answers that run out of retries, and a receiver that
// cannot be reached at all.
func TestDeploySecretsStayOut(t *testing.T) {
	tests := []struct {
		name string
		// closed shuts the receiver before the deployment.
		closed bool
		posts  []reply
		msg    string
	}{
		{name: "500 until the retries run out", posts: []reply{{status: http.StatusInternalServerError, body: `{"message":"boom"}`}},
			msg: "http driver: URL/deploy?… answered 500 Internal Server Error: boom"},
		{name: "unreachable", closed: true,
			msg: "http driver: POST URL/deploy?… could not be reached: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.posts, nil)
			base := h.rcv.srv.URL
			if tt.closed {
				h.rcv.srv.Close()
			}
			var progress []string
			_, err := h.d.Deploy(context.Background(), promotion(), func(s string) { progress = append(progress, s) })
			if err == nil {
				t.Fatal("Deploy succeeded, want an error")
			}
			if got := strings.ReplaceAll(err.Error(), base, "URL"); !strings.HasPrefix(got, tt.msg) {
				t.Errorf("error\n got %s\nwant %s…", got, tt.msg)
			}
			logs := h.logs.String()
			if !strings.Contains(logs, "retrying request") || !strings.Contains(logs, base+"/deploy?…") {
				t.Errorf("logs hold no redacted retry line:\n%s", logs)
			}
			var de *engine.DriverError
			if errors.As(err, &de) {
				noSecrets(t, "DriverError log", de.Log...)
				if de.Err != nil {
					noSecrets(t, "DriverError cause", de.Err.Error())
				}
			}
			noSecrets(t, "error", err.Error())
			noSecrets(t, "logs", logs)
			noSecrets(t, "progress", progress...)
		})
	}
}

// Canceling the context stops a deployment that waits between polls, at
// once, saying what was last known.
func TestDeployCanceled(t *testing.T) {
	h := newHarness(t, []reply{{status: http.StatusAccepted, body: `{"status_url":"/status/J42"}`}},
		[]reply{status("pending", "", "building")})
	never := make(chan time.Time)
	h.d.After = func(time.Duration) <-chan time.Time { return never }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := h.d.Deploy(ctx, promotion(), func(s string) {
			if s == "building" {
				cancel()
			}
		})
		done <- err
	}()
	err := <-done
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Deploy = %v, want context.Canceled", err)
	}
	if want := `http driver: canceled; the change was last seen pending after "building"`; err.Error() != want {
		t.Errorf("error\n got %s\nwant %s", err, want)
	}
}

// A deadline that passes is a DriverError saying so.
func TestDeployTimeout(t *testing.T) {
	h := newHarness(t, []reply{{status: http.StatusAccepted, body: `{"status_url":"/status/J42"}`}},
		[]reply{status("pending", "", "building")})
	never := make(chan time.Time)
	h.d.After = func(time.Duration) <-chan time.Time { return never }
	h.d.Timeout = 50 * time.Millisecond
	_, err := h.d.Deploy(context.Background(), promotion(), nil)
	var de *engine.DriverError
	if !errors.As(err, &de) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Deploy = %v, want a *engine.DriverError wrapping the deadline", err)
	}
	if want := `http driver: timed out after 50ms; the change was last seen pending after "building"`; err.Error() != want {
		t.Errorf("error\n got %s\nwant %s", err, want)
	}
	if !reflect.DeepEqual(de.Log, []string{"building"}) {
		t.Errorf("Log = %q, want [building]", de.Log)
	}
	if !de.Unknown {
		t.Error("a deadline while the change was pending is not Unknown")
	}
}

// A Driver literal with only URL and Secret works: zero fields take their
// defaults when used.
func TestDriverLiteral(t *testing.T) {
	rcv := newReceiver(t, []reply{{status: http.StatusOK, body: `{"message":"ok"}`}}, nil)
	d := &chatopshttp.Driver{URL: rcv.deployURL(), Secret: []byte(secret)}
	got, err := d.Deploy(context.Background(), promotion(), nil)
	if err != nil {
		t.Fatalf("Deploy: %v", err)
	}
	if got.Message != "ok" {
		t.Errorf("Message = %q, want ok", got.Message)
	}
	if reqs := rcv.requests(); len(reqs) != 1 || reqs[0].verr != nil {
		t.Errorf("receiver got %d requests (%v), want 1 verified", len(reqs), reqs)
	}
}

// An absolute status_url is followed as it is, query included.
func TestDeployAbsoluteStatusURL(t *testing.T) {
	h := newHarness(t, nil, []reply{status("success", "live")})
	h.rcv.posts = []reply{{status: http.StatusAccepted, body: `{"status_url":"` + h.rcv.srv.URL + `/status/J42?sig=` + queryToken + `"}`}}
	var progress []string
	got, err := h.d.Deploy(context.Background(), promotion(), func(s string) { progress = append(progress, s) })
	if err != nil {
		t.Fatalf("Deploy: %v", err)
	}
	if got.Message != "live" {
		t.Errorf("Message = %q, want live", got.Message)
	}
	reqs := h.rcv.requests()
	if len(reqs) != 2 || reqs[1].path != "/status/J42" || reqs[1].query != "sig="+queryToken {
		t.Fatalf("requests = %+v, want the POST and one GET of the status_url with its query", reqs)
	}
	checkPoll(t, "GET", reqs[1])
	noSecrets(t, "progress", progress...)
	noSecrets(t, "logs", h.logs.String())
}
