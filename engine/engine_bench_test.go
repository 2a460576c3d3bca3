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
	b.Run("ledger only", func(b *testing.B) { benchDispatch(b, nil) })
	// A driver that answers at once: what chatops adds to a driver's own
	// time (the deploying mark, then the change with its audit record).
	b.Run("through a driver", func(b *testing.B) { benchDispatch(b, instantDriver{}) })
}

// instantDriver deploys nothing and succeeds at once.
type instantDriver struct{}

func (instantDriver) Deploy(context.Context, *engine.Deployment, func(string)) (*engine.Deployed, error) {
	return &engine.Deployed{}, nil
}

func benchDispatch(b *testing.B, d engine.Driver) {
	e := newEngine(b, engine.DemoConfig())
	if d != nil {
		e.Drivers = map[engine.StageKey]engine.Driver{{Pipeline: "demo", Stage: "production"}: d}
	}
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
