package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	natsadapter "github.com/chatops/chatops/adapters/nats"
)

// The tests here run the real chatops binary, many at once, on one data dir.
// They build it first (a few seconds), so -short skips them.

// chatopsRunner runs the binary on one data dir.
type chatopsRunner struct {
	bin, data, work string
	env             []string
}

func newRunner(tb testing.TB, bin string) *chatopsRunner {
	tb.Helper()
	work := tb.TempDir()
	r := &chatopsRunner{bin: bin, data: filepath.Join(work, "data"), work: work}
	r.env = append(os.Environ(), "CHATOPS_DATA="+r.data, "CHATOPS_LOCAL_IDLE=5s", "NO_COLOR=1", "CHATOPS_CONFIG=", "CHATOPS_NATS_URL=")
	tb.Cleanup(func() {
		if err := stopLocalServer(r.data); err != nil {
			tb.Error(err)
		}
	})
	return r
}

// outcome is what one process did.
type outcome struct {
	args           []string
	code           int
	took           time.Duration
	stdout, stderr string
}

func (r *chatopsRunner) cmd(args ...string) *exec.Cmd {
	cmd := exec.Command(r.bin, args...)
	cmd.Dir, cmd.Env = r.work, r.env
	return cmd
}

func (r *chatopsRunner) run(args ...string) outcome {
	cmd := r.cmd(args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	o := outcome{args: args, took: time.Since(start), stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		o.code = ee.ExitCode()
	case err != nil:
		o.code, o.stderr = -1, err.Error()
	}
	return o
}

// must runs a command that has to succeed and decodes its JSON output.
func (r *chatopsRunner) must(t *testing.T, v any, args ...string) {
	t.Helper()
	o := r.run(args...)
	if o.code != 0 {
		t.Fatalf("chatops %s: exit %d\n%s%s", strings.Join(args, " "), o.code, o.stdout, o.stderr)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(o.stdout), v); err != nil {
			t.Fatalf("chatops %s: %v\n%s", strings.Join(args, " "), err, o.stdout)
		}
	}
}

// stopLocalServer stops the data dir's local server, if one runs, and waits
// for it to go: a test must not remove a data dir under a running server.
func stopLocalServer(data string) error {
	pid := natsadapter.LocalServerPid(data)
	if pid == 0 {
		return nil
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return nil
	}
	if p.Signal(syscall.SIGTERM) != nil {
		p.Kill()
	}
	for end := time.Now().Add(10 * time.Second); natsadapter.LocalServerPid(data) == pid; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			p.Kill()
			return fmt.Errorf("the local server (pid %d) did not stop within 10s of SIGTERM", pid)
		}
	}
	return nil
}

// TestProcesses runs the real binary as separate processes on one data dir.
func TestProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds chatops and runs hundreds of processes")
	}
	bin := chatopsBinary(t)
	t.Run("killed server", func(t *testing.T) { testKilledServer(t, bin) })
	t.Run("killed serve", func(t *testing.T) { testKilledServe(t, bin) })
	t.Run("many", func(t *testing.T) { testMany(t, bin) })
}

// testKilledServer: SIGKILL of the local server is recovered by the next
// command, which starts a new one.
func testKilledServer(t *testing.T, bin string) {
	r := newRunner(t, bin)
	r.must(t, nil, "promote", "demo", "--yes")
	pid := natsadapter.LocalServerPid(r.data)
	p, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatalf("killing the local server (pid %d): %v", pid, err)
	}
	var info map[string]any
	r.must(t, &info, "info", "demo", "-o", "json")
	if got := natsadapter.LocalServerPid(r.data); got == pid || got == 0 {
		t.Fatalf("server pid %d after killing %d", got, pid)
	}
	var rels []map[string]any
	r.must(t, &rels, "releases", "demo", "-o", "json")
	if len(rels) == 0 || rels[0]["action"] != "promote" {
		t.Fatalf("production's releases after the kill: %v", rels)
	}
}

