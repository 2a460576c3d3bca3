package terminal_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	natsadapter "github.com/chatops/chatops/adapters/nats"
	"github.com/chatops/chatops/adapters/terminal"
	"github.com/chatops/chatops/engine"
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
