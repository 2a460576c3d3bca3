package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tmuxShell is chatops shell running in a detached tmux session of its own
// server, 80×24.
type tmuxShell struct {
	t      *testing.T
	socket string
}

func startTmuxShell(t *testing.T) *tmuxShell {
	t.Helper()
	if testing.Short() {
		t.Skip("drives the real binary in tmux")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed")
	}
	bin, dir := chatopsBinary(t), t.TempDir()
	s := &tmuxShell{t: t, socket: "chatops-test-" + filepath.Base(dir)}
	env := []string{"CHATOPS_DATA=" + filepath.Join(dir, "data"), "CHATOPS_CONFIG=", "XDG_CONFIG_HOME=" + filepath.Join(dir, "cfg"),
		"CHATOPS_LOCAL_IDLE=2s", "NO_COLOR=1", "TERM=xterm-256color", "HOME=" + dir}
	args := []string{"-L", s.socket, "new-session", "-d", "-x", "80", "-y", "24", "-c", dir, "env"}
	args = append(append(args, env...), bin, "shell")
	if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		_ = exec.Command("tmux", "-L", s.socket, "kill-server").Run()
		_ = stopLocalServer(filepath.Join(dir, "data"))
	})
	s.wait("the prompt", func(screen string) bool { return strings.Contains(screen, ">") })
	return s
}

// keys sends tmux key names (Tab, Enter, C-c) or literal text.
func (s *tmuxShell) keys(keys ...string) {
	s.t.Helper()
	if out, err := exec.Command("tmux", append([]string{"-L", s.socket, "send-keys"}, keys...)...).CombinedOutput(); err != nil {
		s.t.Fatalf("send-keys: %v\n%s", err, out)
	}
}

func (s *tmuxShell) screen() string {
	out, err := exec.Command("tmux", "-L", s.socket, "capture-pane", "-p").Output()
	if err != nil {
		s.t.Fatalf("capture-pane: %v", err)
	}
	return string(out)
}

// wait polls the screen until ok holds, for at most 10 s.
func (s *tmuxShell) wait(what string, ok func(screen string) bool) string {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		screen := s.screen()
		if ok(screen) {
			return screen
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: not on the screen within 10 s:\n%s", what, screen)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *tmuxShell) waitFor(text string) string {
	s.t.Helper()
	return s.wait(strings.TrimSpace(text), func(screen string) bool { return strings.Contains(screen, text) })
}

// TestShellInTmux drives chatops shell as a person would, in tmux:
// completion by Tab, a diagnostic before Enter, and a promote confirmed in
// the dialog that info then shows.
func TestShellInTmux(t *testing.T) {
	s := startTmuxShell(t)
	s.keys("pro", "Tab", "de", "Tab", "fr", "Tab")
	s.waitFor("promote demo from") // capture-pane drops the trailing space
	s.keys("C-u")
	s.keys("-l", "promote demo form")
	s.waitFor(`did you mean "from"`)
	s.keys("C-u")
	s.keys("-l", "promote demo")
	s.keys("Enter")
	s.waitFor("1.1.0 → 1.2.0")
	s.keys("y")
	s.waitFor("Promoted demo 1.2.0 from staging to production.")
	s.keys("-l", "info demo")
	s.keys("Enter")
	s.wait("production at 1.2.0", func(screen string) bool {
		for _, l := range strings.Split(screen, "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "production" && f[1] == "1.2.0" {
				return true
			}
		}
		return false
	})
	s.keys("C-d")
}
