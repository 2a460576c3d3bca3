//go:build unix

package nats

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chatops/chatops/engine"
)

// BenchmarkEnqueue is the durable part of a Slack ack alone: 16 goroutines,
// the concurrency of the comparison with Bolt, enqueue distinct jobs as the
// gateway makes them into the data dir's server embedded in this process.
// cpu-µs/op is the process's CPU time (user and system) per job: what the
// write costs the gateway, beside its HTTP and its parsing
// (adapters/slack BenchmarkSlashAck has them all).
//
//	go test ./adapters/nats -run '^$' -bench Enqueue -benchtime 100000x
func BenchmarkEnqueue(b *testing.B) {
	ctx := context.Background()
	c, err := Open(ctx, Options{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	q, err := c.Queue(ctx)
	if err != nil {
		b.Fatal(err)
	}
	actor := engine.Actor{ID: "bench", Groups: []string{"deployers"}, Identity: "U0BENCH1", Source: "slack", Known: true}
	var next atomic.Int64
	n := int64(b.N)
	b.ResetTimer()
	cpu0 := cpuTime(b)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := next.Add(1); i <= n; i = next.Add(1) {
				j := &engine.QueuedJob{
					ID: fmt.Sprintf("s%024x", i), Command: "promote demo --from development --to staging", Actor: actor,
					Channel: "C0BENCH01", Workspace: "T0BENCH01", Enqueued: time.Now(),
					Reply: map[string]string{"response_url": fmt.Sprintf("https://hooks.slack.com/commands/T0BENCH01/%d/bench", i), "team": "T0BENCH01", "user": "U0BENCH1"},
				}
				if _, err := q.Enqueue(ctx, j); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Skip("no getrusage here:", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
