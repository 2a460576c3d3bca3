package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

var heldLine = regexp.MustCompile(`msg="periodic work" held=(true|false) process=\S+/(\d+)`)

// holders reads which processes said they took (or lost) the periodic lease,
// from a serve log.
func holders(t *testing.T, log string) (took []string) {
	t.Helper()
	data, err := os.ReadFile(log)
	if err != nil {
		return nil
	}
	for _, m := range heldLine.FindAllStringSubmatch(string(data), -1) {
		if m[1] == "true" {
			took = append(took, m[2])
		}
	}
	return took
}

// TestLeaseMovesOnKill: of two workers, one runs the periodic work; killed
// with SIGKILL, the other takes it over within the lease's TTL.
func TestLeaseMovesOnKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts chatops serve")
	}
	bin := chatopsBinary(t)
	dir := t.TempDir()
	t.Cleanup(func() { _ = stopLocalServer(filepath.Join(dir, "data")) })
	if err := os.WriteFile(filepath.Join(dir, "chatops.yaml"), []byte(crashConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	const ttl = 2 * time.Second
	var procs []*serveProc
	for _, name := range []string{"a", "b"} {
		sub := filepath.Join(dir, name)
		if err := os.MkdirAll(sub, 0o700); err != nil {
			t.Fatal(err)
		}
		// Each its own log, one data dir: CHATOPS_DATA names it.
		p, err := launchServeEnv(bin, sub, []string{"CHATOPS_DATA=" + filepath.Join(dir, "data"), "CHATOPS_CONFIG=" + filepath.Join(dir, "chatops.yaml")},
			"--role", "worker", "--addr", "127.0.0.1:0", "--lease-ttl", ttl.String())
		if err != nil {
			log, _ := os.ReadFile(filepath.Join(sub, "serve.log"))
			t.Fatalf("%v\n%s", err, log)
		}
		t.Cleanup(func() { _ = p.cmd.Process.Kill(); _, _ = p.cmd.Process.Wait() })
		procs = append(procs, p)
	}
	logs := []string{filepath.Join(dir, "a", "serve.log"), filepath.Join(dir, "b", "serve.log")}
	var holder int
	deployWait(t, 10*time.Second, "a holder", func() bool {
		for i, l := range logs {
			if len(holders(t, l)) > 0 {
				holder = i
				return true
			}
		}
		return false
	})
	other := 1 - holder
	if n := len(holders(t, logs[other])); n != 0 {
		t.Fatalf("both processes hold the lease")
	}
	killed := time.Now()
	if err := procs[holder].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = procs[holder].cmd.Process.Wait()
	deployWait(t, 5*ttl, "the other process taking the lease", func() bool { return len(holders(t, logs[other])) > 0 })
	moved := time.Since(killed)
	t.Logf("lease TTL %v: periodic work moved to the other process %v after SIGKILL of its holder", ttl, moved.Round(10*time.Millisecond))
	// The key expires at most the TTL after the holder's last renewal; the
	// survivor looks every tenth of it.
	if moved > ttl+ttl/5 {
		t.Errorf("periodic work moved %v after its holder died, more than the TTL %v (and the survivor's look)", moved, ttl)
	}
	log, _ := os.ReadFile(logs[other])
	if strings.Count(string(log), "held=true") != 1 {
		t.Errorf("the survivor took the lease more than once:\n%s", log)
	}
}
