package engine_test

import (
	"context"
	"testing"

	"github.com/chatops/chatops/engine"
)

// BenchmarkDispatch measures the engine on an open embedded store: a parsed
// promote, then the rollback that undoes it, each a real change of the ledger
// (load, compare-and-set) with its job record and audit record. Run it with
// -cpu 1 for the one-core figure.
func BenchmarkDispatch(b *testing.B) {
	e := newEngine(b, engine.DemoConfig())
	ctx := context.Background()
	promote, err := e.Grammar.Parse("promote demo")
	if err != nil {
		b.Fatal(err)
	}
	rollback, err := e.Grammar.Parse("rollback demo")
	if err != nil {
		b.Fatal(err)
	}
	c := terminal(e, "alice")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		cmd := promote
		if i%2 == 1 {
			cmd = rollback
		}
		if _, err := e.Dispatch(ctx, c, cmd); err != nil {
			b.Fatal(err)
		}
	}
}
