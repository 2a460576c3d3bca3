package nats

import (
	"regexp"
	"strings"
	"testing"
)

// TestPlainToken holds plainToken to the rule it replaced,
// ^[A-Za-z0-9_-]{1,64}$, on the edges of each character class and length.
func TestPlainToken(t *testing.T) {
	rule := regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	cases := []string{
		"", "a", "Z", "0", "9", "-", "_", "s0123abcDEF", "T0BENCH01", "C-1_2",
		strings.Repeat("a", 64), strings.Repeat("a", 65),
		"a.b", "a*", ">", "a b", "a\n", "é", "a/b", "@", "[", "`", "{", ":",
		"a\x00", "\xff",
	}
	for c := byte(0); c < 128; c++ {
		cases = append(cases, "x"+string(rune(c)))
	}
	for _, s := range cases {
		if got, want := plainToken(s), rule.MatchString(s); got != want {
			t.Errorf("plainToken(%q) = %v, want %v", s, got, want)
		}
	}
}
