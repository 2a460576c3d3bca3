package engine_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/chatops/chatops/engine"
	"github.com/chatops/chatops/grammar"
	"golang.org/x/tools/txtar"
	"mvdan.cc/sh/v3/shell"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestParseGolden runs the grammar cases under testdata/parse. Each case is a
// txtar file whose comment's first line is the raw line as Slack sends it, with
//
//	-- want --      the accepted command as JSON, or
//	-- error --     the diagnostic a person reads;
//	-- argv --      optionally, the argv a terminal user types for it, one per line
//	                (by default the line split as a POSIX shell would);
//	-- no-argv --   for input that only exists as a raw chat line;
//	-- commands --  optionally, usage lines declared beside the built-ins.
//
// Every case also checks that argv and line parse alike and that an accepted
// command reads back from its canonical text. go test -update rewrites want and
// error.
func TestParseGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "parse", "*.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 120 {
		t.Errorf("only %d grammar cases under testdata/parse; keep at least 120", len(files))
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			runCase(t, file)
		})
	}
}

func runCase(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	ar := txtar.Parse(data)
	line, _, _ := strings.Cut(string(ar.Comment), "\n")
	sections := map[string]string{}
	for _, f := range ar.Files {
		sections[f.Name] = string(f.Data)
	}

	decls := append([]grammar.Decl(nil), engine.Builtins...)
	for _, u := range nonEmptyLines(sections["commands"]) {
		decls = append(decls, grammar.Decl{Usage: u, Summary: "test command"})
	}
	g, err := grammar.New(decls)
	if err != nil {
		t.Fatalf("declaring the case's commands: %v", err)
	}

	c, perr := g.Parse(line)
	var got, section string
	if perr != nil {
		var ge *grammar.Error
		if !errors.As(perr, &ge) {
			t.Fatalf("Parse(%q): %T is not a *grammar.Error: %v", line, perr, perr)
		}
		got, section = ge.Detail(), "error"
	} else {
		got, section = indentJSON(t, c), "want"
	}
	if *update {
		writeCase(t, file, ar, section, got)
	} else if want, ok := sections[section]; !ok {
		t.Errorf("Parse(%q) gave %s, the case has none (run go test -update and review):\n%s", line, section, got)
	} else if got != want {
		t.Errorf("Parse(%q) %s differs (run go test -update and review the diff):\n--- got\n%s--- want\n%s", line, section, got, want)
	}

	argv, ok := caseArgv(t, line, sections)
	if ok {
		fromArgv, aerr := g.ParseArgs(argv)
		switch {
		case perr == nil && aerr != nil:
			t.Errorf("line accepted, argv %q rejected: %v", argv, aerr)
		case perr != nil && aerr == nil:
			t.Errorf("line rejected (%v), argv %q accepted: %s", perr, argv, indentJSON(t, fromArgv))
		case perr == nil && !reflect.DeepEqual(c, fromArgv):
			t.Errorf("argv %q reads differently:\n%s", argv, indentJSON(t, fromArgv))
		case perr != nil:
			le, ae := perr.(*grammar.Error), aerr.(*grammar.Error)
			if le.Msg != ae.Msg || !reflect.DeepEqual(le.Suggest, ae.Suggest) {
				t.Errorf("argv %q fails differently:\n line: %s\n argv: %s", argv, le.Detail(), ae.Detail())
			}
		}
	}

	if perr == nil {
		canon := c.Canonical()
		back, err := g.Parse(canon)
		if err != nil || !sameMeaning(back, c) {
			t.Errorf("canonical %q does not read back to the same command: %v", canon, err)
		}
		if fields, err := shell.Fields(canon, nil); err == nil && !strings.ContainsAny(canon, "<>&#") {
			if back, err := g.ParseArgs(fields); err != nil || !sameMeaning(back, c) {
				t.Errorf("canonical %q as argv %q does not read back: %v", canon, fields, err)
			}
		}
	}
}

// caseArgv returns the argv a terminal user types for the case's line.
func caseArgv(t *testing.T, line string, sections map[string]string) ([]string, bool) {
	t.Helper()
	if _, ok := sections["no-argv"]; ok {
		return nil, false
	}
	if a, ok := sections["argv"]; ok {
		return strings.Split(strings.TrimSuffix(a, "\n"), "\n"), true
	}
	if strings.ContainsAny(line, "<>&“”‘’") {
		t.Fatalf("line %q needs an explicit -- argv -- or -- no-argv -- section", line)
	}
	fields, err := shell.Fields(line, nil)
	if err != nil {
		t.Fatalf("line %q is not shell syntax (%v): add -- argv -- or -- no-argv --", line, err)
	}
	return fields, true
}

func indentJSON(t *testing.T, c *grammar.Command) string {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(c); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func nonEmptyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// writeCase rewrites the want or error section, keeping the rest of the case.
func writeCase(t *testing.T, file string, ar *txtar.Archive, section, body string) {
	t.Helper()
	var files []txtar.File
	for _, f := range ar.Files {
		if f.Name != "want" && f.Name != "error" {
			files = append(files, f)
		}
	}
	files = append(files, txtar.File{Name: section, Data: []byte(body)})
	ar.Files = files
	if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
		t.Fatal(err)
	}
}
