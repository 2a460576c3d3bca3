// Command load is a closed-loop load generator for Slack slash-command
// endpoints: each of -clients clients sends a signed "/h promote demo to staging" and
// waits for the ack before it sends the next, for -duration (or -n requests
// in all), after an unmeasured -warmup. Every request is a distinct command,
// with its own trigger_id and response_url, signed as Slack signs it. It
// prints one line of key=value results: the acks per second, the ack
// latency's p50 and p99, and the errors (a failed request, a status other
// than 200, or an ack without "Running"). It gives up after -max-errors
// errors in a phase: a server that is gone must not turn the benchmark into
// a spin on "connection refused".
//
//	SLACK_SIGNING_SECRET=… go run ./scripts/bolt-bench/load -url http://127.0.0.1:8080/slack/commands
//
// It compares chatops with Bolt (scripts/bolt-bench/run, issue 12), so it
// imports nothing of chatops: both servers get the same bytes.
package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	var o options
	flag.StringVar(&o.target, "url", "", "endpoint to send the slash commands to (required)")
	flag.StringVar(&o.secret, "secret", os.Getenv("SLACK_SIGNING_SECRET"), "signing secret (default $SLACK_SIGNING_SECRET)")
	flag.IntVar(&o.clients, "clients", 16, "concurrent clients, each with one request in flight")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "how long to measure (ignored with -n)")
	flag.IntVar(&o.count, "n", 0, "measure this many requests instead of a duration")
	flag.DurationVar(&o.warmup, "warmup", 0, "load to send, unmeasured, before measuring")
	flag.StringVar(&o.label, "label", "", "name printed first on the result line")
	flag.StringVar(&o.user, "user", "U0BENCH1", "user_id of the person typing the command")
	flag.IntVar(&o.maxErrors, "max-errors", 1000, "errors in a phase after which it stops and fails")
	flag.Parse()
	if err := o.check(); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		flag.Usage()
		os.Exit(2)
	}
	res, err := o.run(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
	if o.label != "" {
		fmt.Printf("%s ", o.label)
	}
	fmt.Println(res)
	if res.firstErr != "" {
		fmt.Fprintf(os.Stderr, "load: %d errors; the first: %s\n", res.errors, res.firstErr)
	}
	if res.acks == 0 || res.errors >= o.maxErrors {
		os.Exit(1)
	}
}

// options are the command line's settings.
type options struct {
	target, secret, label, user string
	clients, count, maxErrors   int
	duration, warmup            time.Duration
}

func (o *options) check() error {
	switch {
	case o.target == "":
		return errors.New("-url is required")
	case o.secret == "":
		return errors.New("no signing secret: set SLACK_SIGNING_SECRET or -secret")
	case o.clients < 1:
		return fmt.Errorf("-clients %d: need at least 1", o.clients)
	case o.maxErrors < 1:
		return fmt.Errorf("-max-errors %d: need at least 1", o.maxErrors)
	case o.count < 0:
		return fmt.Errorf("-n %d: need a count ≥ 0", o.count)
	case o.count == 0 && o.duration <= 0:
		return fmt.Errorf("-duration %s: need a positive duration, or -n", o.duration)
	}
	u, err := url.Parse(o.target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("-url %q: need an http or https URL", o.target)
	}
	return nil
}

// result is what one measured phase saw.
type result struct {
	acks, errors int
	elapsed      time.Duration
	p50, p99     time.Duration
	firstErr     string
}

