package slack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chatops/chatops/adapters/slack"
	"github.com/chatops/chatops/engine"
	"github.com/chatops/chatops/grammar"
)

// TestBlockKitGolden pins the Block Kit of every command's result, of errors,
// denials, questions and help, as Slack would receive them.
func TestBlockKitGolden(t *testing.T) {
	e, _ := newEngine(t, confirmConfig)
	now := time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC)
	e.Now = func() time.Time { now = now.Add(time.Minute); return now }
	ids := 0
	e.NewID = func() string { ids++; return "job" + string(rune('a'+ids%26)) }

	var out bytes.Buffer
	write := func(title string, m slack.Message) {
		out.WriteString("### " + title + "\n")
		enc := json.NewEncoder(&out)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(m); err != nil {
			t.Fatal(err)
		}
	}
	alice := engine.Context{Actor: e.Identify(engine.SourceSlack, "U1"), Confirmed: true, Approver: "carol"}
	bob := engine.Context{Actor: e.Identify(engine.SourceSlack, "U2"), Confirmed: true}
	steps := []struct {
		c    engine.Context
		line string
	}{
		{alice, "pipelines"}, {alice, "info demo"}, {alice, "promote demo"}, {alice, "releases demo"},
		{alice, "release demo 1.4.0 --commit 9f2c1e7 --notes \"fix <login> & more\""},
		{alice, "deploy demo/feature-x to development"}, {alice, "promote demo to staging"},
		{alice, "rollback demo in production"}, {alice, "lock demo production --reason freeze"},
		{alice, "promote demo"}, {alice, "unlock demo production"}, {alice, "whoami"},
		{alice, "jobs"}, {alice, "help promote"}, {alice, "info nosuch"}, {alice, "route demo to #deploys"},
		{bob, "promote demo to staging"}, {bob, "promote! demo"}, {alice, "promote this is an invalid command"},
	}
	for _, s := range steps {
		res, err := e.ExecLine(context.Background(), s.c, s.line)
		if err != nil {
			write(s.line+" (error)", slack.RenderError(err, s.line))
			continue
		}
		write(s.line, slack.RenderResult(res, s.line, "job123"))
	}
	write("help", slack.RenderHelp(e.Grammar, func(sp *grammar.Spec) bool { return e.Allowed(bob, sp.Name) }, "/h"))
	write("question: confirm", slack.RenderQuestion(&engine.Interaction{ID: "q1", Command: "promote demo", Requester: alice.Actor, Question: "Promote demo from staging to production?"}, 10*time.Minute))
	write("question: approval", slack.RenderQuestion(&engine.Interaction{ID: "q2", Command: "promote demo to staging", Requester: alice.Actor, Question: "Promote demo from development to staging?", Approvers: []string{"deployers"}}, 10*time.Minute))
	write("refusal in a thread", slack.RenderRefusal("error: unknown command \"promte\" (column 1)\n  promte demo\n  ^^^^^^\ndid you mean \"promote\"?\n", "promte demo"))

	path := filepath.Join("..", "..", "testdata", "slack", "blockkit.golden")
	if *update {
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("Block Kit differs from %s (run go test -update and review the diff)", path)
	}
}
