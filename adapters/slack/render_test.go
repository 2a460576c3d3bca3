package slack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chatops/chatops/adapters/slack"
	"github.com/chatops/chatops/engine"
	"github.com/chatops/chatops/grammar"
	goslack "github.com/slack-go/slack"
)

// slackBlocks decodes blocks by their type.
type slackBlocks = goslack.Blocks

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

	golden(t, filepath.Join("..", "..", "testdata", "slack", "blockkit.golden"), out.Bytes(), "go test -update")
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

// releaseNote is a 2100-character release note, escaped entities and
// multi-byte characters among it.
var releaseNote = func() string {
	var b strings.Builder
	for b.Len() < 2100 {
		b.WriteString("fix <login> & more, ")
	}
	return b.String()[:2100]
}()

// longAnswers are answers longer than one section, one field or one
// message, each through the renderer that makes it.
func longAnswers(t *testing.T) []struct {
	name string
	m    slack.Message
} {
	t.Helper()
	ctx := context.Background()
	e, _ := newEngine(t, confirmConfig)
	alice := engine.Context{Actor: e.Identify(engine.SourceSlack, "U1"), Confirmed: true}
	release := "release demo 1.4.0 --commit 9f2c1e7 --notes \"" + releaseNote + "\""
	at := time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC)
	if _, err := e.Jobs.Create(ctx, &engine.Job{ID: "jobnote", Command: release, Actor: "alice", Source: "slack", State: "done",
		Queued: at, Started: at, Finished: at.Add(time.Second), Outcome: "ok"}); err != nil {
		t.Fatal(err)
	}
	jobs, err := e.ExecLine(ctx, alice, "jobs jobnote")
	if err != nil {
		t.Fatal(err)
	}

	var out strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&out, "step %05d: built web-%d ✓ é\n", i+1, i%97)
	}

	var cfg strings.Builder
	cfg.WriteString("pipelines:\n")
	for i := range 80 {
		fmt.Fprintf(&cfg, "  - name: service-%02d\n    stages: [development, staging, production]\n    seed: {development: 1.%d.0, staging: 1.%d.0, production: 1.0.0}\n", i, i, i/2)
	}
	cfg.WriteString("users:\n  - {name: alice, slack: U1}\n")
	e80, _ := newEngine(t, cfg.String())
	pipelines, err := e80.ExecLine(ctx, engine.Context{Actor: e80.Identify(engine.SourceSlack, "U1")}, "pipelines")
	if err != nil {
		t.Fatal(err)
	}

	table := &engine.Result{Title: "Releases of demo", Columns: []string{"VERSION", "WHEN", "NOTES"}}
	for i := range 400 {
		table.Rows = append(table.Rows, []string{fmt.Sprintf("1.%d.0", i), "2026-11-24", strings.Repeat("日本 <a> & ", i%9)})
	}

	_, perr := e.Grammar.Parse("promote demo " + strings.Repeat("to staging é&<> ", 300))
	return []struct {
		name string
		m    slack.Message
	}{
		{"jobs-release-note", slack.RenderResult(jobs, "jobs jobnote", "job123")},
		{"release-long-command", slack.RenderResult(&engine.Result{Title: "Released demo 1.4.0"}, release, "jobnote")},
		{"multi-byte-cut", slack.RenderResult(&engine.Result{Title: "Output", Text: "a" + strings.Repeat("é", 2995) + "日本語&<>" + strings.Repeat("🚀", 100)}, "x", "job123")},
		{"output-10000-lines", slack.RenderResult(&engine.Result{Title: "Deploy demo", Text: out.String()}, "deploy demo to production", "job123")},
		{"pipelines-80", slack.RenderResult(pipelines, "pipelines", "job123")},
		{"long-table", slack.RenderResult(table, "releases demo", "job123")},
		{"long-error", slack.RenderError(perr, "promote demo …")},
		{"long-question", slack.RenderQuestion(&engine.Interaction{ID: "q1", Command: release, Requester: alice.Actor, Question: "Release demo 1.4.0?"}, 10*time.Minute)},
	}
}

// parts is a message and its continuations.
func parts(m slack.Message) []slack.Message {
	return append([]slack.Message{m}, m.Continued...)
}

