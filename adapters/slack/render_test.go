package slack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
	write("stored text with control characters", slack.RenderResult(hostile, "releases demo", "job123"))

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

// hostile is a result as old ledger data and webhooks can make it: control
// characters in every place a renderer writes.
var hostile = &engine.Result{
	Title:   "Releases of \x1b]0;owned\a demo",
	Fields:  []engine.Field{{Name: "No\x1btes", Value: "\x1b[2J\x1b[31mPWNED"}, {Name: "Reason", Value: "two\nlines"}},
	Columns: []string{"VERSION", "NOTES"},
	Rows:    [][]string{{"1.4.0", "\x1b[2J\x1b[31mPWNED\x1b]0;title\a"}, {"1.5.0", "two\nlines\tand \u009b2J <b> &"}},
	Text:    "output\n\x1b[32mgreen\x1b[0m\r\n",
}

// No message lets a control character through to Slack: every string of the
// JSON Slack receives holds none but the newlines and tabs of a code block's
// lines, and each shows as the terminal shows it.
func TestRenderControl(t *testing.T) {
	g, err := engine.Grammar()
	if err != nil {
		t.Fatal(err)
	}
	_, perr := g.Parse("release demo 1.4.0 --notes \"\x1b[2J\"")
	var ge *grammar.Error
	if !errors.As(perr, &ge) {
		t.Fatalf("the grammar took a control character: %v", perr)
	}
	ql := &engine.Interaction{ID: "q1", Command: "lock demo --reason \"\x1b[2J\"", Requester: engine.Actor{Identity: "U1\x1b"}, Question: "Lock demo\x1b[2J?"}
	tests := []struct {
		name string
		m    slack.Message
		want []string // texts Slack receives, each within one string
	}{
		{"result", slack.RenderResult(hostile, "release demo 1.4.0 --notes \"\x1b[2J\"", "job1"), []string{
			`*Releases of \x1b]0;owned\a demo*`,
			"*No\\x1btes*\n\\x1b[2J\\x1b[31mPWNED",
			"*Reason*\ntwo\\nlines",
			"1.4.0    \\x1b[2J\\x1b[31mPWNED\\x1b]0;title\\a\n1.5.0    two\\nlines\\tand \\u009b2J &lt;b&gt; &amp;",
			"```output\n\\x1b[32mgreen\\x1b[0m\\r```",
			"`release demo 1.4.0 --notes \"\\x1b[2J\"` · job job1",
		}},
		{"text only", slack.RenderResult(&engine.Result{Title: "T", Text: "one \x1b[2J line"}, "x", "job1"), []string{
			`one \x1b[2J line`,
		}},
		{"error", slack.RenderError(engine.Errorf(engine.Conflict, "locked: freeze\x1b[5m\u0085now"), "promote demo"), []string{
			`:lock: locked: freeze\x1b[5m\u0085now`,
		}},
		{"grammar error", slack.RenderError(perr, ""), []string{
			`:warning: control character U+001B in --notes: remove it`,
			"  release demo 1.4.0 --notes \"\\x1b[2J\"\n                              ^^^^```",
		}},
		{"refusal", slack.RenderRefusal("error: bad \x1b[2J\n  line\n", "x"), []string{
			`:warning: error: bad \x1b[2J`,
			"```error: bad \\x1b[2J\n  line```",
		}},
		{"question", slack.RenderQuestion(ql, 10*time.Minute), []string{
			`Lock demo\x1b[2J?`,
			`:raised_hand: *Lock demo\x1b[2J?*`,
			`Only <@U1\x1b> can confirm.`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(tt.m); err != nil {
				t.Fatal(err)
			}
			js := b.Bytes()
			var doc any
			if err := json.Unmarshal(js, &doc); err != nil {
				t.Fatal(err)
			}
			var all []string
			walkStrings(doc, func(s string) {
				all = append(all, s)
				if i := strings.IndexFunc(s, func(r rune) bool { return grammar.IsControl(r) && r != '\n' && r != '\t' }); i >= 0 {
					t.Errorf("control character %q reaches Slack in %q", s[i:i+1], s)
				}
				if strings.ContainsRune(s, '\t') && !strings.HasPrefix(s, "```") {
					t.Errorf("a tab outside a code block: %q", s)
				}
			})
			for _, w := range tt.want {
				if !slices.ContainsFunc(all, func(s string) bool { return strings.Contains(s, w) }) {
					t.Errorf("no %q in\n%s", w, js)
				}
			}
		})
	}
}

// walkStrings calls fn with every string in a decoded JSON document.
func walkStrings(v any, fn func(string)) {
	switch v := v.(type) {
	case string:
		fn(v)
	case []any:
		for _, e := range v {
			walkStrings(e, fn)
		}
	case map[string]any:
		for _, e := range v {
			walkStrings(e, fn)
		}
	}
}
