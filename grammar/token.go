package grammar

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind tells what a token is: a plain word or one of Slack's references.
type Kind uint8

// Token kinds. A quoted string is a Word too: quoting groups characters, it never
// changes what a token means, so a line and the argv a shell makes of it agree.
const (
	Word       Kind = iota // promote, "two words", --limit=5
	UserRef                // <@U123> or <@U123|alice>
	ChannelRef             // <#C123> or <#C123|deploys>
	GroupRef               // <!subteam^S1|@ops>
	SpecialRef             // <!here>, <!channel>, <!everyone>
	LinkRef                // <https://example.com|label>, <mailto:a@b.c|a@b.c>
)

var kindNames = [...]string{"word", "user", "channel", "group", "special mention", "link"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "token"
}

// Token is one word of a command line after quotes, escapes and HTML entities are
// resolved.
type Token struct {
	Kind Kind
	// Text is the word itself; for a reference, the id (U123, C123, S1, here) or the URL.
	Text string
	// Label is the part of a reference after '|', if any.
	Label string
	// Pos and End are byte offsets of the token in the source line.
	Pos, End int
}

// Tokenize splits a raw chat line into tokens. It understands "double" and 'single'
// quotes (backslash escapes inside double quotes and outside quotes), Slack's smart
// quotes “…” and ‘…’, the entities &amp; &lt; &gt; that Slack escapes, and Slack
// references <…>, which become typed tokens.
func Tokenize(line string) ([]Token, error) {
	return appendTokens(make([]Token, 0, countFields(line)), line)
}

// countFields estimates the number of tokens so one allocation holds them all.
func countFields(s string) int {
	n, in := 0, false
	for i := 0; i < len(s); i++ {
		sp := isSpaceByte(s[i])
		if !sp && !in {
			n++
		}
		in = !sp
	}
	return n
}

func appendTokens(toks []Token, line string) ([]Token, error) {
	i := 0
	for {
		for i < len(line) {
			if c := line[i]; c < utf8.RuneSelf {
				if !isSpaceByte(c) {
					break
				}
				i++
				continue
			}
			r, w := utf8.DecodeRuneInString(line[i:])
			if !unicode.IsSpace(r) {
				break
			}
			i += w
		}
		if i >= len(line) {
			return toks, nil
		}
		var t Token
		var err error
		if line[i] == '<' {
			t, i, err = scanRef(line, i)
		} else {
			t, i, err = scanWord(line, i)
		}
		if err != nil {
			return toks, err
		}
		toks = append(toks, t)
	}
}

// Smart quotes as Slack clients type them. An apostrophe ’ inside a word (it’s)
// is only a quote when a ‘ opened one.
const (
	leftDouble  = '“'
	rightDouble = '”'
	leftSingle  = '‘'
	rightSingle = '’'
)

// scanWord reads one word starting at i. Words with nothing to resolve are
// substrings of line; only quoted or escaped words build a new string.
func scanWord(line string, start int) (Token, int, error) {
	i := start
	for i < len(line) && plain[line[i]] {
		i++
	}
	if i == len(line) || isSpaceByte(line[i]) {
		return Token{Kind: Word, Text: line[start:i], Pos: start, End: i}, i, nil
	}
	var b *strings.Builder // nil until the text differs from the source
	flush := func(upto int) {
		if b == nil {
			b = &strings.Builder{}
			b.WriteString(line[start:upto])
		}
	}
	for i < len(line) {
		c := line[i]
		switch {
		case isSpaceByte(c):
			goto done
		case c == '"' || c == '\'':
			flush(i)
			end, err := scanQuoted(line, i, b)
			if err != nil {
				return Token{}, 0, err
			}
			i = end
		case c == '\\':
			flush(i)
			if i+1 < len(line) {
				r, w := utf8.DecodeRuneInString(line[i+1:])
				b.WriteRune(r)
				i += 1 + w
			} else {
				b.WriteByte('\\')
				i++
			}
		case c == '&':
			if dec, n := entity(line[i:]); n > 0 {
				flush(i)
				b.WriteByte(dec)
				i += n
			} else {
				if b != nil {
					b.WriteByte(c)
				}
				i++
			}
		case c < utf8.RuneSelf:
			if b != nil {
				b.WriteByte(c)
			}
			i++
		default:
			r, w := utf8.DecodeRuneInString(line[i:])
			if unicode.IsSpace(r) {
				goto done
			}
			if r == leftDouble || r == rightDouble || r == leftSingle {
				flush(i)
				end, err := scanSmart(line, i, r, b)
				if err != nil {
					return Token{}, 0, err
				}
				i = end
				continue
			}
			if b != nil {
				b.WriteString(line[i : i+w])
			}
			i += w
		}
	}
done:
	t := Token{Kind: Word, Pos: start, End: i}
	if b != nil {
		t.Text = b.String()
	} else {
		t.Text = line[start:i]
	}
	return t, i, nil
}

