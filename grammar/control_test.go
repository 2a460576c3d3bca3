package grammar_test

import (
	"errors"
	"testing"

	"github.com/chatops/chatops/grammar"
)

// A value may hold no control character but a tab, from a chat line or from
// argv; the error stands on the character itself.
func TestControlCharacters(t *testing.T) {
	g := testGrammar(t)
	tests := []struct {
		name  string
		line  string   // parsed with Parse when set
		argv  []string // else with ParseArgs
		want  string   // Error(), or "" when accepted
		token string   // the offending text in Source
		param string   // Error.Param.Name
	}{
		{name: "escape in a flag", line: "deploy acme --branch \"ma\x1b[2Jin\"",
			want: "column 25: control character U+001B in --branch: remove it", token: "\x1b", param: "branch"},
		{name: "escape in argv", argv: []string{"deploy", "acme", "--branch", "ma\x1b[2Jin"},
			want: "column 24: control character U+001B in --branch: remove it", token: "\x1b", param: "branch"},
		{name: "newline inside quotes", line: "say \"two\nlines\"",
			want: "column 9: line break U+000A in <text>: a value is one line, join the lines", token: "\n", param: "text"},
		{name: "newline in argv", argv: []string{"say", "two\nlines"},
			want: "column 9: line break U+000A in <text>: a value is one line, join the lines", token: "\n", param: "text"},
		{name: "carriage return", argv: []string{"deploy", "acme", "--branch=main\r"},
			want: "column 27: line break U+000D in --branch: a value is one line, join the lines", token: "\r", param: "branch"},
		{name: "C1 control", argv: []string{"scale", "we\u0085b", "2"},
			want: "column 10: control character U+0085 in <app>: remove it", token: "\u0085", param: "app"},
		{name: "DEL", line: "page @al\x7fice",
			want: "column 9: control character U+007F in <user>: remove it", token: "\x7f", param: "user"},
		{name: "in a reference's label", line: "page <@U1|ali\x1bce>",
			want: "column 14: control character U+001B in <user>: remove it", token: "\x1b", param: "user"},
		{name: "second of a list", line: "promote demo to qa,pr\x1bod",
			want: "column 22: control character U+001B in <stage>: remove it", token: "\x1b", param: "to"},
		{name: "message quotes an unknown flag visibly", line: "deploy acme --br\x1banch x",
			want: `column 13: unknown flag "--br\x1banch"; did you mean "--branch"?`, token: "--br\x1banch"},
		{name: "tab inside quotes", line: "say \"a\tb\""},
		{name: "tab in argv", argv: []string{"say", "a\tb"}},
		{name: "newline between words", line: "say two\nlines"},
		{name: "NEL between words", line: "say two\u0085lines"},
		{name: "U+009F is the last C1", line: "say \"a\u00a0b\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.argv != nil {
				_, err = g.ParseArgs(tt.argv)
			} else {
				_, err = g.Parse(tt.line)
			}
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var e *grammar.Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, want %s", err, tt.want)
			}
			if e.Error() != tt.want {
				t.Errorf("Error() = %s\n     want %s", e.Error(), tt.want)
			}
			if e.Token() != tt.token {
				t.Errorf("Token() = %q, want %q", e.Token(), tt.token)
			}
			got := ""
			if e.Param != nil {
				got = e.Param.Name
			}
			if got != tt.param {
				t.Errorf("Param %q, want %q", got, tt.param)
			}
		})
	}
}

// Detail shows the line with its control characters escaped and the caret
// under the escape of the one at fault, whatever stands before it.
func TestControlDetail(t *testing.T) {
	g := testGrammar(t)
	_, err := g.ParseArgs([]string{"say", "\x1b[1m\tbold\x1b[0m", "two\nlines"})
	var e *grammar.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v", err)
	}
	want := "error: control character U+001B in <text>: remove it (column 6)\n" +
		"  say \"\\x1b[1m bold\\x1b[0m\" \"two\\nlines\"\n" +
		"       ^^^^\n"
	if got := e.Detail(); got != want {
		t.Errorf("Detail:\n%s\nwant:\n%s", got, want)
	}

	_, err = g.Parse("say \"\x1b[2J\" \"two\nlines\"")
	if !errors.As(err, &e) {
		t.Fatalf("got %v", err)
	}
	want = "error: control character U+001B in <text>: remove it (column 6)\n" +
		"  say \"\\x1b[2J\" \"two\\nlines\"\n" +
		"       ^^^^\n"
	if got := e.Detail(); got != want {
		t.Errorf("Detail:\n%s\nwant:\n%s", got, want)
	}

	_, err = g.Parse("say \"two\x1b[31m\nlines")
	if !errors.As(err, &e) {
		t.Fatalf("got %v", err)
	}
	want = "error: unterminated quote: add a closing \" (column 5)\n" +
		"  say \"two\\x1b[31m\\nlines\n" +
		"      ^\n"
	if got := e.Detail(); got != want {
		t.Errorf("Detail:\n%s\nwant:\n%s", got, want)
	}
}

func TestIsControl(t *testing.T) {
	for _, r := range []rune{0, '\t', '\n', 0x1b, 0x1f, 0x7f, 0x80, 0x9b, 0x9f} {
		if !grammar.IsControl(r) {
			t.Errorf("IsControl(%U) = false", r)
		}
	}
	for _, r := range []rune{' ', '~', 0xa0, 'é', 0x2028, 0xfffd} {
		if grammar.IsControl(r) {
			t.Errorf("IsControl(%U) = true", r)
		}
	}
}

func TestVisible(t *testing.T) {
	tests := []struct {
		in, one, lines string
	}{
		{"plain text", "plain text", "plain text"},
		{"héllo — ok", "héllo — ok", "héllo — ok"},
		{"\x1b[2J\x1b[31mPWNED\x1b]0;title\a", `\x1b[2J\x1b[31mPWNED\x1b]0;title\a`, `\x1b[2J\x1b[31mPWNED\x1b]0;title\a`},
		{"a\tb\nc\r\n", `a\tb\nc\r\n`, "a\tb\nc\\r\n"},
		{"nul\x00 del\x7f", `nul\x00 del\x7f`, `nul\x00 del\x7f`},
		{"c1 \u009b2J \u0085", `c1 \u009b2J \u0085`, `c1 \u009b2J \u0085`},
		{"bad \x9b byte \xff", `bad \x9b byte \xff`, `bad \x9b byte \xff`},
		{"kept \ufffd and \\x1b", "kept \ufffd and \\x1b", "kept \ufffd and \\x1b"},
	}
	for _, tt := range tests {
		t.Run(tt.one, func(t *testing.T) {
			if got := grammar.Visible(tt.in); got != tt.one {
				t.Errorf("Visible(%q) = %q, want %q", tt.in, got, tt.one)
			}
			if got := grammar.VisibleLines(tt.in); got != tt.lines {
				t.Errorf("VisibleLines(%q) = %q, want %q", tt.in, got, tt.lines)
			}
		})
	}
}
