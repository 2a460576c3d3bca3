package terminal

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/chatops/chatops/engine"
	"github.com/chatops/chatops/grammar"
)

// Progress prints a command's progress lines as they come, and remembers
// them, so that a result repeating them is not printed a second time: a
// custom command's result is its program's output, which was streamed line
// by line while it ran.
type Progress struct {
	w     io.Writer
	style Style

	mu    sync.Mutex
	shown strings.Builder
}

// NewProgress returns a Progress printing on w.
func NewProgress(w io.Writer, st Style) *Progress { return &Progress{w: w, style: st} }

// Line prints one progress line, with its control characters escaped as
// grammar.Visible writes them: a program's output reaches it verbatim. It is
// safe for concurrent use.
func (p *Progress) Line(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown.Len() > 0 {
		p.shown.WriteByte('\n')
	}
	p.shown.WriteString(line)
	fmt.Fprintln(p.w, p.style.Dim(grammar.Visible(line)))
}

// Omit returns res without its text when the text is just the lines printed
// so far; otherwise res itself.
func (p *Progress) Omit(res *engine.Result) *engine.Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	if res.Text == "" || strings.TrimRight(res.Text, "\n") != p.shown.String() {
		return res
	}
	rest := *res
	rest.Text = ""
	return &rest
}

// SameFile reports whether a and b write to the same file: one terminal, or
// the file or pipe both were sent to (2>&1). What is printed on one is then
// read next to what is printed on the other.
func SameFile(a, b io.Writer) bool {
	fa, ok := a.(*os.File)
	fb, ok2 := b.(*os.File)
	if !ok || !ok2 {
		return false
	}
	sa, err := fa.Stat()
	if err != nil {
		return false
	}
	sb, err := fb.Stat()
	return err == nil && os.SameFile(sa, sb)
}
