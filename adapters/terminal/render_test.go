package terminal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	natsadapter "github.com/chatops/chatops/adapters/nats"
	"github.com/chatops/chatops/adapters/terminal"
	"github.com/chatops/chatops/engine"
	"github.com/chatops/chatops/grammar"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestRenderGolden runs every built-in command on the demo, one after another
// with a fixed clock, and pins what a person reads: text and JSON output, and
// the error text with its exit status.
func TestRenderGolden(t *testing.T) {
	conn, err := natsadapter.Open(context.Background(), natsadapter.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	e, err := engine.New(engine.DemoConfig(), conn.Store, conn.Audit, conn.Jobs)
	if err != nil {
		t.Fatal(err)
	}
	e.History = conn.History
	now := time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC)
	e.Now = func() time.Time { now = now.Add(time.Minute); return now }
	ids := 0
	e.NewID = func() string { ids++; return "job" + strings.Repeat("0", 3) + string(rune('a'+ids%26)) }

	steps := []string{
		"help",
		"help promote",
		"pipelines",
		"info demo",
		"promote demo",
		"info demo",
		"releases demo",
		"release demo 1.4.0 --commit 9f2c1e7 --notes \"fix login\"",
		"deploy demo/feature-x to staging",
		"promote demo from development to staging",
		"rollback demo in staging",
		"lock demo production --reason \"release freeze\"",
		"promote demo",
		"promote! demo",
		"unlock demo production",
		"rollback demo to 9.9.9",
		"info nosuch",
		"route demo to #deploys",
		"whoami",
		"jobs",
		"jobs job000f",
		"jobs nosuch",
	}
	var text, js bytes.Buffer
	for _, line := range steps {
		c := engine.Context{Actor: e.Identify(engine.SourceTerminal, "alice"), Confirmed: true}
		res, err := e.ExecLine(context.Background(), c, line)
		text.WriteString("$ chatops " + line + "\n")
		js.WriteString("$ chatops " + line + " --output json\n")
		if err != nil {
			terminal.RenderError(&text, err, terminal.Style{})
			terminal.RenderErrorJSON(&js, err)
			text.WriteString("[exit status " + itoa(terminal.ExitCode(err)) + "]\n\n")
			js.WriteString("\n")
			continue
		}
		if err := terminal.Render(&text, res, terminal.Style{}); err != nil {
			t.Fatal(err)
		}
		if err := terminal.RenderJSON(&js, res); err != nil {
			t.Fatal(err)
		}
		text.WriteString("\n")
		js.WriteString("\n")
	}
	golden(t, "demo.txt", text.String())
	golden(t, "demo.json.txt", js.String())
}

func TestStyle(t *testing.T) {
	var b bytes.Buffer
	res := &engine.Result{Title: "T", Fields: []engine.Field{{Name: "A", Value: "1"}}}
	if err := terminal.Render(&b, res, terminal.Style{Color: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "\x1b[1mT\x1b[0m") {
		t.Errorf("no bold title with colour on: %q", b.String())
	}
	b.Reset()
	_ = terminal.Render(&b, res, terminal.Style{})
	if strings.Contains(b.String(), "\x1b[") {
		t.Errorf("escape codes with colour off: %q", b.String())
	}
}

func itoa(n int) string { return string(rune('0' + n)) }

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("..", "..", "testdata", "terminal", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run go test -update and review the diff):\n%s", name, got)
	}
}

