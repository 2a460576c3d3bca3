package nats

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// A data dir's local server is shared by every chatops process using the dir.
// These files coordinate them; every lock is a kernel lock, freed when its
// holder dies, so a killed process never leaves one behind.
const (
	// serverLockFile is held exclusively by the local server for as long as it
	// runs, and holds its pid.
	serverLockFile = "chatops.lock"
	// clientsLockFile is held shared by every client for as long as it is
	// connected; the server can lock it exclusively only when none is.
	clientsLockFile = "clients.lock"
	// spawnLockFile is held by the one client starting a server, so that many
	// commands finding none start one, not one each.
	spawnLockFile = "spawn.lock"
	// urlFile names the server and its token while it serves.
	urlFile = "nats.url"
)

// DefaultLocalIdle is how long a local server waits without a client before
// it stops.
const DefaultLocalIdle = 30 * time.Second

// ErrLocalRunning is returned by ServeLocal when another local server already
// serves the data dir.
var ErrLocalRunning = errors.New("a local NATS server already serves this data dir")

var errLocked = errors.New("locked by another process")

// fileLock is a lock on a file, held until Unlock or the process exits.
type fileLock struct{ f *os.File }

// tryLock locks path without waiting, exclusively or shared; errLocked when
// another process holds a lock that conflicts.
func tryLock(path string, exclusive bool) (*fileLock, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f, exclusive); err != nil {
		f.Close()
		return nil, err
	}
	return &fileLock{f: f}, nil
}

// Unlock releases the lock.
func (l *fileLock) Unlock() {
	unlockFile(l.f)
	l.f.Close()
}