// scanQuoted reads a straight-quoted section at i into b and returns the offset
// after the closing quote.
func scanQuoted(line string, i int, b *strings.Builder) (int, error) {
	q := line[i]
	open := i
	i++
	for i < len(line) {
		c := line[i]
		switch {
		case c == q:
			return i + 1, nil
		case c == '\\' && q == '"' && i+1 < len(line) && (line[i+1] == '"' || line[i+1] == '\\'):
			b.WriteByte(line[i+1])
			i += 2
		case c == '&':
			if dec, n := entity(line[i:]); n > 0 {
				b.WriteByte(dec)
				i += n
				continue
			}
			b.WriteByte(c)
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
	return 0, &Error{Source: line, Pos: open, End: open + 1, Msg: "unterminated quote: add a closing " + string(q)}
}

// scanSmart reads a section in smart quotes. “ and ” both open and close a double
// section, since some keyboards type ”…”; ‘ opens a single section that ’ closes.
func scanSmart(line string, i int, open rune, b *strings.Builder) (int, error) {
	start := i
	i += utf8.RuneLen(open)
	for i < len(line) {
		r, w := utf8.DecodeRuneInString(line[i:])
		if open == leftSingle && r == rightSingle || open != leftSingle && (r == rightDouble || r == leftDouble) {
			return i + w, nil
		}
		if r == '&' {
			if dec, n := entity(line[i:]); n > 0 {
				b.WriteByte(dec)
				i += n
				continue
			}
		}
		b.WriteString(line[i : i+w])
		i += w
	}
	closer := "”"
	if open == leftSingle {
		closer = "’"
	}
	return 0, &Error{Source: line, Pos: start, End: start + utf8.RuneLen(open), Msg: "unterminated quote: add a closing " + closer}
}

// plain marks the ASCII bytes that stand for themselves inside a word.
var plain = func() (t [256]bool) {
	for c := 0x21; c < 0x7f; c++ {
		t[c] = true
	}
	for _, c := range `"'\\&` {
		t[c] = false
	}
	return t
}()

func isSpaceByte(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// entity decodes the three HTML entities Slack escapes in message text.
func entity(s string) (byte, int) {
	switch {
	case strings.HasPrefix(s, "&amp;"):
		return '&', 5
	case strings.HasPrefix(s, "&lt;"):
		return '<', 4
	case strings.HasPrefix(s, "&gt;"):
		return '>', 4
	}
	return 0, 0
}

// scanRef reads a Slack reference <…> starting at i.
func scanRef(line string, i int) (Token, int, error) {
	end := strings.IndexByte(line[i:], '>')
	if end < 0 {
		return Token{}, 0, &Error{Source: line, Pos: i, End: i + 1, Msg: "unterminated Slack reference: add a closing >"}
	}
	end += i + 1
	if end < len(line) {
		if r, _ := utf8.DecodeRuneInString(line[end:]); !unicode.IsSpace(r) {
			return Token{}, 0, &Error{Source: line, Pos: i, End: end, Msg: "a Slack reference must stand alone: put a space after >"}
		}
	}
	t, err := parseRef(line[i+1 : end-1])
	if err != nil {
		err.Source, err.Pos, err.End = line, i, end
		return Token{}, 0, err
	}
	t.Pos, t.End = i, end
	return t, end, nil
}

// parseRef reads the inside of a reference: @U123|alice, #C123|deploys,
// !subteam^S1|@ops, !here, https://x|label.
func parseRef(body string) (Token, *Error) {
	target, label, _ := strings.Cut(body, "|")
	target, label = decodeEntities(target), decodeEntities(label)
	var t Token
	switch {
	case strings.HasPrefix(target, "@"):
		t = Token{Kind: UserRef, Text: target[1:]}
	case strings.HasPrefix(target, "#"):
		t = Token{Kind: ChannelRef, Text: target[1:]}
	case strings.HasPrefix(target, "!subteam^"):
		t = Token{Kind: GroupRef, Text: target[len("!subteam^"):]}
	case strings.HasPrefix(target, "!"):
		t = Token{Kind: SpecialRef, Text: target[1:]}
	case hasScheme(target):
		t = Token{Kind: LinkRef, Text: target}
	default:
		return t, &Error{Msg: "unknown Slack reference <" + body + ">: expected <@user>, <#channel>, <!subteam^group> or <https://link>"}
	}
	if t.Text == "" || strings.ContainsAny(t.Text, " \t\n") {
		return t, &Error{Msg: "malformed Slack " + t.Kind.String() + " reference <" + body + ">"}
	}
	t.Label = label
	return t, nil
}

// hasScheme reports whether s starts with a URL scheme such as https: or mailto:.
func hasScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ':':
			return i > 0
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return false
}

// decodeEntities is s with the entities Slack escapes decoded, as a person
// typed it: what diagnostics quote and show, so that a renderer that escapes
// for Slack escapes once.
func decodeEntities(s string) string {
	if strings.IndexByte(s, '&') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if dec, n := entity(s[i:]); n > 0 {
			b.WriteByte(dec)
			i += n
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// argvTokens turns argv, as a shell split it, into tokens over a display line that
// joins the arguments with spaces, quoting where needed, so diagnostics can point
// into it. An argument that is exactly a Slack reference is a reference; anything
// else is a word taken verbatim.
func argvTokens(args []string) ([]Token, string) {
	toks := make([]Token, 0, len(args))
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		pos := b.Len()
		t := Token{Kind: Word, Text: a}
		if len(a) > 2 && a[0] == '<' && a[len(a)-1] == '>' && strings.IndexByte(a[1:], '>') == len(a)-2 {
			if rt, err := parseRef(a[1 : len(a)-1]); err == nil {
				t = rt
			}
		}
		if t.Kind == Word {
			b.WriteString(Quote(a))
		} else {
			b.WriteString(a)
		}
		t.Pos, t.End = pos, b.Len()
		toks = append(toks, t)
	}
	return toks, b.String()
}

// Quote returns s as a single word of a command line: unchanged when it needs no
// quoting, else in double quotes with " and \ escaped. Text that a line would read
// as an entity keeps its & escaped, so Tokenize(Quote(s)) gives back s.
func Quote(s string) string {
	if s != "" && !needsQuote(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '&':
			if _, n := entity(s[i:]); n > 0 {
				b.WriteString("&amp;")
			} else {
				b.WriteByte(c)
			}
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func needsQuote(s string) bool {
	for i, r := range s {
		switch r {
		case '"', '\'', '\\', '<', '>', leftDouble, rightDouble, leftSingle:
			return true
		case '&':
			if _, n := entity(s[i:]); n > 0 {
				return true
			}
		default:
			if unicode.IsSpace(r) {
				return true
			}
		}
	}
	return false
}
