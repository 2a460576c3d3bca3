package engine_test

import (
	"context"
	"testing"
	"time"

	natsadapter "github.com/chatops/chatops/adapters/nats"
	"github.com/chatops/chatops/engine"
)

// TestExpireQuestions: a question past its deadline is taken (a late click
// finds it gone), audited as expired, and handed to the adapter; one still
// open is left alone.
func TestExpireQuestions(t *testing.T) {
	ctx := context.Background()
	conn, err := natsadapter.Open(ctx, natsadapter.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	inter, err := conn.Interactions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(engine.DemoConfig(), conn.Store, conn.Audit, conn.Jobs)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	e.Now = func() time.Time { return now }
	alice := e.Identify(engine.SourceSlack, "alice")
	for id, expires := range map[string]time.Time{"late": now.Add(-time.Second), "open": now.Add(time.Minute)} {
		if err := inter.Put(ctx, &engine.Interaction{ID: id, Command: "promote demo", Requester: alice, Pipeline: "demo", Expires: expires}); err != nil {
			t.Fatal(err)
		}
	}
	var told []string
	n, err := e.ExpireQuestions(ctx, inter, func(_ context.Context, q *engine.Interaction) { told = append(told, q.ID) })
	if err != nil || n != 1 || len(told) != 1 || told[0] != "late" {
		t.Fatalf("ExpireQuestions = %d, %v; told %v", n, err, told)
	}
	if _, err := inter.Take(ctx, "late"); engine.ErrorCode(err) != engine.NotFound {
		t.Errorf("a late click on the expired question: %v, want NotFound", err)
	}
	if _, err := inter.Get(ctx, "open"); err != nil {
		t.Errorf("the open question: %v", err)
	}
	recs, err := conn.Audit.Read(ctx, engine.AuditQuery{Pipeline: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Outcome != "expired" || recs[0].Event != "expired" || recs[0].Message != "the question expired at 11:59:59 UTC unanswered; nothing ran" {
		t.Errorf("audit: %+v", recs)
	}
	if n, err := e.ExpireQuestions(ctx, inter, nil); n != 0 || err != nil {
		t.Errorf("a second sweep = %d, %v", n, err)
	}
}
