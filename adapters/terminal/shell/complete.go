package shell

import (
	"errors"
	"strings"

	"github.com/chatops/chatops/grammar"
)

// completion is what Tab does to a line: the line and cursor (byte offsets)
// after it, and the candidates to list when there is more than one.
type completion struct {
	line       string
	cursor     int
	candidates []string
}

// complete asks the grammar for the candidates for the word under cursor, a
// byte offset in line. One candidate replaces the word and is followed by a
// space; several replace it with their common prefix, when that is longer,
// and are listed.
func complete(g *grammar.Grammar, values grammar.Values, line string, cursor int) completion {
	out := completion{line: line, cursor: cursor}
	cands := g.Complete(line, cursor, values)
	if len(cands) == 0 {
		return out
	}
	start, end := wordBounds(line, cursor)
	insert := ""
	switch {
	case len(cands) == 1:
		insert = grammar.Quote(cands[0]) + " "
		if end < len(line) && line[end] == ' ' {
			end++ // the space is there already
		}
	default:
		out.candidates = cands
		prefix := commonPrefix(cands)
		if len(prefix) <= cursor-start || grammar.Quote(prefix) != prefix {
			return out
		}
		insert = prefix
		end = cursor
	}
	out.line = line[:start] + insert + line[end:]
	out.cursor = start + len(insert)
	return out
}

// wordBounds returns the byte offsets of the word under cursor: from the
// start of the token the cursor ends (or its opening quote) to the next
// space; an empty word at cursor after a space.
func wordBounds(line string, cursor int) (start, end int) {
	text := line[:cursor]
	start = cursor
	if text != "" && !strings.ContainsAny(text[len(text)-1:], " \t") {
		toks, err := grammar.Tokenize(text)
		var e *grammar.Error
		switch {
		case errors.As(err, &e):
			start = e.Pos
		case err == nil && len(toks) > 0:
			start = toks[len(toks)-1].Pos
		}
	}
	end = cursor
	if i := strings.IndexAny(line[cursor:], " \t"); i >= 0 {
		end = cursor + i
	} else {
		end = len(line)
	}
	return start, end
}

// commonPrefix is the longest prefix all of list share.
func commonPrefix(list []string) string {
	p := list[0]
	for _, s := range list[1:] {
		for !strings.HasPrefix(s, p) {
			p = p[:len(p)-1]
		}
	}
	return p
}
