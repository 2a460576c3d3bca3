package webhook

import (
	"fmt"

	"github.com/chatops/chatops/grammar"
)

// didYouMean returns "; did you mean …?" for the candidate nearest word, as
// the grammar suggests one, or "" when none is near.
func didYouMean(word string, candidates []string) string {
	if s := grammar.Suggest(word, candidates); len(s) > 0 {
		return fmt.Sprintf("; did you mean %q?", s[0])
	}
	return ""
}
