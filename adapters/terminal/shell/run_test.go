package shell_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/chatops/chatops/adapters/terminal/shell"
)

func TestHistory(t *testing.T) {
	eng := newEngine(t, "")
	file := filepath.Join(t.TempDir(), "state", "shell_history")
	h := newHarness(t, eng, file)
	for _, line := range []string{"pipelines", "info demo", "whoami"} {
		h.typ(line)
		h.key(tea.KeyEnter)
		h.until("ran "+line, func() bool { return !strings.Contains(h.m.View(), "Ctrl-C cancels") })
	}

	h.key(tea.KeyUp)
	if got := h.line(); got != "> whoami" {
		t.Errorf("↑: %q, want the last line", got)
	}
	h.key(tea.KeyUp)
	if got := h.line(); got != "> info demo" {
		t.Errorf("↑↑: %q, want the one before", got)
	}
	h.key(tea.KeyDown)
	h.key(tea.KeyDown)
	if got := h.line(); got != ">" {
		t.Errorf("↓↓: %q, want the empty line typed", got)
	}

	h.key(tea.KeyCtrlR)
	h.typ("pipe")
	if got := h.line(); got != "(reverse-i-search)`pipe': pipelines" {
		t.Errorf("Ctrl-R pipe: %q", got)
	}
	h.key(tea.KeyEnter) // takes the match to the prompt; runs nothing
	if got := h.line(); got != "> pipelines" {
		t.Errorf("after the search: %q, want the match at the prompt", got)
	}

	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if want := "pipelines\ninfo demo\nwhoami\n"; string(data) != want {
		t.Errorf("history file %q, want %q", data, want)
	}
	if fi, err := os.Stat(file); err == nil && fi.Mode().Perm() != 0o600 {
		t.Errorf("history file mode %v, want 0600", fi.Mode().Perm())
	}

	next := newHarness(t, eng, file)
	next.key(tea.KeyUp)
	if got := next.line(); got != "> whoami" {
		t.Errorf("a new shell's ↑: %q, want the last line of the last shell", got)
	}
}

func TestHistoryTrimmed(t *testing.T) {
	file := filepath.Join(t.TempDir(), "shell_history")
	if err := os.WriteFile(file, []byte("a\nb\nc\nd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := shell.LoadHistory(file, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(h.Entries(), " "); got != "c d" {
		t.Errorf("entries %q, want the last two", got)
	}
	if err := h.Add("d"); err != nil { // a repeat is not kept twice
		t.Fatal(err)
	}
	if err := h.Add("e"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(file)
	if string(data) != "c\nd\ne\n" {
		t.Errorf("file %q", data)
	}
}

func TestRun(t *testing.T) {
	eng := newEngine(t, "")
	h := newHarness(t, eng, "")
	h.typ("info demo")
	h.key(tea.KeyEnter)
	h.until("printed the result", func() bool { return strings.Contains(h.output(), "1.2.0") })
	out := h.output()
	for _, want := range []string{"> info demo", "staging", "production"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestHelp(t *testing.T) {
	eng := newEngine(t, "")
	tests := []struct {
		line string
		want string
	}{
		{"help", "Commands:"},
		{"help promote", "usage: promote[!] <pipeline>"},
		{"help nope", `unknown command "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			h := newHarness(t, eng, "")
			h.typ(tt.line)
			h.key(tea.KeyEnter)
			h.until("printed "+tt.want, func() bool { return strings.Contains(h.output(), tt.want) })
			// Wrapped to the window, or the renderer loses count of lines.
			for _, line := range strings.Split(h.output(), "\n") {
				if n := utf8.RuneCountInString(line); n > 80 {
					t.Errorf("line of %d characters in 80 columns: %q", n, line)
				}
			}
		})
	}
}

func TestCancel(t *testing.T) {
	eng := newEngine(t, waitConfig)
	b := &blocker{started: make(chan struct{}), ended: make(chan error, 1)}
	eng.Runner = b
	h := newHarness(t, eng, "")
	h.typ("wait")
	h.key(tea.KeyEnter)
	h.until("printed progress", func() bool { return strings.Contains(h.output(), "waiting") })
	<-b.started
	if v := h.m.View(); !strings.Contains(v, "wait  (Ctrl-C cancels)") {
		t.Errorf("view while running:\n%s", v)
	}
	h.key(tea.KeyCtrlC)
	if err := <-b.ended; !errors.Is(err, context.Canceled) {
		t.Errorf("the command's context ended with %v, want context.Canceled", err)
	}
	h.until("back at the prompt", func() bool { return h.line() == ">" })
	if out := h.output(); !strings.Contains(out, "Cancelled.") {
		t.Errorf("output lacks Cancelled.:\n%s", out)
	}
	// The shell is still there: Ctrl-C cancelled the command, not the shell.
	h.typ("whoami")
	if got := h.line(); got != "> whoami" {
		t.Errorf("after cancelling: %q", got)
	}
}

func TestCtrlCAndCtrlD(t *testing.T) {
	eng := newEngine(t, "")
	h := newHarness(t, eng, "")
	h.typ("promote demo")
	h.key(tea.KeyCtrlC)
	if got := h.line(); got != ">" {
		t.Errorf("Ctrl-C on a line: %q, want it cleared", got)
	}
	h.key(tea.KeyCtrlC)
	if v := h.m.View(); !strings.Contains(v, "Press Ctrl-D to leave.") {
		t.Errorf("Ctrl-C on an empty line: %q, want the way out", v)
	}
	h.typ("x")
	_, cmd := h.m.Update(tea.KeyMsg{Type: tea.KeyCtrlD})
	if cmd != nil {
		t.Errorf("Ctrl-D on a line quits")
	}
	h.key(tea.KeyCtrlU)
	_, cmd = h.m.Update(tea.KeyMsg{Type: tea.KeyCtrlD})
	if cmd == nil || cmd() != tea.Quit() {
		t.Errorf("Ctrl-D on an empty line does not quit")
	}
	if v := h.m.View(); v != "" {
		t.Errorf("view after quitting %q, want it cleared", v)
	}
}

func TestConfirm(t *testing.T) {
	const question = "Promote demo from staging to production (production: 1.1.0 → 1.2.0)?"
	tests := []struct {
		answer  string
		want    string
		version string // production's afterwards
	}{
		{"y", question + " yes", "1.2.0"},
		{"n", question + " no\nCancelled.", "1.1.0"},
	}
	for _, tt := range tests {
		t.Run(tt.answer, func(t *testing.T) {
			eng := newEngine(t, "")
			h := newHarness(t, eng, "")
			h.typ("promote demo")
			h.key(tea.KeyEnter)
			h.until("asked", func() bool { return strings.HasPrefix(h.m.View(), "Promote") })
			if got := h.m.View(); got != question+" [y/N] " {
				t.Errorf("dialog %q", got)
			}
			h.typ(tt.answer)
			h.until("back at the prompt", func() bool { return h.line() == ">" })
			if !strings.Contains(h.output(), tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, h.output())
			}
			h.typ("info demo")
			h.key(tea.KeyEnter)
			info := func() string { out := h.output(); return out[strings.LastIndex(out, "> info demo"):] }
			h.until("printed info", func() bool { return strings.Contains(info(), "production") })
			if got := version(info(), "production"); got != tt.version {
				t.Errorf("production not at %s:\n%s", tt.version, info())
			}
		})
	}
}

// version is the version column of stage in info's table.
func version(info, stage string) string {
	for _, line := range strings.Split(info, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == stage {
			return f[1]
		}
	}
	return ""
}
