package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/chatops/chatops/engine"
	nc "github.com/nats-io/nats.go"
)

// DefaultLocalBackoff waits 2 ms between the first 20 attempts, then twice as
// long each time, up to 50 ms: a local server starts in about 10 ms, and an
// attempt costs a few system calls.
func DefaultLocalBackoff(attempt int) time.Duration {
	if attempt <= 20 {
		return 2 * time.Millisecond
	}
	return min(2*time.Millisecond<<min(attempt-20, 5), 50*time.Millisecond)
}

// DefaultLocalWait bounds how long Open waits for a data dir's local server.
const DefaultLocalWait = 10 * time.Second

const (
	// respawnAfter is how long a client waits for the server it started
	// before it starts another.
	respawnAfter = 2 * time.Second
	// localReconnects and localReconnectWait bound how long a connection
	// tries to reach a new local server after losing its own: about 15 s,
	// then it is closed for good rather than retrying forever.
	localReconnects    = 60
	localReconnectWait = 250 * time.Millisecond
	// localURL stands for the local server in nats.go's server list; the
	// dialer connects to whatever nats.url names at the time.
	localURL = "nats://127.0.0.1:4222"
)

var errNoServer = errors.New("no local NATS server runs on the data dir")

// connectLocal connects to the data dir's local server, asking opts.Spawn to
// start one when none runs, and waits up to opts.LocalWait for it. The
// connection holds the clients lock shared until it is closed, which keeps
// the server from stopping under it.
func (c *Conn) connectLocal(parent context.Context, opts Options) error {
	ctx, cancel := context.WithTimeout(parent, opts.LocalWait)
	defer cancel()
	d := &localDialer{dir: opts.DataDir, spawn: opts.Spawn, now: time.Now}
	defer d.doneStarting()
	clients, err := waitShared(ctx, filepath.Join(opts.DataDir, clientsLockFile), opts.Backoff)
	if err != nil {
		if parent.Err() != nil {
			return parent.Err()
		}
		return d.failure(opts, err)
	}
	for attempt := 1; ; attempt++ {
		conn, err := nc.Connect(localURL, d.options(opts.Log)...)
		if err == nil {
			c.nc = conn
			c.unlock = func() {
				d.doneStarting() // if a reconnect was starting a server
				clients.Unlock()
			}
			return nil
		}
		d.note(err)
		if d.failed() {
			clients.Unlock()
			return d.failure(opts, err)
		}
		select {
		case <-ctx.Done():
			clients.Unlock()
			if parent.Err() != nil {
				return parent.Err()
			}
			return d.failure(opts, ctx.Err())
		case <-time.After(opts.Backoff(attempt)):
		}
	}
}

// waitShared takes a shared lock on path, waiting while a server that is
// stopping holds it exclusively.
func waitShared(ctx context.Context, path string, backoff engine.Backoff) (*fileLock, error) {
	for attempt := 1; ; attempt++ {
		l, err := tryLock(path, false)
		if !errors.Is(err, errLocked) {
			return l, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff(attempt)):
		}
	}
}

// localDialer is the nats.go dialer of a local connection: at every connect
// and reconnect it dials the server nats.url names, starting one first when
// none holds the data dir. A URL is trusted only while the server lock is
// held: with the lock free, the server that wrote it is gone, and its port
// may belong to another program by now.
type localDialer struct {
	dir   string
	spawn func() (<-chan error, error)
	now   func() time.Time

	mu       sync.Mutex
	token    string    // of the server last dialed
	starting *fileLock // the spawn lock, while this client starts a server
	spawned  time.Time // when it last did
	exited   <-chan error
	spawnErr error // the server last started could not start, or failed
	lastErr  error
}

// options are the nats.go options of a local connection. Reconnects are
// bounded and nothing is buffered while disconnected: a write either reaches
// a server or fails at once, never later behind the caller's back.
func (d *localDialer) options(log *slog.Logger) []nc.Option {
	return []nc.Option{
		nc.Name("chatops"),
		nc.SetCustomDialer(d),
		nc.TokenHandler(d.currentToken),
		nc.Timeout(2 * time.Second),
		nc.MaxReconnects(localReconnects),
		nc.ReconnectWait(localReconnectWait),
		nc.ReconnectJitter(50*time.Millisecond, 0),
		nc.ReconnectBufSize(-1),
		nc.IgnoreAuthErrorAbort(),
		nc.NoCallbacksAfterClientClose(),
		nc.DisconnectErrHandler(func(_ *nc.Conn, err error) {
			if err != nil {
				log.Warn("lost the local NATS server; reconnecting", "data", d.dir, "err", err)
			}
		}),
		nc.ReconnectHandler(func(*nc.Conn) {
			log.Info("reconnected to the local NATS server", "data", d.dir)
		}),
		nc.ClosedHandler(func(*nc.Conn) {
			d.doneStarting()
			log.Error("gave up reconnecting to the local NATS server", "data", d.dir)
		}),
	}
}

