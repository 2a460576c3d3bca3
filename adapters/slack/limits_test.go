package slack

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// cutText cuts where Slack shows the same text in two pieces: on a
// character, outside entities, links and runs of backticks, with a
// preformatted block closed and opened again.
func TestCutText(t *testing.T) {
	tests := []struct {
		name       string
		s          string
		max        int
		head, rest string
	}{
		{"fits", "short", 10, "short", ""},
		{"at a newline", "first line\nsecond line", 15, "first line", "second line"},
		{"at a space, kept", "aaaa bbbb cccc", 12, "aaaa bbbb ", "cccc"},
		{"multi-byte, never split", strings.Repeat("é", 12), 5, "ééééé", "ééééééé"},
		{"emoji, never split", "🚀🚀🚀🚀", 3, "🚀🚀🚀", "🚀"},
		{"before &amp;", "abcdefgh&amp;x", 11, "abcdefgh", "&amp;x"},
		{"before &lt;", "abcdefgh&lt;x", 10, "abcdefgh", "&lt;x"},
		{"after a whole entity", "abcdefgh&gt;x", 12, "abcdefgh&gt;", "x"},
		{"before a link", "see this <https://example.com|link>", 20, "see this ", "<https://example.com|link>"},
		{"fence closed and reopened", "```one\ntwo\nthree\nfour```", 16, "```one\ntwo```", "```three\nfour```"},
		{"fence reopened on a long line", "```" + strings.Repeat("x", 20) + "```", 13, "```xxxxxxx```", "```" + strings.Repeat("x", 13) + "```"},
		{"never inside a run of backticks", "abcdefg```x```", 9, "abcdefg", "```x```"},
		{"fence, multi-byte at the cut", "```" + strings.Repeat("日", 10) + "```", 8, "```日日```", "```" + strings.Repeat("日", 8) + "```"},
		{"closed fence before the cut", "```a``` and more text here", 12, "```a``` and ", "more text here"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			head, rest := cutText(tt.s, tt.max)
			if head != tt.head || rest != tt.rest {
				t.Errorf("cutText(%q, %d) = %q, %q; want %q, %q", tt.s, tt.max, head, rest, tt.head, tt.rest)
			}
			if n := utf8.RuneCountInString(head); n > tt.max {
				t.Errorf("head has %d characters, more than %d", n, tt.max)
			}
			if !utf8.ValidString(head) || !utf8.ValidString(rest) {
				t.Errorf("a character was split: %q, %q", head, rest)
			}
		})
	}
}

// splitText loses nothing but the newlines it cuts at and the fences it
// adds, and every piece fits and balances its fences.
func TestSplitText(t *testing.T) {
	var b strings.Builder
	b.WriteString(fence)
	for i := range 500 {
		b.WriteString(strings.Repeat("é&amp;日", i%7) + "line\n")
	}
	b.WriteString("end" + fence)
	s := b.String()
	pieces := splitText(s, 300)
	if len(pieces) < 2 {
		t.Fatalf("%d pieces", len(pieces))
	}
	for i, p := range pieces {
		if n := runes(p); n > 300 {
			t.Errorf("piece %d has %d characters", i, n)
		}
		if strings.Count(p, fence)%2 != 0 {
			t.Errorf("piece %d leaves a fence open: %q", i, p)
		}
	}
	joined := strings.Join(pieces, "\n")
	joined = strings.ReplaceAll(joined, fence+"\n"+fence, "\n")
	if joined != s {
		t.Errorf("the pieces joined differ from the text")
	}
}
