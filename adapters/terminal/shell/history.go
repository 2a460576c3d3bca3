package shell

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DefaultHistorySize is how many lines a History keeps when Options say
// nothing.
const DefaultHistorySize = 1000

// History is the lines run in the shell, oldest first, kept in a file one
// line each so that the next shell can recall them.
type History struct {
	path    string
	max     int
	entries []string
}

// LoadHistory reads the history file at path, keeping its last max lines. A
// missing file is an empty history; an empty path keeps the history in memory
// only.
func LoadHistory(path string, max int) (*History, error) {
	if max <= 0 {
		max = DefaultHistorySize
	}
	h := &History{path: path, max: max}
	if path == "" {
		return h, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if line := sc.Text(); line != "" {
			h.entries = append(h.entries, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(h.entries) > h.max {
		// The file is appended to by every shell: trim it when it has grown.
		h.entries = h.entries[len(h.entries)-h.max:]
		if err := h.rewrite(); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// Entries returns the lines, oldest first.
func (h *History) Entries() []string { return h.entries }

// Add appends line, unless it repeats the last one, and writes it to the
// file at once, so that a shell that dies loses nothing it ran.
func (h *History) Add(line string) error {
	line = strings.TrimSpace(strings.ReplaceAll(line, "\n", " "))
	if line == "" || len(h.entries) > 0 && h.entries[len(h.entries)-1] == line {
		return nil
	}
	h.entries = append(h.entries, line)
	if len(h.entries) > h.max {
		h.entries = h.entries[1:]
	}
	if h.path == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(h.path), 0o700); err != nil {
		return err
	}
	// Lines may name pipelines, people and reasons: readable by the owner only.
	f, err := os.OpenFile(h.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(line + "\n")
	return errors.Join(err, f.Close())
}

// Search returns the index of the newest line before index before that
// contains query, ignoring case, or -1.
func (h *History) Search(query string, before int) int {
	q := strings.ToLower(query)
	for i := min(before, len(h.entries)) - 1; i >= 0; i-- {
		if strings.Contains(strings.ToLower(h.entries[i]), q) {
			return i
		}
	}
	return -1
}

// rewrite replaces the file with the lines kept, through a temporary file so
// that a crash leaves the old file or the new one.
func (h *History) rewrite() error {
	tmp := h.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(h.entries, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, h.path)
}
