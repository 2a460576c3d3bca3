package nats

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestWorkers: a worker says whether it runs a job, asked from another
// server of the cluster, with one of its three servers down; a worker that
// is gone does not answer.
func TestWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a cluster and stops a node")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	urls, servers := startClusterServers(t, 3)
	seeds := strings.Split(urls, ",")
	// The worker on the first node, the one asking on the second: the
	// third, stopped, leaves the streams two of three.
	worker := openCluster(t, ctx, Options{URL: seeds[0]})
	asker := openCluster(t, ctx, Options{URL: seeds[1]})
	name := "web-1.example.com/4242" // dots and a slash, as host names and pids give
	stop, err := worker.Workers().Serve(name, func(job string) bool { return job == "j1" })
	if err != nil {
		t.Fatal(err)
	}
	ask := func(job string) (bool, bool) {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		return asker.Workers().Runs(actx, name, job)
	}
	servers[2].Shutdown()
	if runs, ok := ask("j1"); !runs || !ok {
		t.Errorf("the job it runs: runs %v, ok %v", runs, ok)
	}
	if runs, ok := ask("j2"); runs || !ok {
		t.Errorf("a job it does not run: runs %v, ok %v", runs, ok)
	}
	if runs, ok := asker.Workers().Runs(ctx, "web-1_example_com/4242", "j1"); runs || ok {
		t.Errorf("another name: runs %v, ok %v", runs, ok)
	}
	stop()
	if runs, ok := ask("j1"); runs || ok {
		t.Errorf("a worker gone: runs %v, ok %v; want no answer", runs, ok)
	}
}
