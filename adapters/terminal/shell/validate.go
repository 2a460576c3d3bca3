package shell

import (
	"errors"
	"strconv"
	"strings"

	"github.com/chatops/chatops/grammar"
)

// diagnostic is what is wrong with the line being typed.
type diagnostic struct {
	// pos and end are byte offsets of the offending token in the line.
	pos, end int
	msg      string
	// pending is set when the line is merely unfinished: something is
	// missing at its end, the last word is the start of a valid one, or a
	// quote is still open. It is shown dimmed.
	pending bool
}

// validate parses line and returns its diagnostic, or nil when it parses or
// is empty.
func validate(g *grammar.Grammar, values grammar.Values, line string) *diagnostic {
	if strings.TrimSpace(line) == "" {
		return nil
	}
	_, err := g.Parse(line)
	var e *grammar.Error
	if !errors.As(err, &e) {
		return nil
	}
	d := &diagnostic{pos: e.Pos, end: max(e.End, e.Pos), msg: grammar.Visible(e.Msg)}
	if s := didYouMean(e.Suggest); s != "" {
		d.msg += "; " + s
	}
	d.pending = unfinished(g, values, line, e)
	return d
}

// unfinished reports whether e is about the end of a line still being typed.
func unfinished(g *grammar.Grammar, values grammar.Values, line string, e *grammar.Error) bool {
	if e.Pos >= len(strings.TrimRight(line, " \t")) {
		return true // missing something at the end
	}
	if e.End >= len(line) && len(g.Complete(line, len(line), values)) > 0 {
		return true // the last word is the start of one the grammar knows
	}
	if closing, ok := closingQuote[line[e.Pos:e.End]]; ok {
		if _, err := grammar.Tokenize(line + closing); err == nil {
			return true // a quote still open
		}
	}
	return false
}

// closingQuote closes each opening quote the tokenizer knows.
var closingQuote = map[string]string{`"`: `"`, `'`: `'`, "“": "”", "‘": "’"}

// didYouMean is `did you mean "a" or "b"?`, or "" without suggestions.
func didYouMean(suggest []string) string {
	if len(suggest) == 0 {
		return ""
	}
	q := make([]string, len(suggest))
	for i, s := range suggest {
		q[i] = strconv.Quote(s)
	}
	if len(q) == 1 {
		return "did you mean " + q[0] + "?"
	}
	return "did you mean " + strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1] + "?"
}
