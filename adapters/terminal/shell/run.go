package shell

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/chatops/chatops/adapters/terminal"
	"github.com/chatops/chatops/engine"
	"github.com/chatops/chatops/grammar"
)

// runState is the command running.
type runState struct {
	line      string
	cancel    context.CancelFunc
	cancelled bool
	// progress remembers the lines printed, so a result repeating them is
	// not printed twice.
	progress *terminal.Progress
	// events carries progress lines; it is closed when the command has
	// returned, res and err set.
	events chan tea.Msg
	res    *engine.Result
	err    error
	// mu guards ended: a progress line that comes late is dropped, not sent
	// on the closed channel.
	mu    sync.Mutex
	ended bool
}

// end closes events once the command has returned.
func (r *runState) end() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ended = true
	close(r.events)
}

// progressMsg is a progress line of the command running.
type progressMsg struct {
	run  *runState
	line string
}

// doneMsg says the command has returned.
type doneMsg struct{ run *runState }

// submit runs the line typed.
func (m *Model) submit() tea.Cmd {
	line := strings.TrimSpace(m.input.Value())
	m.setLine("", 0)
	m.browsing = len(m.history.Entries())
	if line == "" {
		return nil
	}
	if m.isExit(line) {
		return m.quit()
	}
	echo := m.print(m.opts.Style.Bold(Prompt) + grammar.Visible(line))
	if err := m.history.Add(line); err != nil {
		m.hint = "history not saved: " + err.Error()
	}
	m.browsing = len(m.history.Entries())
	if text, ok := m.help(line); ok {
		return tea.Sequence(echo, m.print(text))
	}
	return tea.Sequence(echo, m.start(line, false))
}

// help renders help and help <command> here, from the grammar: they need no
// job and no store.
func (m *Model) help(line string) (string, bool) {
	cmd, err := m.opts.Engine.Grammar.Parse(line)
	if err != nil || cmd.Name != "help" {
		return "", false
	}
	eng := m.opts.Engine
	c := engine.Context{Actor: m.opts.Actor}
	var b strings.Builder
	if v, ok := cmd.Get("command"); ok && v.Text != "" {
		if !eng.Allowed(c, v.Text) {
			terminal.RenderError(&b, engine.Errorf(engine.Denied, "%s may not run %s", c.Actor.ID, v.Text), m.opts.Style)
		} else if text, err := eng.Grammar.CommandHelp(v.Text); err != nil {
			terminal.RenderError(&b, err, m.opts.Style)
		} else {
			b.WriteString(text)
		}
		return strings.TrimRight(b.String(), "\n"), true
	}
	b.WriteString(eng.Grammar.Help(func(s *grammar.Spec) bool { return eng.Allowed(c, s.Name) }))
	b.WriteString("Tab completes, ↑/↓ and Ctrl-R recall, Ctrl-C cancels, Ctrl-D leaves.")
	return b.String(), true
}

// start runs line on the engine in the background; confirmed says the
// question was answered yes.
func (m *Model) start(line string, confirmed bool) tea.Cmd {
	ctx, cancel := context.WithCancel(m.ctx)
	r := &runState{line: line, cancel: cancel, progress: terminal.NewProgress(io.Discard, m.opts.Style), events: make(chan tea.Msg, 64)}
	m.run = r
	c := engine.Context{Actor: m.opts.Actor, Confirmed: confirmed, Progress: func(s string) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.ended {
			return
		}
		select {
		case r.events <- progressMsg{r, s}:
		case <-ctx.Done():
		}
	}}
	exec := func() tea.Msg {
		defer cancel()
		// The program may have ended, and the engine been closed, before
		// this command was run.
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			r.err = context.Canceled
			r.end()
			return nil
		}
		m.runs.Add(1)
		m.mu.Unlock()
		defer m.runs.Done()
		r.res, r.err = m.opts.Engine.ExecLine(ctx, c, line)
		r.end()
		return nil
	}
	return tea.Batch(exec, listen(r), m.spinner.Tick)
}

// listen waits for the next news of r.
func listen(r *runState) tea.Cmd {
	return func() tea.Msg {
		if msg, ok := <-r.events; ok {
			return msg
		}
		return doneMsg{r}
	}
}

// progressed prints a progress line and waits for the next.
func (m *Model) progressed(msg progressMsg) tea.Cmd {
	msg.run.progress.Line(msg.line)
	// In sequence, so that the lines are printed in the order they came.
	return tea.Sequence(m.print(m.opts.Style.Dim(grammar.Visible(msg.line))), listen(msg.run))
}

// finished prints the result or the error, or asks the question the engine
// asked.
func (m *Model) finished(msg doneMsg) tea.Cmd {
	r := msg.run
	m.run = nil
	var q *engine.ConfirmationError
	if errors.As(r.err, &q) && !r.cancelled {
		m.confirm = &confirmState{line: r.line, question: q.Question}
		return nil
	}
	var b strings.Builder
	switch {
	case r.err != nil:
		if r.cancelled {
			b.WriteString("Cancelled.\n")
		}
		terminal.RenderError(&b, r.err, m.opts.Style)
	default:
		_ = terminal.Render(&b, r.progress.Omit(r.res), m.opts.Style)
	}
	if text := strings.TrimRight(b.String(), "\n"); text != "" {
		return m.print(text)
	}
	return nil
}

// keyRunning lets Ctrl-C cancel the command running; other keys wait.
func (m *Model) keyRunning(msg tea.KeyMsg) tea.Cmd {
	if msg.Type == tea.KeyCtrlC && !m.run.cancelled {
		m.run.cancelled = true
		m.run.cancel()
	}
	return nil
}

// keyConfirm answers the question: y runs the line again, confirmed; any
// other key declines.
func (m *Model) keyConfirm(msg tea.KeyMsg) tea.Cmd {
	c := m.confirm
	m.confirm = nil
	if a := strings.ToLower(msg.String()); a == "y" {
		return tea.Sequence(m.print(grammar.Visible(c.question)+" yes"), m.start(c.line, true))
	}
	return m.print(grammar.Visible(c.question) + " no\nCancelled.")
}

// Run runs the shell on a terminal until Ctrl-D or ctx ends, then waits for
// the command running, cancelled, to return. popts are for tests: input,
// output, size.
func Run(ctx context.Context, opts Options, popts ...tea.ProgramOption) error {
	m, err := New(ctx, opts)
	if err != nil {
		return err
	}
	p := tea.NewProgram(m, append([]tea.ProgramOption{tea.WithContext(ctx)}, popts...)...)
	_, err = p.Run()
	m.Wait()
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		return nil // ended by its context, as every wait is
	}
	return err
}
