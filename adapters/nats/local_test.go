package nats

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chatops/chatops/engine"
	"github.com/nats-io/nats-server/v2/server"
)

// The test binary doubles as the processes these tests start: a local server
// (as chatops __nats runs it) or a client that stays connected until killed.
const (
	roleEnv = "CHATOPS_TEST_LOCAL_ROLE"
	dataEnv = "CHATOPS_TEST_LOCAL_DATA"
	idleEnv = "CHATOPS_TEST_LOCAL_IDLE"
)

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "server":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		idle, _ := time.ParseDuration(os.Getenv(idleEnv))
		err := ServeLocal(ctx, LocalOptions{DataDir: os.Getenv(dataEnv), Idle: idle})
		stop()
		if err != nil && !errors.Is(err, ErrLocalRunning) {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	case "broken":
		fmt.Fprintln(os.Stderr, "broken: on purpose")
		os.Exit(1)
	case "client":
		dir := os.Getenv(dataEnv)
		idle, _ := time.ParseDuration(os.Getenv(idleEnv))
		c, err := Open(context.Background(), Options{DataDir: dir, Spawn: spawner(dir, idle, nil)})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("connected")
		defer c.Close()
		select {} // until killed
	}
	os.Exit(m.Run())
}

// spawner starts a local server process on dir, counting starts in n.
func spawner(dir string, idle time.Duration, n *atomic.Int32) func() (<-chan error, error) {
	return spawnRole("server", dir, idle, n)
}

// spawnRole starts the test binary in a role on dir, as Spawn does.
func spawnRole(role, dir string, idle time.Duration, n *atomic.Int32) func() (<-chan error, error) {
	return func() (<-chan error, error) {
		if n != nil {
			n.Add(1)
		}
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		log, err := os.OpenFile(filepath.Join(dir, "nats.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, err
		}
		defer log.Close()
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), roleEnv+"="+role, dataEnv+"="+dir, idleEnv+"="+idle.String())
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		return exited, nil
	}
}

// serverPid is the pid of the process serving dir, 0 when none does.
func serverPid(t *testing.T, dir string) int {
	t.Helper()
	return LocalServerPid(dir)
}

// waitNoServer waits until no process serves dir.
func waitNoServer(t *testing.T, dir string, within time.Duration) {
	t.Helper()
	for end := time.Now().Add(within); serverPid(t, dir) != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("the local server of %s still runs after %s", dir, within)
		}
	}
}

// localDir is a fresh data dir whose server, if any, is stopped when the test
// ends, before the dir is removed.
func localDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Cleanup(func() {
		if pid := serverPid(t, dir); pid != 0 {
			if p, err := os.FindProcess(pid); err == nil {
				if p.Signal(syscall.SIGTERM) != nil {
					p.Kill()
				}
			}
			waitNoServer(t, dir, 10*time.Second)
		}
	})
	return dir
}

func openLocal(t *testing.T, dir string, idle time.Duration, n *atomic.Int32) *Conn {
	t.Helper()
	c, err := Open(context.Background(), Options{DataDir: dir, Spawn: spawner(dir, idle, n)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestLocalServer: the first client starts the server, in a process of its
// own that outlives it; later clients use it; it stops after the idle period
// with no client, removing nats.url.
func TestLocalServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	ctx := context.Background()
	dir := localDir(t)
	var spawns atomic.Int32
	c := openLocal(t, dir, time.Second, &spawns)
	pid := serverPid(t, dir)
	if pid == 0 || pid == os.Getpid() {
		t.Fatalf("server pid %d, this process %d: want a server process of its own", pid, os.Getpid())
	}
	if _, err := c.Store.Commit(ctx, change("web", 1), 0); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c = openLocal(t, dir, time.Second, &spawns)
	if st, _, err := c.Store.Load(ctx, "web"); err != nil || st.Seq != 1 {
		t.Fatalf("second client reads %+v, %v", st, err)
	}
	c.Close()
	if n := spawns.Load(); n != 1 {
		t.Errorf("%d servers started, want 1", n)
	}
	if got := serverPid(t, dir); got != pid {
		t.Fatalf("server pid %d after the first client left, want %d still serving", got, pid)
	}
	waitNoServer(t, dir, 10*time.Second)
	if _, err := os.Stat(filepath.Join(dir, urlFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("nats.url after the server stopped: %v", err)
	}
}

// TestLocalKilledServer: SIGKILL of the server leaves its lock free and
// nats.url stale; the next client starts a new server, and a client that was
// connected reconnects to it.
func TestLocalKilledServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	ctx := context.Background()
	dir := localDir(t)
	first := openLocal(t, dir, 2*time.Second, nil)
	defer first.Close()
	if _, err := first.Store.Commit(ctx, change("web", 1), 0); err != nil {
		t.Fatal(err)
	}
	pid := serverPid(t, dir)
	p, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	waitNoServer(t, dir, 5*time.Second)
	if _, err := os.Stat(filepath.Join(dir, urlFile)); err != nil {
		t.Fatalf("want the killed server's nats.url left behind: %v", err)
	}

	second := openLocal(t, dir, 2*time.Second, nil)
	defer second.Close()
	if got := serverPid(t, dir); got == 0 || got == pid {
		t.Fatalf("server pid %d after the kill of %d", got, pid)
	}
	if st, _, err := second.Store.Load(ctx, "web"); err != nil || st.Seq != 1 {
		t.Fatalf("new client reads %+v, %v", st, err)
	}
	// The first client reconnects by itself, to the new server.
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st, _, err := first.Store.Load(ctx, "web")
		if err == nil && st.Seq == 1 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("the connected client did not recover: %+v, %v", st, err)
		}
	}
}

