package engine_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatops/chatops/engine"
)

// designUsage is the pipeline pack as DESIGN.md writes it, with the commands
// issues added; help must print these lines exactly.
var designUsage = []string{
	"help [<command>]",
	"pipelines",
	"info <pipeline>",
	"release <pipeline> <version> [to <stage>] [--commit <sha>] [--notes <text>]",
	"deploy[!] <pipeline>[/<branch>] [to <stage>]",
	"promote[!] <pipeline> [from <stage>[/<app>]] [(to|in|on) <stage>[/<app>] ...]",
	"releases <pipeline> [in <stage>] [--limit <n>]",
	"rollback[!] <pipeline> [in <stage>] [to <version>]",
	"lock[!] <pipeline> [<stage>] [--reason <text>]", // DESIGN.md's line, forcible: lock! replaces a lock
	"unlock <pipeline> [<stage>]",
	"route <pipeline> to <#channel>",
	"route",
	"unroute <pipeline>", // the "removing one is a grammar-declared command of your choice"
	"jobs [<job-id>]",
	"whoami",
}

func TestBuiltinUsage(t *testing.T) {
	g, err := engine.Grammar()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, name := range g.Commands() {
		for _, s := range g.Forms(name) {
			got = append(got, s.Usage())
		}
	}
	if strings.Join(got, "\n") != strings.Join(designUsage, "\n") {
		t.Errorf("usage lines differ from DESIGN.md:\n got %q\nwant %q", got, designUsage)
	}
}

// TestBuiltinHelp pins the help a person reads: the command list and every
// command's page.
func TestBuiltinHelp(t *testing.T) {
	g, err := engine.Grammar()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(g.Help(nil))
	for _, name := range g.Commands() {
		h, err := g.CommandHelp(name)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("\n--- help " + name + "\n")
		b.WriteString(h)
	}
	path := filepath.Join("..", "testdata", "help", "builtins.golden")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("help differs from %s (run go test -update and review the diff):\n%s", path, b.String())
	}
}
