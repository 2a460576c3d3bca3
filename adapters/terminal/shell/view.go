package shell

import (
	"strconv"
	"strings"
	"unicode/utf8"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
	"github.com/chatops/chatops/grammar"
)

// View draws the prompt and what goes under it: the offending token marked
// and the diagnostic, the candidates, a hint; or the command running; or the
// question asked.
func (m *Model) View() string {
	st := m.opts.Style
	switch {
	case m.quitting:
		return ""
	case m.confirm != nil:
		return grammar.Visible(m.confirm.question) + " [y/N] "
	case m.run != nil:
		note := "Ctrl-C cancels"
		if m.run.cancelled {
			note = "cancelling…"
		}
		return m.spinner.View() + " " + grammar.Visible(m.run.line) + "  " + st.Dim("("+note+")")
	case m.search != nil:
		match := ""
		if m.search.match >= 0 {
			match = m.history.Entries()[m.search.match]
		} else if m.search.query != "" {
			match = st.Dim("no match")
		}
		return "(reverse-i-search)`" + grammar.Visible(m.search.query) + "': " + grammar.Visible(match)
	}
	var b strings.Builder
	b.WriteString(m.input.View())
	if d := m.diag; d != nil {
		line := m.input.Value()
		col := utf8.RuneCountInString(grammar.Visible(line[:min(d.pos, len(line))]))
		width := max(1, utf8.RuneCountInString(grammar.Visible(line[min(d.pos, len(line)):min(d.end, len(line))])))
		msg := d.msg
		if d.pending {
			msg = st.Dim(msg)
		}
		// The mark only lines up when the line does not wrap.
		if len(Prompt)+col+width < m.width {
			mark := strings.Repeat("^", width)
			if d.pending {
				mark = st.Dim(mark)
			} else {
				mark = st.Red(mark)
			}
			b.WriteString("\n" + strings.Repeat(" ", len(Prompt)+col) + mark)
		}
		b.WriteString("\n" + msg)
	}
	if len(m.candidates) > 0 {
		b.WriteString("\n" + columns(m.candidates, m.width, max(1, m.height-4)))
	}
	if m.hint != "" {
		b.WriteString("\n" + st.Dim(m.hint))
	}
	return b.String()
}

// columns lays out list across width, in rows rows at most, saying how many
// more there are.
func columns(list []string, width, rows int) string {
	cell := 0
	for _, s := range list {
		cell = max(cell, utf8.RuneCountInString(s)+2)
	}
	perRow := max(1, width/cell)
	var b strings.Builder
	for i, s := range list {
		if i/perRow == rows {
			b.WriteString("… and " + strconv.Itoa(len(list)-i) + " more")
			break
		}
		if i > 0 && i%perRow == 0 {
			b.WriteString("\n")
		}
		s = grammar.Visible(s)
		b.WriteString(s)
		if i%perRow != perRow-1 && i != len(list)-1 {
			b.WriteString(strings.Repeat(" ", cell-utf8.RuneCountInString(s)))
		}
	}
	return b.String()
}

// print writes text above the prompt, wrapped to the window: a line wider
// than the terminal would wrap there and leave the renderer, which counts
// lines, erasing too few of them.
func (m *Model) print(text string) tea.Cmd {
	if m.width > 0 {
		text = ansi.Wrap(text, m.width, "")
	}
	return m.opts.Print(text)
}
