// Package nats implements the engine's store, jobs and audit ports on NATS
// JetStream: a key-value bucket with revisions for the pipelines ledger, one with
// a TTL for jobs, and a stream for audit. NATS runs embedded in the process, its
// file store under the data dir, unless a URL names a server or cluster to use.
package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chatops/chatops/engine"
	"github.com/nats-io/nats-server/v2/server"
	nc "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Names of the buckets and the stream.
const (
	PipelinesBucket = "chatops_pipelines"
	JobsBucket      = "chatops_jobs"
	AuditStream     = "CHATOPS_AUDIT"
	ReleasesStream  = "CHATOPS_RELEASES"
	auditSubject    = "chatops.audit"
	releasesSubject = "chatops.releases"
)

// Options says where NATS is.
type Options struct {
	// URL of a NATS server or cluster; empty runs one embedded.
	URL string
	// DataDir holds the embedded server's file store.
	DataDir string
	// Replicas for the buckets and stream on a cluster; 1 when zero.
	Replicas int
	// JobTTL is how long job records are kept; 7 days when zero.
	JobTTL time.Duration
	// SyncAlways makes the embedded server flush every write to disk before it
	// acknowledges it, so a host crash loses nothing acknowledged. Off, the
	// server flushes every two minutes (NATS's default): a process crash loses
	// nothing either way.
	SyncAlways bool
	Log        *slog.Logger
}

// Conn is a connection to JetStream with the chatops buckets and stream ready.
type Conn struct {
	Store   *Store
	Audit   *Audit
	Jobs    *Jobs
	History *History

	nc       *nc.Conn
	js       jetstream.JetStream
	replicas int
	server   *server.Server
	unlock   func()
}

// Open connects to NATS (starting the embedded server when opts.URL is empty)
// and makes sure the buckets and the stream exist.
func Open(ctx context.Context, opts Options) (*Conn, error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Replicas == 0 {
		opts.Replicas = 1
	}
	if opts.JobTTL == 0 {
		opts.JobTTL = 7 * 24 * time.Hour
	}
	c := &Conn{unlock: func() {}, replicas: opts.Replicas}
	var err error
	if opts.URL != "" {
		c.nc, err = nc.Connect(opts.URL, nc.Name("chatops"), nc.Timeout(5*time.Second))
		if err != nil {
			return nil, unavailable(fmt.Errorf("connecting to NATS at %s: %w", opts.URL, err))
		}
	} else if err := c.embed(opts); err != nil {
		return nil, err
	}
	if c.js, err = jetstream.New(c.nc); err != nil {
		c.Close()
		return nil, unavailable(err)
	}
	if err := c.setup(ctx, opts); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// embed starts the embedded server on the data dir, or, when another chatops
// process holds the data dir, connects to that process's server.
func (c *Conn) embed(opts Options) error {
	if opts.DataDir == "" {
		return &engine.Error{Code: engine.Invalid, Msg: "no data dir for the embedded NATS server: give --data or --nats-url"}
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return &engine.Error{Code: engine.Invalid, Msg: fmt.Sprintf("data dir %s: %v", opts.DataDir, err), Err: err}
	}
	urlFile := filepath.Join(opts.DataDir, "nats.url")
	unlock, err := lockDir(filepath.Join(opts.DataDir, "chatops.lock"))
	if errors.Is(err, errLocked) {
		// Another chatops runs on this data dir: use its server.
		url, rerr := os.ReadFile(urlFile)
		if rerr == nil {
			if c.nc, err = nc.Connect(strings.TrimSpace(string(url)), nc.Name("chatops"), nc.Timeout(2*time.Second)); err == nil {
				return nil
			}
		}
		return &engine.Error{Code: engine.Unavailable, Msg: fmt.Sprintf(
			"data dir %s is in use by another chatops process that cannot be reached; stop it, or give this one its own --data", opts.DataDir)}
	}
	if err != nil {
		return &engine.Error{Code: engine.Invalid, Msg: fmt.Sprintf("locking data dir %s: %v", opts.DataDir, err), Err: err}
	}
	c.unlock = unlock
	srv, err := server.NewServer(&server.Options{
		ServerName:         "chatops",
		Host:               "127.0.0.1",
		Port:               server.RANDOM_PORT,
		JetStream:          true,
		StoreDir:           filepath.Join(opts.DataDir, "jetstream"),
		JetStreamMaxMemory: 64 << 20,
		SyncAlways:         opts.SyncAlways,
		NoSigs:             true,
		NoLog:              true,
	})
	if err != nil {
		unlock()
		return &engine.Error{Code: engine.Internal, Msg: "starting the embedded NATS server", Err: err}
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		unlock()
		return unavailable(errors.New("the embedded NATS server did not start within 10s"))
	}
	c.server = srv
	if err := os.WriteFile(urlFile, []byte(srv.ClientURL()+"\n"), 0o600); err != nil {
		c.Close()
		return &engine.Error{Code: engine.Internal, Msg: "writing " + urlFile, Err: err}
	}
	c.nc, err = nc.Connect(srv.ClientURL(), nc.InProcessServer(srv), nc.Name("chatops"))
	if err != nil {
		c.Close()
		return unavailable(err)
	}
	return nil
}

// Ready reports whether the connection to NATS is up.
func (c *Conn) Ready(context.Context) error {
	if c.nc == nil || !c.nc.IsConnected() {
		return errors.New("not connected to NATS")
	}
	return nil
}

// Close drains the connection, stops the embedded server and frees the data dir.
func (c *Conn) Close() {
	if c.nc != nil {
		c.nc.Close()
	}
	if c.server != nil {
		c.server.Shutdown()
		c.server.WaitForShutdown()
	}
	c.unlock()
}

func unavailable(err error) error {
	return &engine.Error{Code: engine.Unavailable, Msg: "NATS: " + err.Error(), Err: err}
}
