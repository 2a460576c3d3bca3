package terminal_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatops/chatops/adapters/terminal"
	"github.com/chatops/chatops/engine"
)

func TestProgressOmit(t *testing.T) {
	tests := []struct {
		name     string
		lines    []string
		text     string
		wantText string
	}{
		{"the streamed output", []string{"building", "done"}, "building\ndone", ""},
		{"the streamed output, newline-terminated", []string{"done"}, "done\n", ""},
		{"more than was streamed", []string{"building"}, "building\ndone", "building\ndone"},
		{"less than was streamed", []string{"building", "done"}, "done", "done"},
		{"nothing streamed", nil, "Promoted demo.", "Promoted demo."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			p := terminal.NewProgress(&out, terminal.Style{})
			for _, l := range tt.lines {
				p.Line(l)
			}
			res := &engine.Result{Title: "ship acme", Text: tt.text, Data: map[string]any{"output": tt.lines}}
			got := p.Omit(res)
			if got.Text != tt.wantText {
				t.Errorf("text %q, want %q", got.Text, tt.wantText)
			}
			if got.Title != res.Title || res.Text != tt.text {
				t.Errorf("Omit changed the rest of the result, or the result itself")
			}
		})
	}
}

func TestProgressLine(t *testing.T) {
	var out bytes.Buffer
	p := terminal.NewProgress(&out, terminal.Style{Color: true})
	p.Line("building")
	if got, want := out.String(), "\x1b[2mbuilding\x1b[0m\n"; got != want {
		t.Errorf("printed %q, want %q", got, want)
	}
}

func TestSameFile(t *testing.T) {
	dir := t.TempDir()
	a, err := os.Create(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := os.Create(filepath.Join(dir, "b"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	again, err := os.OpenFile(a.Name(), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	tests := []struct {
		name string
		x, y io.Writer
		want bool
	}{
		{"one file", a, a, true},
		{"one file opened twice", a, again, true},
		{"two files", a, b, false},
		{"a buffer", a, &bytes.Buffer{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := terminal.SameFile(tt.x, tt.y); got != tt.want {
				t.Errorf("SameFile = %v, want %v", got, tt.want)
			}
		})
	}
}