// Dial implements nats.CustomDialer; the address is ignored, nats.url says.
func (d *localDialer) Dial(network, _ string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	held, err := lockHeld(filepath.Join(d.dir, serverLockFile))
	if err != nil {
		return nil, d.setErr(err)
	}
	if !held {
		d.checkExited()
		d.start()
		return nil, d.setErr(errNoServer)
	}
	addr, token, err := readURL(d.dir)
	if errors.Is(err, os.ErrNotExist) {
		err = errors.New("the server is starting: no nats.url yet")
	}
	if err != nil {
		return nil, d.setErr(err)
	}
	conn, err := net.DialTimeout(network, addr, time.Second)
	if err != nil {
		return nil, d.setErr(err)
	}
	d.token = token
	d.release()
	return conn, nil
}

func (d *localDialer) currentToken() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.token
}

// start asks spawn for a server, unless another client is starting one or
// this one did so recently. Starting two is harmless (the second finds the
// server lock taken and exits) but wasteful when many commands start at once.
func (d *localDialer) start() {
	if d.spawn == nil {
		return
	}
	if d.starting == nil {
		l, err := tryLock(filepath.Join(d.dir, spawnLockFile), true)
		if err != nil {
			return
		}
		d.starting = l
	}
	if !d.spawned.IsZero() && d.now().Sub(d.spawned) < respawnAfter {
		return
	}
	// With the server lock free, nats.url is stale. Remove it before a new
	// server takes the lock, or a client could trust it in between.
	_ = os.Remove(filepath.Join(d.dir, urlFile))
	d.spawned = d.now()
	d.exited, d.spawnErr = d.spawn()
}

// checkExited notes the failure of the server this client started: it has
// said why in nats.log, and waiting longer will not help.
func (d *localDialer) checkExited() {
	select {
	case err := <-d.exited:
		if err != nil {
			d.spawnErr = fmt.Errorf("it exited (%v)%s", err, lastLine(filepath.Join(d.dir, "nats.log")))
		}
	default:
	}
}

// failed reports whether the server this client started failed: Open gives
// up at once rather than wait for nothing. A reconnect tries again later.
func (d *localDialer) failed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.spawnErr != nil
}

// lastLine is ": " and the last line of the file at path, or "".
func lastLine(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, 4096)
	if fi, err := f.Stat(); err == nil && fi.Size() > int64(len(buf)) {
		_, _ = f.Seek(fi.Size()-int64(len(buf)), 0)
	}
	n, _ := f.Read(buf)
	lines := strings.Split(strings.TrimSpace(string(buf[:n])), "\n")
	if last := strings.TrimSpace(lines[len(lines)-1]); last != "" {
		return ": " + last
	}
	return ""
}

// release frees the spawn lock once the server answers.
func (d *localDialer) release() {
	if d.starting != nil {
		d.starting.Unlock()
		d.starting = nil
	}
}

func (d *localDialer) doneStarting() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.release()
}

func (d *localDialer) setErr(err error) error {
	d.lastErr = err
	return err
}

// note keeps a connect error that did not come from the dialer, such as a
// server refusing the token because its port was reused.
func (d *localDialer) note(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lastErr == nil || !errors.Is(err, nc.ErrNoServers) {
		d.lastErr = err
	}
}

// failure says why no local server could be reached and what to do.
func (d *localDialer) failure(opts Options, cause error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lastErr != nil {
		cause = d.lastErr
	}
	dir := opts.DataDir
	logFile := filepath.Join(dir, "nats.log")
	if d.spawnErr != nil {
		return &engine.Error{Code: engine.Unavailable, Err: d.spawnErr, Msg: fmt.Sprintf(
			"could not start the NATS server for data dir %s: %v; see %s, or use --nats-url or another --data", dir, d.spawnErr, logFile)}
	}
	// A server may hold the lock before it has written its pid.
	if held, _ := lockHeld(filepath.Join(dir, serverLockFile)); held {
		pid := ""
		if n := LocalServerPid(dir); n != 0 {
			pid = fmt.Sprintf(" (pid %d)", n)
		}
		return &engine.Error{Code: engine.Unavailable, Err: cause, Msg: fmt.Sprintf(
			"data dir %s is in use by another chatops process that cannot be reached%s: %v; if it is stuck, stop it and run again, or give this one its own --data",
			dir, pid, cause)}
	}
	if d.spawn == nil {
		return &engine.Error{Code: engine.Unavailable, Err: cause, Msg: fmt.Sprintf("no NATS server serves data dir %s: %v", dir, cause)}
	}
	return &engine.Error{Code: engine.Unavailable, Err: cause, Msg: fmt.Sprintf(
		"the NATS server for data dir %s did not start within %s (see %s): %v; use --nats-url, or another --data",
		dir, opts.LocalWait, logFile, cause)}
}
