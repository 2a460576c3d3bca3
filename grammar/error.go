package grammar

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error is a positioned diagnostic. Pos and End are byte offsets of the offending
// token in Source: the raw line, or for argv the arguments joined by spaces with
// quotes where a shell would need them.
type Error struct {
	Source   string
	Pos, End int
	Msg      string
	// Suggest lists what the user may have meant, nearest first.
	Suggest []string
	// Usage holds the command's usage lines when the shape of the line was wrong.
	Usage []string
	// Param is the argument the error is about (missing, mistyped, given
	// twice), or nil: callers tell errors apart by it, never by Msg.
	Param *Param
}

// Column is the 1-based column of the offending token, counted in characters
// as typed: an entity Slack escaped (&amp;) is the one character it stands for.
func (e *Error) Column() int {
	return utf8.RuneCountInString(decodeEntities(e.Source[:min(e.Pos, len(e.Source))])) + 1
}

// Token is the offending text as it stands in Source; empty at the end of input.
func (e *Error) Token() string {
	if e.Pos >= len(e.Source) || e.End <= e.Pos {
		return ""
	}
	return e.Source[e.Pos:min(e.End, len(e.Source))]
}

// Error returns the one-line form: column 14: unexpected argument "is".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("column ")
	b.WriteString(strconv.Itoa(e.Column()))
	b.WriteString(": ")
	b.WriteString(Visible(e.Msg))
	if s := e.didYouMean(); s != "" {
		b.WriteString("; ")
		b.WriteString(s)
	}
	return b.String()
}

// shownLine returns Source as Detail shows it, on one line, with Slack's
// entities decoded and nothing a terminal would act on, and the column (0-based, in characters of the shown
// line) and width of the offending token in it. A tab becomes a space; other
// control characters are written as Visible writes them, so the caret stands
// under the escape of the very character an error is about.
func (e *Error) shownLine() (line string, col, width int) {
	pos, end := min(e.Pos, len(e.Source)), min(max(e.End, e.Pos), len(e.Source))
	var b strings.Builder
	n := 0 // characters written
	for i := 0; i < len(e.Source); {
		if i == pos {
			col = n
		}
		if i == end {
			width = n - col
		}
		r, w := utf8.DecodeRuneInString(e.Source[i:])
		s := " "
		if c, n := entity(e.Source[i:]); n > 0 {
			// Shown as typed, once: a renderer for Slack escapes it again.
			s, w = string(c), n
		} else if r != '\t' {
			s = Visible(e.Source[i : i+w])
		}
		b.WriteString(s)
		n += utf8.RuneCountInString(s)
		i += w
	}
	if pos == len(e.Source) {
		col = n
	}
	if end == len(e.Source) {
		width = n - col
	}
	return b.String(), col, width
}

func (e *Error) didYouMean() string {
	if len(e.Suggest) == 0 {
		return ""
	}
	q := make([]string, len(e.Suggest))
	for i, s := range e.Suggest {
		q[i] = strconv.Quote(s)
	}
	if len(q) == 1 {
		return "did you mean " + q[0] + "?"
	}
	return "did you mean " + strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1] + "?"
}

// Detail returns the diagnostic as a person reads it: the message, the line with a
// caret under the offending token, the suggestion and the usage.
//
//	error: unexpected argument "is" (column 18)
//	  promote my-pipeline is here
//	                      ^^
//	usage: promote[!] <pipeline> [from <stage>[/<app>]] [(to|in|on) <stage>[/<app>] ...]
func (e *Error) Detail() string {
	var b strings.Builder
	b.WriteString("error: ")
	b.WriteString(Visible(e.Msg))
	b.WriteString(" (column ")
	b.WriteString(strconv.Itoa(e.Column()))
	b.WriteString(")\n")
	if e.Source != "" {
		line, col, width := e.shownLine()
		b.WriteString("  ")
		b.WriteString(line)
		b.WriteString("\n  ")
		b.WriteString(strings.Repeat(" ", col))
		b.WriteString(strings.Repeat("^", max(width, 1)))
		b.WriteByte('\n')
	}
	if s := e.didYouMean(); s != "" {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	for i, u := range e.Usage {
		if i == 0 {
			b.WriteString("usage: ")
		} else {
			b.WriteString("       ")
		}
		b.WriteString(u)
		b.WriteByte('\n')
	}
	return b.String()
}

// DeclError is a declaration New refused: the declaration at Index of those it
// was given, and where its usage line goes wrong. A config that declares commands
// maps Index back to the entry that holds the usage line.
type DeclError struct {
	Index int    // in the declarations given to New
	Usage string // the declaration's usage line, as given
	// Pos is the byte offset in Usage of the argument or character at fault, or
	// -1 when the fault is not in the usage line (an example, an alias).
	Pos int
	Err error
}

// Column is the 1-based column of Pos in Usage, counted in characters, or 0 when
// the fault is not in the usage line.
func (e *DeclError) Column() int {
	if e.Pos < 0 {
		return 0
	}
	return utf8.RuneCountInString(e.Usage[:min(e.Pos, len(e.Usage))]) + 1
}

// Error returns usage "deploy <a> [<b>] <c>": column 18: required <c> cannot
// follow optional <b>.
func (e *DeclError) Error() string {
	if e.Pos < 0 {
		return fmt.Sprintf("usage %q: %v", e.Usage, e.Err)
	}
	return fmt.Sprintf("usage %q: column %d: %v", e.Usage, e.Column(), e.Err)
}

// Unwrap returns the cause.
func (e *DeclError) Unwrap() error { return e.Err }

// suggest returns the candidates nearest to word: those it is a prefix of (two
// letters at least), else those at the smallest edit distance (transpositions
// counting one) within 1 for words up to four letters and 2 beyond; three at most.
func suggest(word string, candidates []string) []string {
	word = strings.ToLower(word)
	if word == "" {
		return nil
	}
	limit := 1
	if utf8.RuneCountInString(word) > 4 {
		limit = 2
	}
	type hit struct {
		s string
		d int
	}
	var hits []hit
	best := limit
	for _, c := range candidates {
		if c == word {
			continue
		}
		d := distance(word, c)
		if len(word) >= 2 && strings.HasPrefix(c, word) {
			d = 0
		}
		if d > limit {
			continue
		}
		best = min(best, d)
		hits = append(hits, hit{c, d})
	}
	for i := 1; i < len(hits); i++ {
		for j := i; j > 0 && (hits[j].d < hits[j-1].d || hits[j].d == hits[j-1].d && hits[j].s < hits[j-1].s); j-- {
			hits[j], hits[j-1] = hits[j-1], hits[j]
		}
	}
	var out []string
	for _, h := range hits {
		if len(out) == 3 || h.d > best {
			break
		}
		if !contains(out, h.s) {
			out = append(out, h.s)
		}
	}
	return out
}

// distance is the optimal string alignment distance between a and b, in runes.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// Suggest returns the candidates nearest to word, as the grammar's "did you
// mean" picks them, for other inputs that name the same things (a webhook's
// pipeline or stage).
func Suggest(word string, candidates []string) []string { return suggest(word, candidates) }
