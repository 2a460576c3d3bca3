package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestDemoNoticeOnTerminal: on a terminal, a run with no config says once on
// stderr that it uses the built-in demo, even when it reads the config twice
// (a command's --help does). The terminal is a pseudo-terminal from
// script(1).
func TestDemoNoticeOnTerminal(t *testing.T) {
	if testing.Short() || runtime.GOOS != "linux" {
		t.Skip("builds chatops and needs script(1) from util-linux")
	}
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("no script(1)")
	}
	bin, dir := chatopsBinary(t), t.TempDir()
	run := func(args string) string {
		cmd := exec.Command("script", "-qec", bin+" "+args, os.DevNull)
		cmd.Dir = dir
		// TERM=dumb: script(1) has no terminal behind it to answer the colour
		// query every process linking bubbletea v1 makes at start (5 s each).
		cmd.Env = append(os.Environ(), "CHATOPS_CONFIG=", "XDG_CONFIG_HOME="+filepath.Join(dir, "none"), "NO_COLOR=1", "TERM=dumb")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("chatops %s: %v\n%s", args, err, out)
		}
		return strings.ReplaceAll(string(out), "\r\n", "\n")
	}
	const notice = "chatops: no config found (--config, $CHATOPS_CONFIG, ./chatops.yaml, "
	out := run("promote --help")
	if n := strings.Count(out, notice); n != 1 || !strings.Contains(out, "): using the built-in demo\n") || !strings.Contains(out, "usage: promote") {
		t.Errorf("the notice appears %d times in:\n%s", n, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "chatops.yaml"), []byte("pipelines:\n  - {name: web, stages: [a, b]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := run("help"); strings.Contains(out, notice) {
		t.Errorf("with ./chatops.yaml, the notice still appears:\n%s", out)
	}
}
