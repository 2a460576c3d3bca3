package grammar

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// IsControl reports whether r is a control character: C0 (U+0000–U+001F), DEL
// (U+007F) or C1 (U+0080–U+009F). Terminals act on these instead of showing
// them, so text that holds them can clear a screen or retitle a window.
func IsControl(r rune) bool {
	return r < 0x20 || 0x7f <= r && r <= 0x9f
}

// allowedControl reports whether a value may hold the control character r.
//
// A tab is harmless where a value is stored and renderers escape it where it
// would break alignment. A newline or carriage return is refused like the rest:
// outside quotes a line break already separates words, so one only reaches a
// value from inside quotes, where it is almost always an accident (a pasted
// commit message with its final newline, a CRLF clipboard). The values that
// take free text (notes, commit, reason) are shown as one table cell, one field
// and one line of the audit stream, and the canonical text that confirmations
// and the audit bind to is one line; a multi-line note could only ever be shown
// as an escaped \n. Refusing now keeps the door open: allowing later is
// compatible, the reverse is not.
func allowedControl(r rune) bool { return r == '\t' }

// controlError reports the first control character in t's value that a value
// may not hold, positioned at that character in src, or returns nil.
func controlError(src string, param *Param, t Token) *Error {
	at, in := firstControl(t.Text), t.Text
	if at < 0 {
		if at, in = firstControl(t.Label), t.Label; at < 0 {
			return nil
		}
	}
	r, _ := utf8.DecodeRuneInString(in[at:])
	if slash := strings.IndexByte(t.Text, '/'); param.Part != nil && t.Kind == Word && in == t.Text && 0 <= slash && slash < at {
		param = param.Part // the error is about the app of staging/app
	}
	// Quotes, escapes and entities never make a control character out of
	// printable ones, so the value's control characters stand in the source,
	// in order, inside the token: the first there is the first in the value.
	pos, end := t.Pos, t.End
	if i := firstControl(src[t.Pos:t.End]); i >= 0 {
		pos, end = t.Pos+i, t.Pos+i+utf8.RuneLen(r)
	}
	msg := "control character " + runeName(r) + " in " + param.label() + ": remove it"
	if r == '\n' || r == '\r' {
		msg = "line break " + runeName(r) + " in " + param.label() + ": a value is one line, join the lines"
	}
	return &Error{Source: src, Pos: pos, End: end, Msg: msg, Param: param}
}

// firstControl returns the byte offset of the first control character in s
// that a value may not hold, or -1.
func firstControl(s string) int {
	for i, r := range s {
		if IsControl(r) && !allowedControl(r) {
			return i
		}
	}
	return -1
}

// runeName writes r as U+001B.
func runeName(r rune) string {
	h := strconv.FormatInt(int64(r), 16)
	return "U+" + strings.Repeat("0", max(0, 4-len(h))) + strings.ToUpper(h)
}

// Visible returns s fit to show on one line: each control character, tab and
// newline included, and each byte that is not UTF-8 is written as Go writes it
// inside a quoted string (\t, \n, \x1b, \x7f, \u009b, \xff), the same form
// strconv.Quote gives in diagnostics. Everything else, backslashes included, is
// left as it is, so the form shows that something was there without being
// reversible: the exact bytes are in the JSON output.
func Visible(s string) string { return visible(s, false) }

// VisibleLines is Visible for text shown as a block of lines: it keeps
// newlines and tabs.
func VisibleLines(s string) string { return visible(s, true) }

func visible(s string, lines bool) string {
	i := hidden(s, lines)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		r, w := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && w == 1:
			q := strconv.Quote(s[i : i+1])
			b.WriteString(q[1 : len(q)-1])
		case IsControl(r) && !(lines && (r == '\n' || r == '\t')):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+w])
		}
		i += w
	}
	return b.String()
}

// hidden returns the byte offset of the first thing in s that visible writes
// differently, or -1.
func hidden(s string, lines bool) int {
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			if _, w := utf8.DecodeRuneInString(s[i:]); w == 1 {
				return i
			}
		case IsControl(r) && !(lines && (r == '\n' || r == '\t')):
			return i
		}
	}
	return -1
}
