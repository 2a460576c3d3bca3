package shell

import (
	"context"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/spinner"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/chatops/chatops/adapters/terminal"
	"github.com/chatops/chatops/engine"
	"github.com/chatops/chatops/grammar"
)

// Prompt is what the shell shows before the line being typed.
const Prompt = "> "

// PrintFunc writes text above the prompt, where it stays as the terminal
// scrolls. DefaultPrint is tea.Println.
type PrintFunc func(text string) tea.Cmd

// DefaultPrint prints through the running program, above its view.
func DefaultPrint(text string) tea.Cmd { return tea.Println(text) }

// Options configure a shell. Engine and Actor are required.
type Options struct {
	Engine *engine.Engine
	// Actor is who runs the commands typed.
	Actor engine.Actor
	// Values offers the names completion cannot know, such as the
	// configured pipelines and stages.
	Values grammar.Values
	// HistoryFile keeps the lines run across shells; "" keeps them in
	// memory only.
	HistoryFile string
	// HistorySize is how many lines the history keeps; 0 is
	// DefaultHistorySize.
	HistorySize int
	// Style says whether to colour; NO_COLOR is honoured by whoever makes it
	// (terminal.StyleFor).
	Style terminal.Style
	// Print writes results above the prompt; nil is DefaultPrint.
	Print PrintFunc
}

// Model is the shell's state: the prompt, the command running, the question
// asked. Build it with New; it implements tea.Model.
type Model struct {
	opts    Options
	ctx     context.Context
	input   textinput.Model
	spinner spinner.Model
	history *History
	width   int
	height  int

	// browsing is the history entry shown by ↑/↓, len(entries) for the
	// line being typed, kept in draft.
	browsing int
	draft    string
	search   *searchState
	diag     *diagnostic
	// candidates are the completions listed under the prompt.
	candidates []string
	// hint is a one-line note under the prompt, gone at the next key.
	hint    string
	run     *runState
	confirm *confirmState
	// runs counts the commands executing, so Wait can wait for them; once
	// closed is set, under mu, no command starts.
	runs     sync.WaitGroup
	mu       sync.Mutex
	closed   bool
	quitting bool
}

// searchState is a Ctrl-R reverse search: the text sought and the entry
// found, -1 for none.
type searchState struct {
	query string
	match int
	// saved is the line as it was, for when the search is abandoned.
	saved string
}

// confirmState is a question awaiting y or n before line runs again.
type confirmState struct {
	line     string
	question string
}

// New returns a shell reading its history from opts.HistoryFile. Commands
// run under ctx.
func New(ctx context.Context, opts Options) (*Model, error) {
	h, err := LoadHistory(opts.HistoryFile, opts.HistorySize)
	if err != nil {
		return nil, err
	}
	if opts.Print == nil {
		opts.Print = DefaultPrint
	}
	in := textinput.New()
	in.Prompt = Prompt
	// A steady cursor: no timer redraws the screen while nothing happens.
	in.Cursor.SetMode(cursor.CursorStatic)
	in.Focus()
	sp := spinner.New(spinner.WithSpinner(spinner.MiniDot))
	return &Model{
		opts: opts, ctx: ctx, input: in, spinner: sp, history: h,
		width: 80, height: 24, browsing: len(h.Entries()),
	}, nil
}

// Init starts nothing: the prompt waits for a key.
func (m *Model) Init() tea.Cmd { return nil }

// Wait cancels the command running, if any, and waits for it to return, so
// that the engine can be closed after it.
func (m *Model) Wait() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	if m.run != nil {
		m.run.cancel()
	}
	m.runs.Wait()
}

// Update handles a key, a window size, or news of the command running.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		return m, nil
	case progressMsg:
		return m, m.progressed(msg)
	case doneMsg:
		return m, m.finished(msg)
	case spinner.TickMsg:
		if m.run == nil {
			return m, nil // the spinner stops with the command
		}
		var cmd tea.Cmd
		m.spinner, cmd = m.spinner.Update(msg)
		return m, cmd
	case tea.KeyMsg:
		switch {
		case m.run != nil:
			return m, m.keyRunning(msg)
		case m.confirm != nil:
			return m, m.keyConfirm(msg)
		case m.search != nil:
			return m, m.keySearch(msg)
		}
		return m, m.keyPrompt(msg)
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	return m, cmd
}