// testKilledServe: chatops serve on a data dir no process serves runs the
// server itself; SIGKILL of it leaves the next command to start the local
// server, and a restarted serve uses that one. A killed local server under a
// running serve is replaced and serve reconnects.
func testKilledServe(t *testing.T, bin string) {
	r := newRunner(t, bin)
	r.env = append(r.env, "SLACK_SIGNING_SECRET=test-secret")
	startServe := func() (*exec.Cmd, string) {
		t.Helper()
		cmd := r.cmd("serve", "--addr", "127.0.0.1:0", "--workers", "1")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		line, err := bufio.NewReader(out).ReadString('\n')
		addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
		if err != nil || !ok {
			t.Fatalf("serve says %q, %v", line, err)
		}
		return cmd, addr
	}
	ready := func(addr string) {
		t.Helper()
		for end := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			resp, err := http.Get(addr + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return
				}
			}
			if time.Now().After(end) {
				t.Fatalf("%s/readyz: %v, %v", addr, resp, err)
			}
		}
	}
	serve, addr := startServe()
	ready(addr)
	if got := natsadapter.LocalServerPid(r.data); got != serve.Process.Pid {
		t.Fatalf("the data dir is served by pid %d, want serve's own %d", got, serve.Process.Pid)
	}
	serve.Process.Kill()
	serve.Wait()
	r.must(t, nil, "info", "demo")
	pid := natsadapter.LocalServerPid(r.data)
	if pid == 0 || pid == serve.Process.Pid {
		t.Fatalf("server pid %d after serve (%d) was killed and a command ran", pid, serve.Process.Pid)
	}
	_, addr = startServe()
	ready(addr)
	if got := natsadapter.LocalServerPid(r.data); got != pid {
		t.Fatalf("restarted serve uses server %d, want %d", got, pid)
	}
	p, _ := os.FindProcess(pid)
	p.Kill()
	for end := time.Now().Add(20 * time.Second); natsadapter.LocalServerPid(r.data) == pid; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("no new server after the kill")
		}
	}
	ready(addr)
	r.must(t, nil, "info", "demo")
}

