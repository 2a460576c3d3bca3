package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestRollbackTargetWindow: replaying only the newest part of a history
// gives the whole replay's answer whenever it says it is enough, and says so
// for the common case of a promote and its rollback, again and again.
func TestRollbackTargetWindow(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range 2000 {
		var hist []Release
		var seen []string
		for i := range 5 + rng.IntN(40) {
			if len(seen) > 1 && rng.IntN(3) == 0 {
				hist = append(hist, Release{Version: seen[rng.IntN(len(seen))], Action: "rollback"})
				continue
			}
			v := fmt.Sprintf("1.%d.%d", n, i)
			if len(seen) > 0 && rng.IntN(4) == 0 {
				v = seen[rng.IntN(len(seen))] // the same version released again
			}
			seen = append(seen, v)
			hist = append(hist, Release{Version: v, Action: "release"})
		}
		want, _ := rollbackTarget(hist, true)
		for w := 1; w < len(hist); w++ {
			got, enough := rollbackTarget(hist[len(hist)-w:], false)
			if !enough {
				continue
			}
			if got == nil || want == nil || got.Version != want.Version {
				t.Fatalf("history %v: the newest %d give %v, the whole %v", versions(hist), w, got, want)
			}
		}
	}

	var churn []Release
	for range 20 {
		churn = append(churn, Release{Version: "1.2.0", Action: "promote"}, Release{Version: "1.1.0", Action: "rollback"})
	}
	churn = append(churn, Release{Version: "1.2.0", Action: "promote"})
	if got, enough := rollbackTarget(churn[len(churn)-historyLimit:], false); !enough || got.Version != "1.1.0" {
		t.Errorf("promote and rollback, again and again: %v, enough %v", got, enough)
	}
}

func versions(h []Release) []string {
	var vs []string
	for _, r := range h {
		vs = append(vs, r.Action+" "+r.Version)
	}
	return vs
}
