package slack_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	natsadapter "github.com/chatops/chatops/adapters/nats"
	"github.com/chatops/chatops/adapters/slack"
	"github.com/chatops/chatops/engine"
)

// BenchmarkSlashLoad sends signed "/h promote demo" requests to the gateway on
// 127.0.0.1 over HTTP, each a distinct command, and reports the ack latency
// (p50, p99), the throughput, and the commands lost: acked but not run exactly
// once. Workers start after the load, so the acks measure the gateway alone;
// then four workers in the process drain the queue (jobs/s), and every acked
// job must show up once in the audit.
//
//	go test ./adapters/slack -run '^$' -bench SlashLoad -benchtime 5000x
func BenchmarkSlashLoad(b *testing.B) {
	b.Run("rate=500", func(b *testing.B) { slashLoad(b, 500, 16, false) })
	b.Run("saturated", func(b *testing.B) { slashLoad(b, 0, 64, false) })
	// The concurrency of the comparison with Bolt (issue 12).
	b.Run("saturated,clients=16", func(b *testing.B) { slashLoad(b, 0, 16, false) })
	// With every write flushed to disk before the ack (--sync).
	b.Run("rate=500,sync", func(b *testing.B) { slashLoad(b, 500, 16, true) })
	b.Run("saturated,sync", func(b *testing.B) { slashLoad(b, 0, 64, true) })
}

func slashLoad(b *testing.B, rate, clients int, syncAlways bool) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e, conn := newEngineOpts(b, testConfig, natsadapter.Options{SyncAlways: syncAlways})
	q, err := conn.Queue(ctx)
	if err != nil {
		b.Fatal(err)
	}
	s := &slack.Server{Engine: e, Queue: q, Verifier: slack.Verifier{Secret: secret}}
	srv := &http.Server{Handler: s.Handler()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	target := "http://" + ln.Addr().String() + "/slack/commands"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}

	n := b.N
	lat := make([]time.Duration, n)
	var next, failed atomic.Int64
	var interval time.Duration
	if rate > 0 {
		interval = time.Second / time.Duration(rate)
	}
	b.ResetTimer()
	// CHATOPS_ACK_CPUPROFILE=file profiles the acks alone, without the
	// drain and its checks that follow.
	if path := os.Getenv("CHATOPS_ACK_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		defer f.Close()
	}
	// CHATOPS_ACK_MEMPROFILE=file writes the allocations of the acks alone:
	// file.base before them and file after, for pprof -base.
	memProfile := os.Getenv("CHATOPS_ACK_MEMPROFILE")
	writeAllocs(b, memProfile, ".base")
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if interval > 0 { // an open-loop schedule: request i is due at start + i·interval
					time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
				}
				body := url.Values{
					"team_id": {"T1"}, "channel_id": {"C1"}, "user_id": {"U1"}, "command": {"/h"},
					"text": {"promote demo"}, "trigger_id": {fmt.Sprint(i)},
				}.Encode()
				req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
				req.Header = slack.Sign(secret, time.Now(), []byte(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				ack, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				lat[i] = time.Since(t0)
				if resp.StatusCode != 200 || !strings.Contains(string(ack), "Running promote demo") {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if os.Getenv("CHATOPS_ACK_CPUPROFILE") != "" {
		pprof.StopCPUProfile()
	}
	writeAllocs(b, memProfile, "")

	slices.Sort(lat)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "acks/s")
	b.ReportMetric(float64(lat[n/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[min(n-1, n*99/100)].Microseconds())/1000, "p99-ms")

	// Drain: workers run every job; each must be audited exactly once.
	outbox, err := conn.Outbox(ctx)
	if err != nil {
		b.Fatal(err)
	}
	// The answers wait in the outbox: nothing delivers them here.
	w := &slack.Worker{Engine: e, Queue: q, Outbox: outbox}
	wctx, stop := context.WithCancel(ctx)
	for range 4 {
		go func() { _ = w.Run(wctx) }()
	}
	// Wait for the workers' consumer to run dry, failing only when it
	// stops making progress: a fixed deadline would count a slow drain as
	// lost.
	drainStart := time.Now()
	var left, last uint64
	lastMoved := time.Now()
	for time.Since(lastMoved) < 30*time.Second {
		st, err := conn.Status(ctx)
		if err != nil {
			b.Fatal(err)
		}
		found := false
		left = 0
		for _, c := range st.Consumers {
			if c.Stream == natsadapter.JobsStream {
				found, left = true, left+c.Pending+uint64(c.AckPending)
			}
		}
		if found && left == 0 {
			break
		}
		if left != last {
			last, lastMoved = left, time.Now()
		}
		time.Sleep(200 * time.Millisecond)
	}
	drained := time.Since(drainStart)
	var recs []engine.AuditRecord
	for range 50 { // a job's audit record is written before its ack
		recs, err = e.Audit.Read(ctx, engine.AuditQuery{Pipeline: "demo"})
		if err != nil {
			b.Fatal(err)
		}
		if len(recs) >= n-int(failed.Load()) || left != 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.ReportMetric(float64(len(recs))/drained.Seconds(), "jobs/s")
	stop()
	jobs := map[string]int{}
	for _, r := range recs {
		jobs[r.JobID]++
	}
	lost := int(failed.Load())
	for _, c := range jobs {
		if c != 1 {
			lost++
		}
	}
	lost += n - int(failed.Load()) - len(jobs)
	b.ReportMetric(float64(lost), "lost")
	if lost != 0 {
		b.Errorf("%d of %d commands lost or run twice", lost, n)
	}
}

// writeAllocs writes the allocations profile to path+suffix, when path is
// set.
func writeAllocs(b *testing.B, path, suffix string) {
	if path == "" {
		return
	}
	f, err := os.Create(path + suffix)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}