// keyPrompt edits the line.
func (m *Model) keyPrompt(msg tea.KeyMsg) tea.Cmd {
	m.hint, m.candidates = "", nil
	switch msg.Type {
	case tea.KeyEnter:
		return m.submit()
	case tea.KeyTab:
		m.tab()
		return nil
	case tea.KeyUp, tea.KeyCtrlP:
		m.browse(-1)
		return nil
	case tea.KeyDown, tea.KeyCtrlN:
		m.browse(+1)
		return nil
	case tea.KeyCtrlR:
		m.search = &searchState{match: -1, saved: m.input.Value()}
		return nil
	case tea.KeyCtrlC:
		if m.input.Value() == "" {
			m.hint = "Press Ctrl-D to leave."
		}
		m.setLine("", 0)
		return nil
	case tea.KeyCtrlD:
		if m.input.Value() == "" {
			return m.quit()
		}
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	m.changed()
	return cmd
}

// quit leaves the shell, clearing its view so that only the scrollback
// stays.
func (m *Model) quit() tea.Cmd {
	m.quitting = true
	return tea.Quit
}

// setLine replaces the line, the cursor at byte offset cursor.
func (m *Model) setLine(line string, cursor int) {
	m.input.SetValue(line)
	m.input.SetCursor(utf8.RuneCountInString(line[:cursor]))
	m.changed()
}

// changed revalidates the line after an edit.
func (m *Model) changed() {
	m.diag = nil
	if line := m.input.Value(); !m.isExit(line) {
		m.diag = validate(m.opts.Engine.Grammar, m.opts.Values, line)
	}
}

// isExit reports whether line asks to leave: exit or quit, unless the
// grammar declares them.
func (m *Model) isExit(line string) bool {
	w := strings.TrimSpace(line)
	return (w == "exit" || w == "quit") && m.opts.Engine.Grammar.Forms(w) == nil
}

// cursorByte is the cursor as a byte offset in the line.
func (m *Model) cursorByte() int {
	r := []rune(m.input.Value())
	return len(string(r[:min(m.input.Position(), len(r))]))
}

// tab completes the word under the cursor.
func (m *Model) tab() {
	c := complete(m.opts.Engine.Grammar, m.opts.Values, m.input.Value(), m.cursorByte())
	m.setLine(c.line, c.cursor)
	m.candidates = c.candidates
}

// browse steps through the history: -1 older, +1 newer.
func (m *Model) browse(step int) {
	entries := m.history.Entries()
	next := m.browsing + step
	if next < 0 || next > len(entries) {
		return
	}
	if m.browsing == len(entries) {
		m.draft = m.input.Value()
	}
	m.browsing = next
	line := m.draft
	if next < len(entries) {
		line = entries[next]
	}
	m.setLine(line, len(line))
}

// keySearch edits the query of a reverse search.
func (m *Model) keySearch(msg tea.KeyMsg) tea.Cmd {
	s := m.search
	switch msg.Type {
	case tea.KeyCtrlR:
		if s.match > 0 {
			if i := m.history.Search(s.query, s.match); i >= 0 {
				s.match = i
			}
		}
	case tea.KeyRunes, tea.KeySpace:
		s.query += string(msg.Runes)
		from := len(m.history.Entries())
		if s.match >= 0 {
			from = s.match + 1 // the match may still hold the longer query
		}
		s.match = m.history.Search(s.query, from)
	case tea.KeyBackspace:
		if q := []rune(s.query); len(q) > 0 {
			s.query = string(q[:len(q)-1])
		}
		s.match = m.history.Search(s.query, len(m.history.Entries()))
	case tea.KeyEsc, tea.KeyCtrlG, tea.KeyCtrlC:
		m.search = nil
		m.setLine(s.saved, len(s.saved))
	default:
		// Enter, an arrow or any editing key takes the match to the
		// prompt to be read before it runs: a production promote should
		// not run on a key meant to end a search.
		m.search = nil
		line := s.saved
		if s.match >= 0 {
			line = m.history.Entries()[s.match]
			m.browsing = s.match
		}
		m.setLine(line, len(line))
	}
	return nil
}
