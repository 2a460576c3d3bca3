package nats

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// startCluster runs n JetStream servers in one cluster on 127.0.0.1, stopped
// with the test, and returns their client URLs separated by commas once
// JetStream has a meta leader. JetStream wants each server's routes
// configured, so the route ports are chosen first: free ones, closed again
// just before the servers take them.
func startCluster(t *testing.T, n int) string {
	t.Helper()
	urls, _ := startClusterServers(t, n)
	return urls
}

// startClusterServers is startCluster that also returns the servers, to
// stop one.
func startClusterServers(t *testing.T, n int) (string, []*server.Server) {
	t.Helper()
	var routes []*url.URL
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		routes = append(routes, &url.URL{Scheme: "nats", Host: l.Addr().String()})
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
		l.Close()
	}
	var servers []*server.Server
	var urls []string
	for i := range n {
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1", Port: server.RANDOM_PORT,
			JetStream: true, StoreDir: t.TempDir(), JetStreamMaxMemory: 64 << 20,
			Cluster: server.ClusterOpts{Name: "chatops-test", Host: "127.0.0.1", Port: ports[i]},
			Routes:  routes,
			NoSigs:  true, NoLog: true,
		}
		srv, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		srv.Start()
		t.Cleanup(func() {
			srv.Shutdown()
			srv.WaitForShutdown()
		})
		if !srv.ReadyForConnections(10 * time.Second) {
			t.Fatalf("server %s did not start", opts.ServerName)
		}
		servers = append(servers, srv)
		urls = append(urls, srv.ClientURL())
	}
	waitFor(t, "a JetStream meta leader", func() bool {
		leaders := 0
		for _, s := range servers {
			if s.JetStreamIsLeader() {
				leaders++
			}
			if !s.JetStreamIsCurrent() || s.NumRoutes() < n-1 {
				return false
			}
		}
		return leaders == 1
	})
	return strings.Join(urls, ","), servers
}

// openCluster opens a connection to a cluster with opts, as serve does
// (streams brought to the layout), closed with the test.
func openCluster(t *testing.T, ctx context.Context, opts Options) *Conn {
	t.Helper()
	opts.Reconcile = true
	c, err := Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestCluster: on a 3-node cluster chatops makes every stream and bucket with
// three replicas, and Status shows them, each with its leader.
func TestCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	urls := startCluster(t, 3)
	c := openCluster(t, ctx, Options{URL: urls})
	if n := ClusterSize(c.nc); n != 3 {
		t.Fatalf("cluster size %d, want 3", n)
	}
	// Every creator, so that every stream and bucket exists.
	if _, err := c.Queue(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Outbox(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Events(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Notices(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Interactions(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Threads(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Secrets(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Leases(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Claims(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Homes(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Cluster != "chatops-test" || st.Servers != 3 || len(st.Streams) != len(c.layout.specs) {
		t.Fatalf("status of cluster %q, %d servers, %d streams", st.Cluster, st.Servers, len(st.Streams))
	}
	for _, s := range st.Streams {
		if s.Missing || s.Replicas != 3 || s.Leader == "" || s.Leader == "local" || len(s.Peers) != 2 {
			t.Errorf("%s %s: replicas %d, leader %q, peers %+v; want 3 replicas and a leader", s.Kind, s.Name, s.Replicas, s.Leader, s.Peers)
		}
	}

	// A second process starting on the cluster, given one seed only,
	// changes nothing; one asking for a single replica scales them down.
	before, err := c.js.Stream(ctx, AuditStream)
	if err != nil {
		t.Fatal(err)
	}
	second := openCluster(t, ctx, Options{URL: strings.Split(urls, ",")[1]})
	if n := ClusterSize(second.nc); n != 3 {
		t.Errorf("given one seed, the cluster size is %d, want 3 (the servers it told of)", n)
	}
	after, err := second.js.Stream(ctx, AuditStream)
	if err != nil {
		t.Fatal(err)
	}
	if b, a := before.CachedInfo(), after.CachedInfo(); !a.Created.Equal(b.Created) || a.Config.Replicas != 3 || fmt.Sprint(a.Config) != fmt.Sprint(b.Config) {
		t.Errorf("a second start changed the audit stream:\n%+v\n%+v", b.Config, a.Config)
	}
	one := openCluster(t, ctx, Options{URL: urls, Replicas: 1})
	if cfg := streamConfig(t, ctx, one, AuditStream); cfg.Replicas != 1 {
		t.Errorf("--replicas 1: the audit stream has %d replicas", cfg.Replicas)
	}
}
