package shell_test

import (
	"context"
	"flag"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	natsadapter "github.com/chatops/chatops/adapters/nats"
	"github.com/chatops/chatops/adapters/terminal"
	"github.com/chatops/chatops/adapters/terminal/shell"
	"github.com/chatops/chatops/engine"
)

// The package has no golden files; the flag is there because every test
// binary of the module accepts it.
var _ = flag.Bool("update", false, "rewrite golden files (none here)")

// waitConfig is the demo with a command whose program runs until cancelled.
const waitConfig = `
pipelines:
  - name: demo
    stages: [development, staging, production]
    seed: {development: 1.3.0, staging: 1.2.0, production: 1.1.0}
policy:
  stages:
    - stage: production
      confirm: true
commands:
  - usage: "wait"
    summary: Wait until cancelled.
    exec:
      argv: [wait]
`

// blocker is a Runner that says it started, then waits for its context.
type blocker struct {
	started chan struct{}
	ended   chan error
}

func (b *blocker) Run(ctx context.Context, _ engine.ExecSpec, progress func(string)) error {
	progress("waiting")
	close(b.started)
	<-ctx.Done()
	b.ended <- ctx.Err()
	return ctx.Err()
}

// newEngine is an engine over a local JetStream in a temporary data dir.
func newEngine(t testing.TB, yaml string) *engine.Engine {
	t.Helper()
	cfg := engine.DemoConfig()
	if yaml != "" {
		var err error
		if cfg, err = engine.ParseConfig("test", []byte(yaml)); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := natsadapter.Open(context.Background(), natsadapter.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	e, err := engine.New(cfg, conn.Store, conn.Audit, conn.Jobs)
	if err != nil {
		t.Fatal(err)
	}
	e.History = conn.History
	return e
}

// harness drives a Model as a program would: it runs the commands Update
// returns and feeds their messages back, and keeps what was printed.
type harness struct {
	t    *testing.T
	m    *shell.Model
	msgs chan tea.Msg

	mu      sync.Mutex
	printed []string
}

func newHarness(t *testing.T, eng *engine.Engine, historyFile string, with ...func(*shell.Options)) *harness {
	t.Helper()
	h := &harness{t: t, msgs: make(chan tea.Msg, 100)}
	opts := shell.Options{
		Engine:      eng,
		Actor:       eng.Identify(engine.SourceTerminal, "alice"),
		Values:      eng.Config.Values(),
		HistoryFile: historyFile,
		Print: func(text string) tea.Cmd {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.printed = append(h.printed, text)
			return nil
		},
	}
	for _, f := range with {
		f(&opts)
	}
	m, err := shell.New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Wait)
	h.m = m
	h.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	return h
}

// send updates the model with msg and runs what it returns.
func (h *harness) send(msg tea.Msg) {
	h.t.Helper()
	_, cmd := h.m.Update(msg)
	h.run(cmd)
}

func (h *harness) run(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	go func() {
		msg := cmd()
		if batch, ok := msg.(tea.BatchMsg); ok {
			for _, c := range batch {
				h.run(c)
			}
			return
		}
		if msg == nil {
			return
		}
		select {
		case h.msgs <- msg:
		case <-h.t.Context().Done():
		}
	}()
}

// until feeds messages to the model until cond holds.
func (h *harness) until(what string, cond func() bool) {
	h.t.Helper()
	timeout := time.After(20 * time.Second)
	for !cond() {
		select {
		case msg := <-h.msgs:
			h.send(msg)
		case <-timeout:
			h.t.Fatalf("never %s; view:\n%s\nprinted:\n%s", what, h.m.View(), h.output())
		}
	}
}

// typ types text, one key a rune as a terminal sends them.
func (h *harness) typ(text string) {
	h.t.Helper()
	for _, r := range text {
		if r == ' ' {
			h.send(tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}})
			continue
		}
		h.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
	}
}

func (h *harness) key(t tea.KeyType) {
	h.t.Helper()
	h.send(tea.KeyMsg{Type: t})
}

func (h *harness) output() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.printed, "\n")
}

// line is the prompt line of the view, without the cursor's styling.
func (h *harness) line() string {
	return strings.TrimRight(strings.SplitN(h.m.View(), "\n", 2)[0], " ")
}

func TestComplete(t *testing.T) {
	eng := newEngine(t, "")
	tests := []struct {
		name  string
		typed string
		want  string
		list  []string // candidates listed under the prompt
	}{
		{"command", "pro", "> promote", nil},
		{"pipeline", "promote de", "> promote demo", nil},
		{"keyword", "promote demo fr", "> promote demo from", nil},
		{"stage", "promote demo from st", "> promote demo from staging", nil},
		{"several share a prefix", "r", "> r", []string{"release", "releases", "rollback", "route"}},
		{"common prefix", "rel", "> release", []string{"release", "releases"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, eng, "")
			h.typ(tt.typed)
			h.key(tea.KeyTab)
			if got := h.line(); got != tt.want {
				t.Errorf("line %q, want %q", got, tt.want)
			}
			view := h.m.View()
			for _, c := range tt.list {
				if !strings.Contains(view, c) {
					t.Errorf("candidate %q not listed:\n%s", c, view)
				}
			}
			if tt.list == nil {
				// One candidate goes in with a space: the next word follows.
				h.typ("x")
				if got := h.line(); got != tt.want+" x" {
					t.Errorf("after typing x: %q, want %q", got, tt.want+" x")
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	eng := newEngine(t, "")
	tests := []struct {
		name  string
		typed string
		want  []string // lines of the view under the prompt
	}{
		{"did you mean", "promote demo form", []string{
			"               ^^^^",
			`unknown keyword "form"; did you mean "from"?`}},
		{"too many", "promote demo to staging extra", []string{
			"                          ^^^^^",
			`too many arguments: unexpected "extra"`}},
		{"missing at the end", "promote demo from ", []string{
			"                    ^",
			`missing <stage> after "from"`}},
		{"valid", "promote demo to staging", nil},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, eng, "")
			h.typ(tt.typed)
			lines := strings.Split(h.m.View(), "\n")[1:]
			if !slices.Equal(lines, tt.want) {
				t.Errorf("under the prompt:\n%q\nwant:\n%q", lines, tt.want)
			}
		})
	}
}

func TestValidatePendingDimmed(t *testing.T) {
	eng := newEngine(t, "")
	h := newHarness(t, eng, "", func(o *shell.Options) { o.Style = terminal.Style{Color: true} })
	h.typ("promote demo fr") // the start of "from": dimmed
	if v := h.m.View(); !strings.Contains(v, "\x1b[2m") || strings.Contains(v, "\x1b[31m") {
		t.Errorf("an unfinished word should be dimmed, not red:\n%q", v)
	}
	h.key(tea.KeyBackspace)
	h.key(tea.KeyBackspace)
	h.typ("form") // a mistake: red
	if v := h.m.View(); !strings.Contains(v, "\x1b[31m^^^^") {
		t.Errorf("a wrong word should be marked red:\n%q", v)
	}
}
