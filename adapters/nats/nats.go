// Package nats implements the engine's ports on NATS JetStream: the pipelines
// ledger as a stream of changes appended by compare-and-set (each change
// carrying its releases and audit record), a key-value bucket of job records
// with a TTL (each job's claim), a work-queue stream of jobs, one of answers
// (the outbox), and a stream for the other audit records.
//
// Unless a URL names a server or cluster to use, NATS runs locally with its
// file store under the data dir: in a server process of its own that every
// chatops process on the dir shares, started by the first that finds none and
// stopping once none has used it for a while (see ServeLocal and
// Options.Spawn), or, without Options.Spawn, embedded in the process.
package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/chatops/chatops/engine"
	"github.com/nats-io/nats-server/v2/server"
	nc "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Names of the buckets and the stream.
const (
	JobsBucket      = "chatops_jobs"
	AuditStream     = "CHATOPS_AUDIT"
	ReleasesStream  = "CHATOPS_RELEASES"
	auditSubject    = "chatops.audit"
	releasesSubject = "chatops.releases"
)

// Options says where NATS is.
type Options struct {
	// URL of a NATS server or cluster, or several seed URLs separated by
	// commas; empty runs one embedded.
	URL string
	// Connect holds more options for connecting to URL: credentials, an
	// NKey, TLS, reconnect handlers (see ConnectOptions).
	Connect []nc.Option
	// DataDir holds the embedded server's file store.
	DataDir string
	// Replicas for every stream and bucket; when zero they follow the
	// cluster: min(MaxReplicas, ClusterSize), and an existing stream with
	// more keeps them.
	Replicas int
	// JobTTL is how long job records are kept, when Retention.Jobs is zero.
	JobTTL time.Duration
	// Retention bounds what each stream keeps; DefaultRetention's for a
	// zero field.
	Retention Retention
	// Reconcile brings streams and buckets that exist to what this
	// process wants (replicas, retention), and reports what JetStream
	// cannot change; chatops serve sets it. Without it, existing ones are
	// used as they are, and only missing ones are created.
	Reconcile bool
	// SyncAlways makes the embedded server flush every write to disk before it
	// acknowledges it, so a host crash loses nothing acknowledged. Off, the
	// server flushes every two minutes (NATS's default): a process crash loses
	// nothing either way.
	SyncAlways bool
	// Spawn starts the data dir's local server (ServeLocal) in a process of
	// its own; Open calls it when no server runs on the data dir. The channel
	// it returns receives the process's exit: nil when it exits cleanly (as
	// it does at once when another server won the data dir), else why it
	// failed, which Open then reports without waiting further. Nil Spawn
	// embeds the server in this process instead, while the Conn is open.
	Spawn func() (exited <-chan error, err error)
	// Embed runs the data dir's server in this process when no other
	// process serves the dir, even with Spawn; Spawn then starts one should
	// the process whose server this one uses stop. chatops serve sets it:
	// its gateway reaches its own server in memory, with no socket between.
	Embed bool
	// SetupWait bounds how long Open waits for an external NATS's streams
	// to answer; DefaultSetupWait when zero.
	SetupWait time.Duration
	// LocalWait bounds how long Open waits for a local server;
	// DefaultLocalWait when zero.
	LocalWait time.Duration
	// Backoff paces Open's attempts to reach a local server;
	// DefaultLocalBackoff when nil.
	Backoff engine.Backoff
	Log     *slog.Logger
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
	layout   *layout // the streams and buckets as chatops wants them
	// reconciles says existing streams are brought to the layout.
	reconciles bool
	server     *server.Server
	dataDir    string
	readyMu    sync.Mutex
	readyAt    time.Time
	readyErr   error
	unlock     func() // frees the data dir's lock this process holds
}