// shown is every text of m's parts' blocks.
func shown(m slack.Message) []string {
	var out []string
	for _, p := range parts(m) {
		b, err := json.Marshal(p.Blocks)
		if err != nil {
			panic(err)
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			panic(err)
		}
		walkTexts(doc, func(s string) { out = append(out, s) })
	}
	return out
}

// walkTexts calls fn with every "text" string in a decoded JSON document.
func walkTexts(v any, fn func(string)) {
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			walkTexts(e, fn)
		}
	case map[string]any:
		for k, e := range v {
			if s, ok := e.(string); ok && k == "text" {
				fn(s)
			} else {
				walkTexts(e, fn)
			}
		}
	}
}

var entity = regexp.MustCompile(`&(amp|lt|gt);`)

// Long answers keep to Slack's limits (issue 11), and what is cut is cut
// where Slack shows it as written: a 2100-character release note made a
// 2137-character field, and truncation split a UTF-8 character.
func TestLongAnswersWithinLimits(t *testing.T) {
	for _, tc := range longAnswers(t) {
		t.Run(tc.name, func(t *testing.T) {
			if err := slack.Check(tc.m); err != nil {
				t.Error(err)
			}
			for _, s := range shown(tc.m) {
				// JSON writes a split character as U+FFFD.
				if !utf8.ValidString(s) || strings.ContainsRune(s, utf8.RuneError) {
					t.Errorf("a character was split in %q", s)
				}
				if strings.Count(s, "```")%2 != 0 {
					t.Errorf("an open code fence in %q", s)
				}
				if rest := entity.ReplaceAllString(s, ""); strings.Contains(rest, "&") {
					t.Errorf("a cut entity in %q", s)
				}
			}
		})
	}
	t.Run("the release note is shown whole", func(t *testing.T) {
		m := longAnswers(t)[0].m
		all := strings.Join(shown(m), "")
		if want := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(releaseNote); !strings.Contains(strings.ReplaceAll(all, "\n", ""), want) {
			t.Errorf("the release note is not in the answer whole:\n%s", all)
		}
	})
}

// TestLongAnswerGolden pins long answers as Slack receives them, each part
// of an answer after the other.
func TestLongAnswerGolden(t *testing.T) {
	for _, tc := range longAnswers(t) {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			ps := parts(tc.m)
			for i, p := range ps {
				fmt.Fprintf(&out, "### part %d of %d\n", i+1, len(ps))
				enc := json.NewEncoder(&out)
				enc.SetEscapeHTML(false)
				enc.SetIndent("", "  ")
				if err := enc.Encode(p); err != nil {
					t.Fatal(err)
				}
			}
			golden(t, filepath.Join("testdata", "limits", tc.name+".golden"), out.Bytes(), "go test ./adapters/slack -run LongAnswer -update")
		})
	}
}