// TestLocalKilledClient: a client keeps the server running past the idle
// period while it lives; killed, it does not.
func TestLocalKilledClient(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := localDir(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const idle = 300 * time.Millisecond
	client := exec.Command(exe)
	client.Env = append(os.Environ(), roleEnv+"=client", dataEnv+"="+dir, idleEnv+"="+idle.String())
	out, err := client.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	client.Stderr = os.Stderr
	if err := client.Start(); err != nil {
		t.Fatal(err)
	}
	defer client.Process.Kill()
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "connected\n" {
		t.Fatalf("client says %q, %v", line, err)
	}
	pid := serverPid(t, dir)
	time.Sleep(4 * idle)
	if got := serverPid(t, dir); got != pid {
		t.Fatalf("server pid %d with a client connected past the idle period, want %d", got, pid)
	}
	if err := client.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	client.Wait()
	waitNoServer(t, dir, 10*time.Second)
}

// TestLocalManyClients: clients that find no server all at once start one
// between them, and all connect.
func TestLocalManyClients(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := localDir(t)
	var spawns atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			c, err := Open(context.Background(), Options{DataDir: dir, Spawn: spawner(dir, time.Second, &spawns)})
			if err != nil {
				errs <- err
				return
			}
			c.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// spawn.lock lets one client start the server; a second start can only
	// come from a client that found the first one not up in time.
	if n := spawns.Load(); n < 1 || n > 2 {
		t.Errorf("%d server starts for 20 clients, want one", n)
	}
}

// TestLocalStaleURL: nats.url left by a dead server names a port another NATS
// server now listens on. The client must not trust it: the server lock is
// free, so it starts the dir's own server.
func TestLocalStaleURL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	ctx := context.Background()
	other := localDir(t)
	srv, u, err := startServer(other, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	dir := localDir(t)
	if err := writeURL(dir, u); err != nil {
		t.Fatal(err)
	}
	c := openLocal(t, dir, time.Second, nil)
	defer c.Close()
	if _, err := c.Store.Commit(ctx, change("web", 1), 0); err != nil {
		t.Fatal(err)
	}
	if n := srv.NumClients(); n != 0 {
		t.Errorf("%d clients on the other data dir's server", n)
	}
	if serverPid(t, dir) == 0 {
		t.Error("no server holds the data dir")
	}
}

// TestLocalServerFails: a server that cannot start says why in nats.log, and
// the client reports that at once instead of waiting for it.
func TestLocalServerFails(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := localDir(t)
	_, err := Open(context.Background(), Options{DataDir: dir, LocalWait: time.Minute, Spawn: spawnRole("broken", dir, 0, nil)})
	want := fmt.Sprintf("could not start the NATS server for data dir %s: it exited (exit status 1): broken: on purpose; see %s, or use --nats-url or another --data",
		dir, filepath.Join(dir, "nats.log"))
	var e *engine.Error
	if !errors.As(err, &e) || e.Code != engine.Unavailable || e.Msg != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

// TestLocalIdle checks the idle rule with a fake clock: the server stops only
// once it has had no client for the idle period, and never while a client
// holds the clients lock.
func TestLocalIdle(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s, err := startLocal(context.Background(), LocalOptions{DataDir: dir, Idle: time.Minute, Now: func() time.Time { return t0 }, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			s.release()
		}
	}()
	if s.check(t0.Add(59 * time.Second)) {
		t.Fatal("stopped before the idle period")
	}
	client, err := tryLock(filepath.Join(dir, clientsLockFile), false)
	if err != nil {
		t.Fatal(err)
	}
	if s.check(t0.Add(2 * time.Minute)) {
		t.Fatal("stopped under a client holding the clients lock")
	}
	client.Unlock()
	if s.check(t0.Add(2*time.Minute + 59*time.Second)) {
		t.Fatal("stopped less than the idle period after the last client")
	}
	if stopped = s.check(t0.Add(3 * time.Minute)); !stopped {
		t.Fatal("still running after the idle period")
	}
	if s.srv.Running() {
		t.Error("the NATS server still runs")
	}
	if _, err := os.Stat(filepath.Join(dir, urlFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("nats.url after stopping: %v", err)
	}
	if held, _ := lockHeld(filepath.Join(dir, serverLockFile)); held {
		t.Error("the data dir is still locked")
	}
}

// TestLocalURLRewritten: a server whose nats.url is removed writes it again.
func TestLocalURLRewritten(t *testing.T) {
	dir := t.TempDir()
	s, err := startLocal(context.Background(), LocalOptions{DataDir: dir, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.release()
	before, err := os.ReadFile(filepath.Join(dir, urlFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, urlFile)); err != nil {
		t.Fatal(err)
	}
	if s.check(time.Now()) {
		t.Fatal("stopped")
	}
	if after, err := os.ReadFile(filepath.Join(dir, urlFile)); err != nil || string(after) != string(before) {
		t.Fatalf("nats.url after the check: %q, %v; want %q", after, err, before)
	}
}

// TestLocalDirRemoved: a server whose data dir is removed stops.
func TestLocalDirRemoved(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s, err := startLocal(context.Background(), LocalOptions{DataDir: dir, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if s.check(time.Now()) {
		t.Fatal("stopped at once")
	}
	if err := os.Rename(dir, dir+".old"); err != nil {
		t.Fatal(err)
	}
	if !s.check(time.Now()) {
		s.release()
		t.Fatal("still running with its data dir gone")
	}
}

var _ server.Logger = serverLog{}

// quiet is the log of in-process servers in tests.
var quiet = slog.New(slog.DiscardHandler)