// testMany is the acceptance test of many processes on one data dir: 200
// release, promote and rollback commands, 50 at a time, on a fresh data dir.
// Every process exits 0, or non-zero having changed nothing; the release
// history holds exactly the changes of the processes that exited 0; the audit
// holds one record per process.
func testMany(t *testing.T, bin string) {
	const total, parallel = 200, 50
	r := newRunner(t, bin)
	args := make([][]string, total)
	for i := range args {
		switch i % 4 {
		case 0, 2:
			args[i] = []string{"release", "demo", fmt.Sprintf("2.0.%d", i), "--yes", "-o", "json"}
		case 1:
			args[i] = []string{"promote", "demo", "--yes", "-o", "json"}
		case 3:
			args[i] = []string{"rollback", "demo", "--yes", "-o", "json"}
		}
	}
	outs := make([]outcome, total)
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range parallel {
		wg.Go(func() {
			for i := range next {
				outs[i] = r.run(args[i]...)
			}
		})
	}
	for i := range args {
		next <- i
	}
	close(next)
	wg.Wait()
	wall := time.Since(start)

	took := make([]time.Duration, total)
	codes := map[int]int{}
	for i, o := range outs {
		took[i] = o.took
		codes[o.code]++
	}
	slices.Sort(took)
	t.Logf("%d commands at parallelism %d: wall %v, per command p50 %v, p99 %v, max %v; exit statuses %v",
		total, parallel, wall.Round(time.Millisecond), took[total/2].Round(time.Millisecond),
		took[total*99/100].Round(time.Millisecond), took[total-1].Round(time.Millisecond), codes)

	// No process fails for want of the data dir: a non-zero exit is the
	// command's own answer (a conflict), never an unreachable store.
	for _, o := range outs {
		if o.code != 0 && o.code != 4 {
			t.Errorf("chatops %s: exit %d\n%s%s", strings.Join(o.args, " "), o.code, o.stdout, o.stderr)
		}
	}

	// What each process says it did.
	released := map[string]bool{} // version → exit 0
	var promoted, promoteOK, rolledBack, rollbackOK int
	for _, o := range outs {
		switch o.args[0] {
		case "release":
			released[o.args[2]] = o.code == 0
		case "promote":
			promoteOK += b2i(o.code == 0)
			var res struct{ Summary string }
			if o.code == 0 && json.Unmarshal([]byte(o.stdout), &res) == nil && strings.HasPrefix(res.Summary, "Promoted") {
				promoted++
			}
		case "rollback":
			if o.code == 0 {
				rolledBack++
				rollbackOK++
			}
		}
	}

	// The audit first: the reads below are commands too, and are audited.
	var audit []struct {
		Command, Outcome string
	}
	r.must(t, &audit, "audit", "-o", "json", "--limit", "10000")
	var dev, prod []struct{ Version, Action string }
	r.must(t, &dev, "releases", "demo", "in", "development", "--limit", "1000", "-o", "json")
	r.must(t, &prod, "releases", "demo", "in", "production", "--limit", "1000", "-o", "json")

	t.Run("history", func(t *testing.T) {
		seen := map[string]int{}
		for _, rel := range dev {
			if rel.Action == "release" {
				seen[rel.Version]++
			}
		}
		for v, ok := range released {
			switch {
			case ok && seen[v] != 1:
				t.Errorf("release %s exited 0 and is in the history %d times", v, seen[v])
			case !ok && seen[v] != 0:
				t.Errorf("release %s exited non-zero and is in the history %d times", v, seen[v])
			}
		}
		for v := range seen {
			if _, ok := released[v]; !ok {
				t.Errorf("the history holds %s, which no command released", v)
			}
		}
		var p, rb int
		for _, rel := range prod {
			switch rel.Action {
			case "promote":
				p++
			case "rollback":
				rb++
			}
		}
		if p != promoted || rb != rolledBack {
			t.Errorf("production's history: %d promotions and %d rollbacks; processes that exited 0 made %d and %d", p, rb, promoted, rolledBack)
		}
	})

	t.Run("audit", func(t *testing.T) {
		if len(audit) != total {
			t.Errorf("%d audit records for %d processes", len(audit), total)
		}
		byCommand := map[string]int{}
		okBy := map[string]int{}
		for _, rec := range audit {
			byCommand[rec.Command]++
			if rec.Outcome == "ok" {
				okBy[rec.Command]++
			}
		}
		for v, ok := range released {
			cmd := "release demo " + v
			if byCommand[cmd] != 1 || (okBy[cmd] == 1) != ok {
				t.Errorf("%q: %d audit records, %d ok; the process exited ok=%v", cmd, byCommand[cmd], okBy[cmd], ok)
			}
		}
		if n := byCommand["promote demo"]; n != total/4 || okBy["promote demo"] != promoteOK {
			t.Errorf("promote demo: %d audit records (%d ok) for %d processes (%d exited 0)", n, okBy["promote demo"], total/4, promoteOK)
		}
		if n := byCommand["rollback demo"]; n != total/4 || okBy["rollback demo"] != rollbackOK {
			t.Errorf("rollback demo: %d audit records (%d ok) for %d processes (%d exited 0)", n, okBy["rollback demo"], total/4, rollbackOK)
		}
	})
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// BenchmarkPromote times chatops promote demo --yes as a process, as a
// person runs it: cold (no local server runs yet: this command starts it),
// warm (a server runs), and beside a live chatops serve. Each reports its
// median as p50-ms:
//
//	go test ./cmd/chatops -run '^$' -bench Promote -benchtime 50x
func BenchmarkPromote(b *testing.B) {
	bin := chatopsBinary(b)
	r := newRunner(b, bin)
	promote := func(b *testing.B) time.Duration {
		o := r.run("promote", "demo", "--yes")
		if o.code != 0 {
			b.Fatalf("exit %d: %s%s", o.code, o.stdout, o.stderr)
		}
		return o.took
	}
	median := func(b *testing.B, d []time.Duration) {
		slices.Sort(d)
		b.ReportMetric(float64(d[len(d)/2])/float64(time.Millisecond), "p50-ms")
	}
	b.Run("cold", func(b *testing.B) {
		var d []time.Duration
		for b.Loop() {
			b.StopTimer()
			if err := stopLocalServer(r.data); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			d = append(d, promote(b))
		}
		median(b, d)
	})
	b.Run("warm", func(b *testing.B) {
		promote(b)
		var d []time.Duration
		for b.Loop() {
			d = append(d, promote(b))
		}
		median(b, d)
	})
	b.Run("beside serve", func(b *testing.B) {
		serve := r.cmd("serve", "--addr", "127.0.0.1:0", "--workers", "1")
		serve.Env = append(serve.Env, "SLACK_SIGNING_SECRET=bench")
		if err := serve.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() { serve.Process.Kill(); serve.Wait() }()
		promote(b)
		var d []time.Duration
		for b.Loop() {
			d = append(d, promote(b))
		}
		median(b, d)
	})
}