// String is the result line: key=value pairs, easy to read and to cut.
func (r result) String() string {
	rate := 0.0
	if r.elapsed > 0 {
		rate = float64(r.acks) / r.elapsed.Seconds()
	}
	return fmt.Sprintf("acks/s=%.0f p50-ms=%.2f p99-ms=%.2f acks=%d errors=%d elapsed-s=%.2f",
		rate, ms(r.p50), ms(r.p99), r.acks, r.errors, r.elapsed.Seconds())
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// run sends the warm-up, then measures.
func (o *options) run(ctx context.Context) (result, error) {
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			MaxIdleConnsPerHost: o.clients,
			MaxConnsPerHost:     o.clients,
			DisableCompression:  true,
		},
	}
	var seq atomic.Int64 // numbers the commands, warm-up included, so each is distinct
	if o.warmup > 0 {
		r := o.phase(ctx, client, &seq, o.warmup, 0)
		if r.acks == 0 || r.errors >= o.maxErrors {
			return r, fmt.Errorf("warm-up on %s: %d acks, %d errors; the first: %s", o.target, r.acks, r.errors, r.firstErr)
		}
	}
	return o.phase(ctx, client, &seq, o.duration, o.count), nil
}

// phase runs the clients for d, or until count requests have been sent when
// count > 0, and gathers their latencies.
func (o *options) phase(ctx context.Context, client *http.Client, seq *atomic.Int64, d time.Duration, count int) result {
	var (
		mu       sync.Mutex
		lat      []time.Duration
		errs     int
		firstErr string
		sent     atomic.Int64
		failed   atomic.Int64 // errors so far, across the clients
		wg       sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(d)
	for range o.clients {
		wg.Go(func() {
			var mine []time.Duration
			var bad int
			var first string
			for {
				if count > 0 {
					if sent.Add(1) > int64(count) {
						break
					}
				} else if !time.Now().Before(end) {
					break
				}
				if failed.Load() >= int64(o.maxErrors) {
					break
				}
				took, err := o.send(ctx, client, seq.Add(1))
				if err != nil {
					bad++
					failed.Add(1)
					if first == "" {
						first = err.Error()
					}
					continue
				}
				mine = append(mine, took)
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			if firstErr == "" {
				firstErr = first
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	r := result{acks: len(lat), errors: errs, elapsed: time.Since(start), firstErr: firstErr}
	if len(lat) > 0 {
		slices.Sort(lat)
		r.p50 = lat[len(lat)/2]
		r.p99 = lat[min(len(lat)-1, len(lat)*99/100)]
	}
	return r
}

// send posts command i and checks its ack.
func (o *options) send(ctx context.Context, client *http.Client, i int64) (time.Duration, error) {
	body := slashBody(i, o.user)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.target, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	sign(req.Header, o.secret, time.Now(), body)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	ack, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	took := time.Since(t0)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(ack), "Running") {
		return 0, fmt.Errorf("%s: %.200q", resp.Status, ack)
	}
	return took, nil
}

// slashBody is command i as Slack posts it: the fields of a slash-command
// request, in Slack's order, each command with its own trigger_id and
// response_url.
func slashBody(i int64, user string) string {
	n := strconv.FormatInt(i, 10)
	fields := [][2]string{
		{"token", "gIkuvaNzQIHg97ATvDxqgjtO"}, // the deprecated verification token; neither server reads it
		{"team_id", "T0BENCH01"},
		{"team_domain", "bench"},
		{"channel_id", "C0BENCH01"},
		{"channel_name", "deploys"},
		{"user_id", user},
		{"user_name", "bench"},
		{"command", "/h"},
		{"text", "promote demo to staging"},
		{"api_app_id", "A0BENCH01"},
		{"is_enterprise_install", "false"},
		{"response_url", "https://hooks.slack.com/commands/T0BENCH01/" + n + "/bench" + n},
		{"trigger_id", n + ".1234567890.bench" + n},
	}
	var b strings.Builder
	for k, f := range fields {
		if k > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(f[0]))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(f[1]))
	}
	return b.String()
}

// sign sets Slack's v0 signature headers on h: HMAC-SHA256 of "v0:ts:body"
// with the signing secret, as adapters/slack.Sign does.
func sign(h http.Header, secret string, at time.Time, body string) {
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write([]byte(body))
	h.Set("X-Slack-Request-Timestamp", ts)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
}