// TestRenderControlGolden renders ledger and audit text written before the
// grammar refused control characters, as old data and webhooks still hold it:
// the commands are parsed clean, given hostile values, and dispatched, so
// nothing checks them on the way in. What a person reads must show every
// control character escaped and act on nothing.
func TestRenderControlGolden(t *testing.T) {
	conn, err := natsadapter.Open(context.Background(), natsadapter.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	e, err := engine.New(engine.DemoConfig(), conn.Store, conn.Audit, conn.Jobs)
	if err != nil {
		t.Fatal(err)
	}
	e.History = conn.History
	now := time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC)
	e.Now = func() time.Time { now = now.Add(time.Minute); return now }
	ids := 0
	e.NewID = func() string { ids++; return "job" + strings.Repeat("0", 3) + string(rune('a'+ids%26)) }
	c := engine.Context{Actor: e.Identify(engine.SourceTerminal, "alice"), Confirmed: true}

	stored := []struct {
		line   string
		values map[string]string // written over the parsed values
	}{
		{"release demo 1.4.0 --commit x --notes x", map[string]string{
			"commit": "9f2c1e7\r\x1b[K",
			"notes":  "\x1b[2J\x1b[31mPWNED\x1b]0;title\a",
		}},
		{"release demo 1.5.0 to staging --notes x", map[string]string{
			"notes": "two\nlines\tand \u009b2J C1 and \x7f DEL",
		}},
		{"lock demo production --reason x", map[string]string{
			"reason": "freeze\x1b[5m\u0085now",
		}},
	}
	for _, s := range stored {
		cmd, err := e.Grammar.Parse(s.line)
		if err != nil {
			t.Fatal(err)
		}
		for i := range cmd.Args {
			if v, ok := s.values[cmd.Args[i].Param.Name]; ok {
				cmd.Args[i].Value.Text = v
			}
		}
		if _, err := e.Dispatch(context.Background(), c, cmd); err != nil {
			t.Fatal(err)
		}
	}

	var text, js bytes.Buffer
	show := func(title string, res *engine.Result, err error) {
		text.WriteString("$ " + title + "\n")
		js.WriteString("$ " + title + " --output json\n")
		if err != nil {
			terminal.RenderError(&text, err, terminal.Style{})
			terminal.RenderErrorJSON(&js, err)
		} else {
			if err := terminal.Render(&text, res, terminal.Style{}); err != nil {
				t.Fatal(err)
			}
			if err := terminal.RenderJSON(&js, res); err != nil {
				t.Fatal(err)
			}
		}
		text.WriteString("\n")
		js.WriteString("\n")
	}
	for _, line := range []string{"info demo", "releases demo in development", "releases demo in staging", "promote demo"} {
		res, err := e.ExecLine(context.Background(), c, line)
		show("chatops "+line, res, err)
	}
	recs, err := conn.Audit.Read(context.Background(), engine.AuditQuery{Pipeline: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	show("chatops audit --pipeline demo", auditResult(recs), nil)
	show("a result of any shape", &engine.Result{
		Title:  "Title \x1b]0;owned\a",
		Fields: []engine.Field{{Name: "Na\x1bme", Value: "va\x1b[1mlue"}, {Name: "Other", Value: "ok"}},
		Text:   "a program's output\n\x1b[32mgreen\x1b[0m\tand a tab\r\n",
		Data:   map[string]string{"output": "\x1b[32mgreen\x1b[0m \u009b \x7f"},
	}, nil)

	var progress bytes.Buffer
	p := terminal.NewProgress(&progress, terminal.Style{})
	p.Line("step 1\x1b[1A\x1b[2K rewritten")
	text.WriteString("$ a progress line\n" + progress.String())

	// Only the lines of a result's text keep their tabs.
	for name, out := range map[string]string{"text": text.String(), "json": js.String()} {
		if i := strings.IndexFunc(out, func(r rune) bool { return grammar.IsControl(r) && r != '\n' && r != '\t' }); i >= 0 {
			t.Errorf("%s output holds control character %q at %d:\n%s", name, out[i:i+1], i, out)
		}
	}
	for _, block := range strings.Split(js.String(), "\n$ ") {
		_, body, _ := strings.Cut(block, "\n")
		if !json.Valid([]byte(body)) {
			t.Errorf("not valid JSON:\n%s", body)
		}
	}
	if !strings.Contains(js.String(), `"notes": "\u001b[2J\u001b[31mPWNED\u001b]0;title\u0007"`) {
		t.Errorf("JSON does not keep the stored notes, escaped:\n%s", js.String())
	}
	golden(t, "control.txt", text.String())
	golden(t, "control.json.txt", js.String())
}

// auditResult is the table chatops audit prints.
func auditResult(recs []engine.AuditRecord) *engine.Result {
	res := &engine.Result{Title: "Audit", Data: recs,
		Columns: []string{"WHEN", "ACTOR", "SOURCE", "DECISION", "OUTCOME", "COMMAND", "RULE"}}
	for _, r := range recs {
		res.Rows = append(res.Rows, []string{r.At.UTC().Format("2006-01-02 15:04:05"), r.Actor, r.Source, r.Decision, r.Outcome, r.Command, r.Rule})
	}
	return res
}

// The JSON output holds the stored text exactly, every control character
// escaped, DEL and C1 included, which encoding/json leaves raw.
func TestRenderJSONControl(t *testing.T) {
	in := map[string]string{"notes": "\x1b[2J\a\n\x7f\u0085\u009b2J é \u00a0 \\x1b"}
	var b bytes.Buffer
	if err := terminal.RenderJSON(&b, &engine.Result{Data: in}); err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"notes\": \"\\u001b[2J\\u0007\\n\\u007f\\u0085\\u009b2J é \u00a0 \\\\x1b\"\n}\n"
	if b.String() != want {
		t.Errorf("RenderJSON = %s\nwant %s", b.String(), want)
	}
	var back map[string]string
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back["notes"] != in["notes"] {
		t.Errorf("reads back as %q (%v), want %q", back["notes"], err, in["notes"])
	}
}