// Every golden Slack message of the package keeps to Slack's limits.
func TestGoldenWithinLimits(t *testing.T) {
	var files []string
	for _, glob := range []string{"../../testdata/slack/*.golden", "testdata/*/*.golden"} {
		m, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 3 {
		t.Fatalf("only %d golden files: %v", len(files), files)
	}
	for _, path := range files {
		t.Run(path, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var body strings.Builder
			var titles []string
			for _, l := range strings.SplitAfter(string(data), "\n") {
				if strings.HasPrefix(l, "### ") {
					titles = append(titles, strings.TrimSpace(l[4:]))
					continue
				}
				body.WriteString(l)
			}
			dec := json.NewDecoder(strings.NewReader(body.String()))
			for i := 0; dec.More(); i++ {
				var m struct {
					Text   string      `json:"text"`
					Blocks slackBlocks `json:"blocks"`
				}
				if err := dec.Decode(&m); err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				name := fmt.Sprint("message ", i)
				if i < len(titles) {
					name = titles[i]
				}
				if err := slack.Check(slack.Message{Text: m.Text, Blocks: m.Blocks.BlockSet}); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
		})
	}
}

// The run modal keeps to the limits of a view.
func TestRunModalWithinLimits(t *testing.T) {
	e, _ := newEngine(t, confirmConfig)
	if err := slack.CheckView(slack.RunModal(e.Grammar, nil, "C1")); err != nil {
		t.Error(err)
	}
}

// Check names each limit broken, where, and by how much.
func TestCheckErrors(t *testing.T) {
	long := strings.Repeat("é", 2137)
	tooLong := slack.Message{Text: "x", Blocks: []goslack.Block{
		goslack.NewSectionBlock(nil, []*goslack.TextBlockObject{goslack.NewTextBlockObject(goslack.MarkdownType, long, false, false)}, nil),
		goslack.NewHeaderBlock(goslack.NewTextBlockObject(goslack.MarkdownType, strings.Repeat("h", 151), false, false)),
		goslack.NewActionBlock("a", goslack.NewButtonBlockElement("b", "v", goslack.NewTextBlockObject(goslack.PlainTextType, strings.Repeat("b", 76), false, false))),
		goslack.NewContextBlock("", goslack.NewTextBlockObject(goslack.MarkdownType, "", false, false)),
	}}
	var many []goslack.Block
	for range 51 {
		many = append(many, goslack.NewDividerBlock())
	}
	home := goslack.HomeTabViewRequest{Type: goslack.VTHomeTab, Blocks: goslack.Blocks{BlockSet: append(many, many...)}}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"fields, header, button, context", slack.Check(tooLong), `over Slack's limits:
blocks[0].fields[0]: 2137 characters, at most 2000
blocks[1].text: type "mrkdwn", want plain_text
blocks[1].text: 151 characters, at most 150
blocks[2].elements[0].text: 76 characters, at most 75
blocks[3].elements[0]: empty`},
		{"blocks", slack.Check(slack.Message{Text: "x", Blocks: many}), "over Slack's limits:\nblocks: 51 blocks, at most 50"},
		{"continued", slack.Check(slack.Message{Text: "x", Continued: []slack.Message{{}}}), "over Slack's limits:\ncontinued[0].text: empty, and no blocks"},
		{"home", slack.CheckView(home), "over Slack's limits:\nblocks: 102 blocks, at most 100"},
		{"modal title", slack.CheckView(goslack.ModalViewRequest{Type: goslack.VTModal, Title: goslack.NewTextBlockObject(goslack.PlainTextType, strings.Repeat("t", 25), false, false)}),
			"over Slack's limits:\ntitle: 25 characters, at most 24"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil || tt.err.Error() != tt.want {
				t.Errorf("got\n%v\nwant\n%s", tt.err, tt.want)
			}
		})
	}
}

// TestEscapedOnce: Slack sends "&&" as "&amp;&amp;"; the diagnostic quotes
// and shows what was typed, so Slack gets it escaped once, and the caret
// stands under the two characters.
func TestEscapedOnce(t *testing.T) {
	f := newFixture(t)
	_, ack := f.signedPost(t, f.form("U1", "promote demo &amp;&amp; ls"))
	if strings.Contains(ack, "&amp;amp;") || !strings.Contains(ack, `unexpected \"&amp;&amp;\" (column 14)\n  promote demo &amp;&amp; ls\n               ^^\n`) {
		t.Errorf("ack %s", ack)
	}
	if !strings.Contains(ack, `"text":"too many arguments: unexpected \"&&\""`) {
		t.Errorf("the notification text is not what was typed: %s", ack)
	}
}

// TestLongHelpContinues: a help too long for one message is acked with its
// first part, and the rest follows at the response_url, in order, each
// within Slack's limits.
func TestLongHelpContinues(t *testing.T) {
	var cfg strings.Builder
	cfg.WriteString(testConfig + "commands:\n")
	for i := range 400 {
		fmt.Fprintf(&cfg, "  - usage: \"c%03d <pipeline>\"\n    summary: %q\n    exec: {argv: [\"true\"]}\n", i, strings.Repeat("word ", 70))
	}
	f := newFixtureConfig(t, cfg.String())
	_, ack := f.signedPost(t, f.form("U1", "help"))
	var first goslack.Message
	if err := json.Unmarshal([]byte(ack), &first); err != nil {
		t.Fatal(err)
	}
	if err := slack.Check(slack.Message{Text: first.Text, Blocks: first.Blocks.BlockSet}); err != nil || !strings.Contains(ack, "c000") {
		t.Fatalf("first part (%v): %.300s", err, ack)
	}
	for i := 2; i <= 5; i++ {
		m := f.next(t)
		if want := fmt.Sprintf("(%d/5)", i); !strings.HasSuffix(m.Text, want) || m.ResponseType != "ephemeral" {
			t.Errorf("part %d: %s, %s", i, m.Text, m.ResponseType)
		}
	}
	if strings.Contains(ack, "c399") {
		t.Error("the whole help fit in the first part: nothing was tested")
	}
}