// Open connects to NATS and makes sure the buckets and the stream exist. When
// opts.URL is empty it connects to the data dir's local server, starting one
// with opts.Spawn if none runs, or embeds one when opts.Spawn is nil.
func Open(ctx context.Context, opts Options) (*Conn, error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.LocalWait == 0 {
		opts.LocalWait = DefaultLocalWait
	}
	if opts.Backoff == nil {
		opts.Backoff = DefaultLocalBackoff
	}
	c := &Conn{unlock: func() {}}
	var err error
	if opts.URL != "" {
		c.nc, err = nc.Connect(opts.URL, append([]nc.Option{nc.Name("chatops"), nc.Timeout(5 * time.Second)}, opts.Connect...)...)
		if err != nil {
			return nil, unavailable(fmt.Errorf("connecting to NATS at %s: %w", opts.URL, err))
		}
	} else if err := c.local(ctx, opts); err != nil {
		return nil, err
	}
	if c.js, err = jetstream.New(c.nc); err != nil {
		c.Close()
		return nil, unavailable(err)
	}
	if err := c.setupWaiting(ctx, opts); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// DefaultSetupWait bounds how long Open waits for an external cluster's
// streams to answer: a process started while a node restarts, and its
// streams elect leaders, waits for them rather than exit.
const DefaultSetupWait = 30 * time.Second

// setupWaiting runs setup again while the streams cannot be reached, up to
// opts.SetupWait, for an external NATS; a local one answers at once or not
// at all.
func (c *Conn) setupWaiting(ctx context.Context, opts Options) error {
	wait := opts.SetupWait
	if wait <= 0 {
		wait = DefaultSetupWait
	}
	deadline := time.Now().Add(wait)
	for attempt := 1; ; attempt++ {
		err := c.setup(ctx, opts)
		if err == nil || opts.URL == "" || engine.ErrorCode(err) != engine.Unavailable || time.Now().After(deadline) {
			return err
		}
		opts.Log.Warn("NATS streams do not answer yet; trying again", "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(min(time.Duration(attempt)*250*time.Millisecond, 2*time.Second)):
		}
	}
}

// local connects to the data dir's local server; without opts.Spawn, or
// with opts.Embed, it embeds one unless another process serves the dir.
func (c *Conn) local(ctx context.Context, opts Options) error {
	if opts.DataDir == "" {
		return &engine.Error{Code: engine.Invalid, Msg: "no data dir for the local NATS server: give --data or --nats-url"}
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return &engine.Error{Code: engine.Invalid, Msg: fmt.Sprintf("data dir %s: %v", opts.DataDir, err), Err: err}
	}
	if opts.Spawn != nil && !opts.Embed {
		return c.connectLocal(ctx, opts)
	}
	lock, err := tryLock(filepath.Join(opts.DataDir, serverLockFile), true)
	if errors.Is(err, errLocked) {
		// Another chatops process serves this data dir: use its server.
		opts.LocalWait = min(opts.LocalWait, 2*time.Second)
		return c.connectLocal(ctx, opts)
	}
	if err != nil {
		return &engine.Error{Code: engine.Invalid, Msg: fmt.Sprintf("locking data dir %s: %v", opts.DataDir, err), Err: err}
	}
	return c.embed(lock, opts)
}

// embed runs the data dir's server in this process, until Close.
func (c *Conn) embed(lock *fileLock, opts Options) error {
	c.unlock = lock.Unlock
	lock.writePid()
	if err := os.Remove(filepath.Join(opts.DataDir, urlFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		c.Close()
		return &engine.Error{Code: engine.Internal, Msg: "removing a stale " + urlFile, Err: err}
	}
	srv, u, err := startServer(opts.DataDir, opts.SyncAlways, nil)
	if err != nil {
		c.Close()
		return unavailable(err)
	}
	c.server, c.dataDir = srv, opts.DataDir
	if err := writeURL(opts.DataDir, u); err != nil {
		c.Close()
		return &engine.Error{Code: engine.Internal, Msg: "writing " + urlFile, Err: err}
	}
	c.nc, err = nc.Connect(srv.ClientURL(), nc.InProcessServer(srv), nc.Token(u.User.Username()), nc.Name("chatops"))
	if err != nil {
		c.Close()
		return unavailable(err)
	}
	return nil
}

// readyStreams are the streams every process writes; Ready asks each for its
// state, which only a stream's leader answers.
var readyStreams = []string{JobsStream, OutboxStream, ReleasesStream, AuditStream, "KV_" + JobsBucket}

// readyFor bounds how long a Ready answer is reused, so a probe hammered by
// health checks asks NATS at most this often.
const readyFor = time.Second

// Ready reports whether the process can use its streams: connected to NATS,
// and each stream it writes has a leader that answers within a second. While
// a node that led a stream is gone and the others elect a new leader, it says
// which stream is not answering.
func (c *Conn) Ready(ctx context.Context) error {
	if c.nc == nil || !c.nc.IsConnected() {
		return errors.New("not connected to NATS")
	}
	c.readyMu.Lock()
	defer c.readyMu.Unlock()
	if !c.readyAt.IsZero() && time.Since(c.readyAt) < readyFor {
		return c.readyErr
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	c.readyErr = nil
	for _, name := range readyStreams {
		if _, err := c.js.Stream(ctx, name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			c.readyErr = fmt.Errorf("stream %s does not answer: %w", name, err)
			break
		}
	}
	c.readyAt = time.Now()
	return c.readyErr
}

// Close closes the connection, stops the embedded server if this process runs
// one, and frees the data dir.
func (c *Conn) Close() {
	if c.nc != nil {
		c.nc.Close()
	}
	if c.server != nil {
		_ = os.Remove(filepath.Join(c.dataDir, urlFile))
		c.server.Shutdown()
		c.server.WaitForShutdown()
	}
	c.unlock()
}

func unavailable(err error) error {
	return &engine.Error{Code: engine.Unavailable, Msg: "NATS: " + err.Error(), Err: err}
}
