package shell_test

import (
	"path/filepath"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/chatops/chatops/adapters/terminal/shell"
	"github.com/chatops/chatops/engine"
)

// BenchmarkStart measures a shell from New (history loaded from a file of
// DefaultHistorySize lines) to its first prompt drawn: Init, the window size,
// View.
func BenchmarkStart(b *testing.B) {
	eng := newEngine(b, "")
	file := filepath.Join(b.TempDir(), "shell_history")
	h, err := shell.LoadHistory(file, 0)
	if err != nil {
		b.Fatal(err)
	}
	for i := range shell.DefaultHistorySize {
		if err := h.Add("info demo " + strings.Repeat("x", i%7)); err != nil {
			b.Fatal(err)
		}
	}
	opts := shell.Options{Engine: eng, Actor: eng.Identify(engine.SourceTerminal, "alice"), Values: eng.Config.Values(), HistoryFile: file}
	b.ReportAllocs()
	for b.Loop() {
		m, err := shell.New(b.Context(), opts)
		if err != nil {
			b.Fatal(err)
		}
		m.Init()
		m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
		if v := m.View(); !strings.HasPrefix(v, shell.Prompt) {
			b.Fatalf("first view %q", v)
		}
	}
}

// BenchmarkKeystroke measures one key typed at the end of a line: edit,
// parse, diagnostic, view.
func BenchmarkKeystroke(b *testing.B) {
	eng := newEngine(b, "")
	m, err := shell.New(b.Context(), shell.Options{Engine: eng, Actor: eng.Identify(engine.SourceTerminal, "alice"), Values: eng.Config.Values()})
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range "promote demo from staging to productio" {
		m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
	}
	b.ReportAllocs()
	for b.Loop() {
		m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{'n'}})
		_ = m.View()
		m.Update(tea.KeyMsg{Type: tea.KeyBackspace})
	}
}
