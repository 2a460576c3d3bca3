package shell_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/chatops/chatops/adapters/terminal/shell"
	"github.com/chatops/chatops/engine"
)

// screen is what a program wrote, safe to read while it writes.
type screen struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitFor waits until the screen shows want.
func (s *screen) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(s.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the screen never showed %q:\n%q", want, s.String())
		}
		time.Sleep(5 * time.Millisecond) // polls the output; asserts nothing on time
	}
}

// TestProgram runs the shell as a terminal program, 80×24 and without
// colour: completion, a confirmed promote, and Ctrl-D.
func TestProgram(t *testing.T) {
	eng := newEngine(t, "")
	m, err := shell.New(t.Context(), shell.Options{
		Engine: eng, Actor: eng.Identify(engine.SourceTerminal, "alice"), Values: eng.Config.Values(),
	})
	if err != nil {
		t.Fatal(err)
	}
	in, keys := io.Pipe()
	out := &screen{}
	p := tea.NewProgram(m, tea.WithInput(in), tea.WithOutput(out), tea.WithContext(t.Context()))
	done := make(chan error, 1)
	go func() {
		_, err := p.Run()
		m.Wait()
		done <- err
	}()
	p.Send(tea.WindowSizeMsg{Width: 80, Height: 24})
	typeKeys := func(s string) {
		t.Helper()
		if _, err := io.WriteString(keys, s); err != nil {
			t.Fatal(err)
		}
	}

	typeKeys("pro\t")
	out.waitFor(t, "> promote ")
	typeKeys("de\t")
	out.waitFor(t, "> promote demo ")
	typeKeys("\r")
	out.waitFor(t, "[y/N]")
	typeKeys("y")
	out.waitFor(t, "Promoted")
	typeKeys("\x04")
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Ctrl-D did not end the program")
	}
	screen := out.String()
	for _, colour := range []string{"\x1b[31m", "\x1b[2m", "\x1b[1m"} {
		if strings.Contains(screen, colour) {
			t.Errorf("coloured output (%q) without colour", colour)
		}
	}
	if !strings.Contains(screen, "Promote demo from staging to production (production: 1.1.0 → 1.2.0)? yes") {
		t.Errorf("the answer is not in the scrollback:\n%q", screen)
	}
}

// TestRunEndsWithContext runs shell.Run and ends it by its context.
func TestRunEndsWithContext(t *testing.T) {
	eng := newEngine(t, "")
	in, keys := io.Pipe()
	defer keys.Close()
	out := &screen{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- shell.Run(ctx, shell.Options{Engine: eng, Actor: eng.Identify(engine.SourceTerminal, "alice")},
			tea.WithInput(in), tea.WithOutput(out))
	}()
	io.WriteString(keys, "whoami")
	out.waitFor(t, "> whoami")
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run ended by its context: %v, want nil", err)
	}
}
