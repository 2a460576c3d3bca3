//go:build unix

package main

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// execConfig declares custom commands whose program first prints its pid,
// which is its process group's id, then outlives its welcome.
const execConfig = `
commands:
  - usage: hang
    exec:
      argv: [sh, -c, 'echo started $$; sleep 30 & sleep 30']
      timeout: 2s
  - usage: wait
    exec:
      argv: [sh, -c, 'echo started $$; sleep 30 & sleep 30']
      timeout: 1m
  - usage: hello
    exec:
      argv: [sh, -c, 'echo hello; echo world']
`

// TestExec runs the chatops binary, built from this package with its real
// main and signal handling, on custom commands that run real programs.
func TestExec(t *testing.T) {
	dir := t.TempDir()
	bin := chatopsBinary(t)
	config := filepath.Join(dir, "chatops.yaml")
	if err := os.WriteFile(config, []byte(execConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	chatops := func(t *testing.T, args ...string) *exec.Cmd {
		data := t.TempDir()
		t.Cleanup(func() { _ = stopLocalServer(data) }) // the data dir's server stops with the test
		cmd := exec.Command(bin, append([]string{"--config", config, "--data", data}, args...)...)
		cmd.Env = append(os.Environ(), "NO_COLOR=1")
		return cmd
	}

	t.Run("timeout", func(t *testing.T) {
		p := start(t, chatops(t, "hang"))
		pgid := p.started(t)
		code, took := p.wait(t)
		t.Logf("chatops returned %v after it started, %v after the program did", took, time.Since(p.programStart))
		if code != 1 {
			t.Errorf("exit status %d, want 1", code)
		}
		if took >= 3*time.Second {
			t.Errorf("returned after %v, want within 3s", took)
		}
		p.wantStderr(t, "error: hang failed: timed out after 2s; its processes were stopped")
		wantGroupGone(t, pgid)
	})

	// As a terminal does: chatops leads the foreground group, and Ctrl-C
	// sends SIGINT to that whole group, closing the terminal SIGHUP.
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := chatops(t, "wait")
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			p := start(t, cmd)
			pgid := p.started(t)
			signalled := time.Now()
			if err := syscall.Kill(-cmd.Process.Pid, sig); err != nil {
				t.Fatal(err)
			}
			code, _ := p.wait(t)
			took := time.Since(signalled)
			t.Logf("chatops returned %v after %v", took, sig)
			if code != 1 {
				t.Errorf("exit status %d, want 1", code)
			}
			if took >= 3*time.Second {
				t.Errorf("returned after %v, want within 3s", took)
			}
			p.wantStderr(t, "error: wait failed: cancelled; its processes were stopped")
			wantGroupGone(t, pgid)
		})
	}

	t.Run("output once on one terminal or file", func(t *testing.T) {
		out, err := os.Create(filepath.Join(t.TempDir(), "out"))
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		cmd := chatops(t, "hello")
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(out.Name())
		if string(got) != "hello\nworld\n" {
			t.Errorf("printed %q, want the output once", got)
		}
	})

	t.Run("output on stdout and as progress on stderr", func(t *testing.T) {
		var stdout, stderr strings.Builder
		cmd := chatops(t, "hello")
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		if stdout.String() != "hello\nworld\n" || stderr.String() != "hello\nworld\n" {
			t.Errorf("stdout %q, stderr %q; want the output on each", stdout.String(), stderr.String())
		}
	})
}

// process is a running chatops whose stderr is read line by line.
type process struct {
	cmd          *exec.Cmd
	begun        time.Time
	programStart time.Time
	lines        chan string
	stderr       []string
}

func start(t *testing.T, cmd *exec.Cmd) *process {
	t.Helper()
	// A pipe of ours rather than one os/exec copies from: Wait must not wait
	// for whatever else inherited chatops's stderr.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = w
	p := &process{cmd: cmd, begun: time.Now(), lines: make(chan string, 100)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		r.Close()
	})
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	return p
}

// started waits for the program to say it started and returns its pid.
func (p *process) started(t *testing.T) int {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("chatops ended before the program started: %q", p.stderr)
			}
			p.stderr = append(p.stderr, l)
			if pid, ok := strings.CutPrefix(l, "started "); ok {
				p.programStart = time.Now()
				n, err := strconv.Atoi(pid)
				if err != nil {
					t.Fatal(err)
				}
				if pgid, err := syscall.Getpgid(n); err != nil || pgid != n {
					t.Fatalf("the program %d is in group %d (%v), want a group of its own", n, pgid, err)
				}
				return n
			}
		case <-timeout:
			t.Fatalf("the program did not start within 30s: %q", p.stderr)
		}
	}
}

// wait waits for chatops to exit and returns its exit status and how long it
// ran.
func (p *process) wait(t *testing.T) (int, time.Duration) {
	t.Helper()
	err := p.cmd.Wait()
	took := time.Since(p.begun)
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	drain := time.After(time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				return p.cmd.ProcessState.ExitCode(), took
			}
			p.stderr = append(p.stderr, l)
		case <-drain:
			return p.cmd.ProcessState.ExitCode(), took
		}
	}
}

func (p *process) wantStderr(t *testing.T, line string) {
	t.Helper()
	for _, l := range p.stderr {
		if l == line {
			return
		}
	}
	t.Errorf("stderr %q, want the line %q", p.stderr, line)
}

// wantGroupGone checks that no process of group pgid is left, not even a
// zombie.
func wantGroupGone(t *testing.T, pgid int) {
	t.Helper()
	if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process group %d still has processes (kill -0: %v)", pgid, err)
	}
}