// writePid writes our pid in the locked file, for people and error messages
// to name the process holding it.
func (l *fileLock) writePid() {
	if err := l.f.Truncate(0); err == nil {
		_, _ = l.f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
}

// lockHeld reports whether some process holds path exclusively. It probes
// with a shared lock, so that probing clients never collide with each other.
func lockHeld(path string) (bool, error) {
	l, err := tryLock(path, false)
	if errors.Is(err, errLocked) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	l.Unlock()
	return false, nil
}

// LocalServerPid returns the pid of the local server serving dataDir, or 0
// when none does.
func LocalServerPid(dataDir string) int {
	path := filepath.Join(dataDir, serverLockFile)
	if held, err := lockHeld(path); err != nil || !held {
		return 0
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// LocalOptions configure ServeLocal.
type LocalOptions struct {
	// DataDir holds the server's file store and the files its clients use to
	// find it.
	DataDir string
	// SyncAlways is Options.SyncAlways, for this server's lifetime.
	SyncAlways bool
	// Idle is how long the server runs without a client; DefaultLocalIdle when
	// zero.
	Idle time.Duration
	// Poll is how often the server looks for clients; 250 ms when zero.
	Poll time.Duration
	// Grace bounds how long a server asked to stop waits for its clients to
	// leave; 5 s when zero.
	Grace time.Duration
	// Log receives the server's start, stop, warnings and errors.
	Log *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// ServeLocal runs the data dir's local NATS server: JetStream with its file
// store under the dir, on 127.0.0.1 at a random port, behind a random token.
// It writes the URL with the token to nats.url once it is ready, and serves
// until no client has been connected for opts.Idle, until ctx ends, or until
// the data dir is removed. It returns ErrLocalRunning at once when another
// server holds the dir.
func ServeLocal(ctx context.Context, opts LocalOptions) error {
	s, err := startLocal(ctx, opts)
	if err != nil {
		return err
	}
	return s.serve(ctx)
}

// localServer is a running local server and the locks it holds.
type localServer struct {
	opts  LocalOptions
	srv   *server.Server
	url   *url.URL
	lock  *fileLock
	conns uint64 // connections ever made, at the last check
	seen  time.Time
}

// startLocal takes the data dir's server lock and starts the server.
func startLocal(ctx context.Context, opts LocalOptions) (*localServer, error) {
	if opts.Idle <= 0 {
		opts.Idle = DefaultLocalIdle
	}
	if opts.Poll <= 0 {
		opts.Poll = 250 * time.Millisecond
	}
	if opts.Grace <= 0 {
		opts.Grace = 5 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, err
	}
	lock, err := takeServerLock(ctx, filepath.Join(opts.DataDir, serverLockFile))
	if err != nil {
		return nil, err
	}
	// Whatever nats.url says now, its server is gone: it held this lock.
	if err := os.Remove(filepath.Join(opts.DataDir, urlFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		lock.Unlock()
		return nil, err
	}
	srv, u, err := startServer(opts.DataDir, opts.SyncAlways, opts.Log)
	if err != nil {
		lock.Unlock()
		return nil, err
	}
	if err := writeURL(opts.DataDir, u); err != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
		lock.Unlock()
		return nil, err
	}
	opts.Log.Info("local NATS server ready", "addr", srv.Addr().String(), "pid", os.Getpid(),
		"data", opts.DataDir, "idle", opts.Idle, "sync", opts.SyncAlways)
	return &localServer{opts: opts, srv: srv, url: u, lock: lock, seen: opts.Now()}, nil
}

// takeServerLock locks the server lock file exclusively and writes our pid in
// it. It tries for a moment: clients probe the lock, and a probe must not
// make the server they are waiting for give up.
func takeServerLock(ctx context.Context, path string) (*fileLock, error) {
	deadline := time.Now().Add(time.Second)
	for {
		lock, err := tryLock(path, true)
		if err == nil {
			lock.writePid()
			return lock, nil
		}
		if !errors.Is(err, errLocked) {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, ErrLocalRunning
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// serve checks for clients every Poll until the server should stop.
func (s *localServer) serve(ctx context.Context) error {
	tick := time.NewTicker(s.opts.Poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			s.stopGracefully()
			return nil
		case <-tick.C:
		}
		if s.check(s.opts.Now()) {
			return nil
		}
	}
}

// check looks at the server once and stops it when it has been idle for
// opts.Idle or its data dir is gone; it reports whether it stopped it.
//
// Idle means: no connection now, none made since the last check, and the
// clients lock free. A client takes its shared lock before it reads nats.url
// and keeps it while connected, so once the server holds the lock
// exclusively no client is connected or about to connect; the server keeps
// holding it while it stops, so that none connects to a server going away.
func (s *localServer) check(now time.Time) bool {
	if !s.dirIntact() {
		s.opts.Log.Warn("the data dir was removed or replaced: stopping", "data", s.opts.DataDir)
		s.shutdown()
		s.lock.Unlock()
		return true
	}
	if !s.srv.Running() {
		s.opts.Log.Error("the NATS server stopped by itself")
		s.release()
		return true
	}
	if _, err := os.Stat(filepath.Join(s.opts.DataDir, urlFile)); errors.Is(err, os.ErrNotExist) {
		// Removed by hand, or by a client that took it for stale in the
		// moment before this server locked the data dir.
		if err := writeURL(s.opts.DataDir, s.url); err != nil {
			s.opts.Log.Warn("rewriting nats.url", "err", err)
		}
	}
	busy := s.srv.NumClients() > 0
	if v, err := s.srv.Varz(nil); err == nil {
		busy = busy || v.TotalConnections != s.conns
		s.conns = v.TotalConnections
	}
	if busy {
		s.seen = now
		return false
	}
	clients, err := tryLock(filepath.Join(s.opts.DataDir, clientsLockFile), true)
	if err != nil {
		s.seen = now
		return false
	}
	if now.Sub(s.seen) < s.opts.Idle {
		clients.Unlock()
		return false
	}
	s.opts.Log.Info("no client for a while: stopping", "idle", s.opts.Idle)
	s.release()
	clients.Unlock()
	return true
}

// stopGracefully stops the server when asked to (SIGTERM, Ctrl-C): no new
// client finds it, and the connected ones get a grace period to finish.
func (s *localServer) stopGracefully() {
	s.removeURL()
	for end := time.Now().Add(s.opts.Grace); s.srv.NumClients() > 0 && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
	s.opts.Log.Info("stopping on request", "clients", s.srv.NumClients())
	s.release()
}

// release removes nats.url, stops the server and frees the data dir.
func (s *localServer) release() {
	s.removeURL()
	s.shutdown()
	s.lock.Unlock()
}

func (s *localServer) removeURL() {
	if err := os.Remove(filepath.Join(s.opts.DataDir, urlFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.opts.Log.Warn("removing nats.url", "err", err)
	}
}

func (s *localServer) shutdown() {
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
}

// dirIntact reports whether the server lock file is still the one locked: a
// data dir deleted under a server must not keep it running.
func (s *localServer) dirIntact() bool {
	locked, err := s.lock.f.Stat()
	if err != nil {
		return false
	}
	now, err := os.Stat(filepath.Join(s.opts.DataDir, serverLockFile))
	return err == nil && os.SameFile(locked, now)
}

// startServer starts a NATS server with JetStream on dir, for local clients
// only, and returns it with its URL, token included. A nil log silences it.
func startServer(dir string, syncAlways bool, log *slog.Logger) (*server.Server, *url.URL, error) {
	token := make([]byte, 16)
	if _, err := rand.Read(token); err != nil {
		return nil, nil, err
	}
	srv, err := server.NewServer(&server.Options{
		ServerName:         "chatops",
		Host:               "127.0.0.1",
		Port:               server.RANDOM_PORT,
		Authorization:      hex.EncodeToString(token),
		JetStream:          true,
		StoreDir:           filepath.Join(dir, "jetstream"),
		JetStreamMaxMemory: 64 << 20,
		SyncAlways:         syncAlways,
		NoSigs:             true,
		NoLog:              log == nil,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("starting the NATS server: %w", err)
	}
	if log != nil {
		srv.SetLoggerV2(serverLog{log}, false, false, false)
	}
	srv.Start() // returns once the server listens
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, nil, errors.New("the NATS server did not start within 10s")
	}
	u, err := url.Parse(srv.ClientURL())
	if err != nil {
		srv.Shutdown()
		return nil, nil, err
	}
	u.User = url.User(hex.EncodeToString(token))
	return srv, u, nil
}

// writeURL writes nats.url whole: a reader sees the old file or the new one.
func writeURL(dir string, u *url.URL) error {
	path := filepath.Join(dir, urlFile)
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	if err := os.WriteFile(tmp, []byte(u.String()+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// readURL reads nats.url: the server's address and token.
func readURL(dir string) (addr, token string, err error) {
	b, err := os.ReadFile(filepath.Join(dir, urlFile))
	if err != nil {
		return "", "", err
	}
	u, err := url.Parse(strings.TrimSpace(string(b)))
	if err != nil || u.Host == "" || u.User == nil {
		return "", "", fmt.Errorf("%s holds no server URL", urlFile)
	}
	return u.Host, u.User.Username(), nil
}

// serverLog passes the NATS server's warnings and errors to a slog logger;
// its notices (a banner at every start) are left out.
type serverLog struct{ log *slog.Logger }

func (l serverLog) Noticef(string, ...any) {}
func (l serverLog) Debugf(string, ...any)  {}
func (l serverLog) Tracef(string, ...any)  {}
func (l serverLog) Warnf(format string, v ...any) {
	l.log.Warn("nats: " + fmt.Sprintf(format, v...))
}
func (l serverLog) Errorf(format string, v ...any) {
	l.log.Error("nats: " + fmt.Sprintf(format, v...))
}
func (l serverLog) Fatalf(format string, v ...any) {
	l.log.Error("nats: " + fmt.Sprintf(format, v...))
}
