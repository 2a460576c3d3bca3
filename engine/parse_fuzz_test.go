package engine_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/chatops/chatops/engine"
	"github.com/chatops/chatops/grammar"
	"golang.org/x/tools/txtar"
)

// FuzzParse feeds arbitrary lines to the built-in grammar. Nothing may panic; an
// error must be a positioned *grammar.Error inside its source; an accepted line
// must read back from its canonical text to the same command, and from the argv
// a shell would hand over.
//
// The seed corpus is the benchmark mix, every golden case under
// testdata/parse and the files under testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	g, err := engine.Grammar()
	if err != nil {
		f.Fatal(err)
	}
	for _, l := range benchLines {
		f.Add(l)
	}
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "parse", "*.txtar"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		line, _, _ := strings.Cut(string(txtar.Parse(data).Comment), "\n")
		f.Add(line)
	}
	f.Fuzz(func(t *testing.T, line string) {
		checkLine(t, g, line)
	})
}

func checkLine(t *testing.T, g *grammar.Grammar, line string) {
	t.Helper()
	_ = g.Complete(line, len(line)/2, nil)
	_ = g.Complete(line, len(line), func(string) []string { return []string{"demo"} })
	c, err := g.Parse(line)
	if err != nil {
		var e *grammar.Error
		if !errors.As(err, &e) {
			t.Fatalf("Parse(%q): error %T is not a *grammar.Error: %v", line, err, err)
		}
		if e.Pos < 0 || e.End < e.Pos || e.End > len(e.Source) || e.Msg == "" {
			t.Fatalf("Parse(%q): bad position %d..%d in %q (%s)", line, e.Pos, e.End, e.Source, e.Msg)
		}
		_ = e.Detail()
		return
	}
	if _, err := json.Marshal(c); err != nil {
		t.Fatalf("Parse(%q): JSON: %v", line, err)
	}
	canon := c.Canonical()
	back, err := g.Parse(canon)
	if err != nil {
		t.Fatalf("Parse(%q) → canonical %q, which does not parse: %v", line, canon, err)
	}
	if !sameMeaning(c, back) {
		t.Fatalf("Parse(%q) → canonical %q reads differently:\n got %s\nwant %s", line, canon, mustJSON(back), mustJSON(c))
	}
	if again := back.Canonical(); again != canon {
		t.Fatalf("canonical text is not stable: %q → %q", canon, again)
	}

	// The argv a shell would give: each word's text, each reference as written.
	toks, err := grammar.Tokenize(line)
	if err != nil {
		t.Fatalf("Parse(%q) accepted what Tokenize rejects: %v", line, err)
	}
	argv := make([]string, len(toks))
	for i, tk := range toks {
		if tk.Kind == grammar.Word {
			if strings.HasPrefix(tk.Text, "<") && strings.HasSuffix(tk.Text, ">") {
				return // a quoted "<@U1>" is text in a line, a mention in argv
			}
			argv[i] = tk.Text
		} else {
			argv[i] = line[tk.Pos:tk.End]
		}
	}
	fromArgv, err := g.ParseArgs(argv)
	if err != nil {
		t.Fatalf("Parse(%q) accepted, ParseArgs(%q) rejected: %v", line, argv, err)
	}
	if !reflect.DeepEqual(c, fromArgv) {
		t.Fatalf("Parse(%q) and ParseArgs(%q) differ:\n line %s\n argv %s", line, argv, mustJSON(c), mustJSON(fromArgv))
	}
}

// sameMeaning reports whether a and b are the same command, stages compared
// by what they stand for.
func sameMeaning(a, b *grammar.Command) bool {
	return a.Spec == b.Spec && a.Name == b.Name && a.Force == b.Force && reflect.DeepEqual(meaning(a), meaning(b))
}

// meaning is c's arguments without the stages' words as typed: the
// canonical text writes an alias as what it stands for.
func meaning(c *grammar.Command) []grammar.Arg {
	m := []grammar.Arg{}
	for _, a := range c.Args {
		if _, ok := a.Param.Type.(grammar.StageType); ok {
			a.Value.Label = ""
		}
		m = append(m, a)
	}
	return m
}

func mustJSON(c *grammar.Command) string {
	b, err := json.Marshal(c)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
