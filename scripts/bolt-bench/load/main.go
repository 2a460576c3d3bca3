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
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
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
	o.runID = mrand.Int64N(1e10)
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
	runID                       int64 // this run's number, random
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
	warmupAcks   int // acks of the warm-up before the measured phase
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
	return fmt.Sprintf("acks/s=%.0f p50-ms=%.2f p99-ms=%.2f acks=%d errors=%d elapsed-s=%.2f warmup-acks=%d",
		rate, ms(r.p50), ms(r.p99), r.acks, r.errors, r.elapsed.Seconds(), r.warmupAcks)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// run sends the warm-up, then measures.
func (o *options) run(ctx context.Context) (result, error) {
	u, err := url.Parse(o.target)
	if err != nil {
		return result{}, err
	}
	var seq atomic.Int64 // numbers the commands, warm-up included, so each is distinct
	var warm result
	if o.warmup > 0 {
		warm = o.phase(ctx, u, &seq, o.warmup, 0)
		if warm.acks == 0 || warm.errors >= o.maxErrors {
			return warm, fmt.Errorf("warm-up on %s: %d acks, %d errors; the first: %s", o.target, warm.acks, warm.errors, warm.firstErr)
		}
	}
	r := o.phase(ctx, u, &seq, o.duration, o.count)
	r.warmupAcks = warm.acks
	return r, nil
}

// phase runs the clients for d, or until count requests have been sent when
// count > 0, and gathers their latencies.
func (o *options) phase(ctx context.Context, target *url.URL, seq *atomic.Int64, d time.Duration, count int) result {
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
			c := &client{target: target}
			defer c.close()
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
				took, err := o.send(ctx, c, seq.Add(1))
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
func (o *options) send(ctx context.Context, c *client, i int64) (time.Duration, error) {
	body := slashBody(o.runID, i, o.user)
	ts, sig := signature(o.secret, time.Now(), body)
	t0 := time.Now()
	status, ack, err := c.post(ctx, []string{
		"Content-Type: application/x-www-form-urlencoded",
		"User-Agent: Slackbot 1.0 (+https://api.slack.com/robots)",
		"X-Slack-Request-Timestamp: " + ts,
		"X-Slack-Signature: " + sig,
	}, body)
	took := time.Since(t0)
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK || !bytes.Contains(ack, []byte("Running")) {
		return 0, fmt.Errorf("%d %s: %.200q", status, http.StatusText(status), ack)
	}
	return took, nil
}

// A client is one keep-alive HTTP/1.1 connection with one request in flight,
// as each of Slack's deliveries is. It writes each request with one write and
// reads the response with net/http's own parser: a load generator that
// shares the machine with the server it measures should take as little of it
// as it can, and http.Client's transport spends two goroutines and several
// hand-offs on every request.
type client struct {
	target *url.URL
	conn   net.Conn
	r      *bufio.Reader
	w      *bufio.Writer
}

// post sends one POST with the given header lines and body, dialling first
// if the connection is not open, and returns the status and body of the
// response. A connection that failed or that the server closes is closed,
// and the next post dials again.
func (c *client) post(ctx context.Context, header []string, body string) (int, []byte, error) {
	if c.conn == nil {
		if err := c.dial(ctx); err != nil {
			return 0, nil, err
		}
	}
	status, ack, keep, err := c.roundTrip(header, body)
	if err != nil || !keep {
		c.close()
	}
	return status, ack, err
}

// maxAck bounds the answer read from each request.
const maxAck = 64 << 10

func (c *client) roundTrip(header []string, body string) (status int, ack []byte, keep bool, err error) {
	if err := c.conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return 0, nil, false, err
	}
	w := c.w
	w.WriteString("POST " + c.target.RequestURI() + " HTTP/1.1\r\nHost: " + c.target.Host + "\r\n")
	for _, h := range header {
		w.WriteString(h + "\r\n")
	}
	w.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	w.WriteString(body)
	if err := w.Flush(); err != nil {
		return 0, nil, false, err
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return 0, nil, false, err
	}
	// An answer longer than any ack is cut short, and its connection
	// dropped: the rest of it would be read as the next answer.
	ack, err = io.ReadAll(io.LimitReader(resp.Body, maxAck+1))
	resp.Body.Close()
	if err != nil {
		return 0, nil, false, err
	}
	if len(ack) > maxAck {
		return resp.StatusCode, ack[:maxAck], false, nil
	}
	return resp.StatusCode, ack, !resp.Close, nil
}

func (c *client) dial(ctx context.Context) error {
	host := c.target.Host
	if c.target.Port() == "" {
		host = net.JoinHostPort(c.target.Hostname(), map[string]string{"http": "80", "https": "443"}[c.target.Scheme])
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	var conn net.Conn
	var err error
	if c.target.Scheme == "https" {
		conn, err = (&tls.Dialer{NetDialer: d, Config: &tls.Config{ServerName: c.target.Hostname()}}).DialContext(ctx, "tcp", host)
	} else {
		conn, err = d.DialContext(ctx, "tcp", host)
	}
	if err != nil {
		return err
	}
	c.conn, c.r, c.w = conn, bufio.NewReader(conn), bufio.NewWriter(conn)
	return nil
}

func (c *client) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// slashBody is command i of the load run run as Slack posts it: the fields of
// a slash-command request, in Slack's order, each command with its own
// trigger_id and response_url. The run's number keeps the commands of one
// run apart from those of the runs before it against the same server, which
// would otherwise be the same requests again: chatops would take them as
// Slack's retries, and store nothing.
func slashBody(run, i int64, user string) string {
	n := strconv.FormatInt(i, 10) + "." + strconv.FormatInt(run, 10)
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
		{"trigger_id", n + ".bench" + n},
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
	ts, sig := signature(secret, at, body)
	h.Set("X-Slack-Request-Timestamp", ts)
	h.Set("X-Slack-Signature", sig)
}

// signature is the values of Slack's two signature headers for body sent at
// at: the timestamp, and "v0=" and the hex HMAC-SHA256 of "v0:ts:body".
func signature(secret string, at time.Time, body string) (ts, sig string) {
	ts = strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write([]byte(body))
	return ts, "v0=" + hex.EncodeToString(mac.Sum(nil))
}
