package main

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The scale benchmark's load: a burst of signed slash commands from as many
// clients at once as the issue measured Bolt with.
const (
	scaleBurst   = 3000
	scaleClients = 16
)

// BenchmarkClusterScale measures chatops on a 3-node NATS cluster with one
// gateway and one worker, then two of each: each iteration is a burst of
// scaleBurst signed slash commands from scaleClients clients at once, acked
// by the gateways round-robin and then run and answered. It reports acks/s
// (while the burst is sent), jobs/s (from the first command to the last
// answer), the p99 ack latency, the acked commands lost (never run or never
// answered; must be 0), and the CPU count.
//
//	go test ./cmd/chatops -run '^$' -bench ClusterScale -benchtime 3x
func BenchmarkClusterScale(b *testing.B) {
	cl := startCluster(b, 3)
	for _, size := range []struct{ gateways, workers int }{{1, 1}, {2, 2}} {
		b.Run(fmt.Sprintf("gateways=%d/workers=%d", size.gateways, size.workers), func(b *testing.B) {
			bin, dir, ran, fake, hooks := clusterSetup(b)
			var gateways []*clusterServe
			for i := range size.gateways {
				gateways = append(gateways, startClusterServe(b, bin, cl, dir, fmt.Sprintf("gateway%d", i+1), "gateway", hooks.URL))
			}
			for i := range size.workers {
				startClusterServe(b, bin, cl, dir, fmt.Sprintf("worker%d", i+1), "worker", hooks.URL)
			}
			client := clusterClient()
			var acking, working time.Duration
			var ackTimes []time.Duration
			acks, jobs, lost, next := 0, 0, 0, 0
			for b.Loop() {
				first := next
				results := make([]ackResult, scaleBurst)
				var n atomic.Int64
				var clients sync.WaitGroup
				start := time.Now()
				for range scaleClients {
					clients.Go(func() {
						for k := int(n.Add(1)) - 1; k < scaleBurst; k = int(n.Add(1)) - 1 {
							i := first + k
							results[k] = postSlash(client, gateways[i%len(gateways)].addr(), hooks.URL, i)
						}
					})
				}
				clients.Wait()
				acking += time.Since(start)
				next += scaleBurst
				isAcked := func(i int) bool { return i >= first && results[i-first].kind == acked }
				fake.wait(60*time.Second, isAcked, next)
				working += lastAnswer(fake, first, next).Sub(start)
				runs := readRuns(b, ran)
				for k, r := range results {
					if r.kind != acked {
						continue
					}
					acks++
					ackTimes = append(ackTimes, r.replied.Sub(r.sent))
					if fake.answered1(first+k) && runs[fmt.Sprintf("arg%d", first+k)] == 1 {
						jobs++
					} else {
						lost++
					}
				}
			}
			slices.Sort(ackTimes)
			var p99 time.Duration
			if len(ackTimes) > 0 {
				p99 = ackTimes[len(ackTimes)*99/100]
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(acks)/acking.Seconds(), "acks/s")
			b.ReportMetric(float64(jobs)/working.Seconds(), "jobs/s")
			b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ack-ms")
			b.ReportMetric(float64(lost), "lost")
			b.ReportMetric(float64(runtime.NumCPU()), "cpus")
			if lost > 0 {
				b.Errorf("%d acked commands lost: never run once, or never answered", lost)
			}
		})
	}
}

// lastAnswer is when the last answer to a command in [from, to) came.
func lastAnswer(a *answerLog, from, to int) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	var last time.Time
	for i := from; i < to; i++ {
		for _, at := range a.at[i] {
			if at.After(last) {
				last = at
			}
		}
	}
	return last
}

// answered1 reports whether command i got exactly one answer.
func (a *answerLog) answered1(i int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.text[i]) == 1
}
