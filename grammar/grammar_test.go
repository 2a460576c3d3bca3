package grammar_test

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/chatops/chatops/grammar"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with the file under ../testdata, rewriting it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("..", "testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run go test -update and review the diff):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// testDecls exercise what the built-in commands do not: enums, durations,
// booleans, rest of line, defaults, short flags, user, group and URL types.
var testDecls = []grammar.Decl{
	{Usage: "promote[!] <pipeline> [from <stage>[/<app>]] [(to|in|on) <stage>[/<app>] ...]", Summary: "Promote a release"},
	{
		Usage:   "deploy <client> [--branch <name>=master] [-f|--format <format:text|json>] [--dry-run] [--wait <duration>]",
		Summary: "Deploy a client",
		Help:    "Deploys a client from a branch.",
		Args: []grammar.ArgDoc{
			{Name: "client", Help: "who to deploy"},
			{Name: "format", Help: "output format", Default: "text"},
			{Name: "dry-run", Help: "show what would happen"},
			{Name: "wait", Help: "how long to wait", Short: 'w'},
		},
		Examples: []string{"deploy acme --branch main"},
	},
	{Usage: "say <text>...", Summary: "Say something"},
	{Usage: "page <user> [<group>] [--link <url>]", Summary: "Page someone"},
	{Usage: "scale <app> <count:int> [<size:small|large>=small]", Summary: "Scale an app"},
}

func testGrammar(t *testing.T) *grammar.Grammar {
	t.Helper()
	g, err := grammar.New(testDecls)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestTokenize(t *testing.T) {
	type tok struct {
		Kind        grammar.Kind
		Text, Label string
		Pos, End    int
	}
	tests := []struct {
		name, line string
		want       []tok
	}{
		{"words", " promote  demo\tnow ", []tok{{grammar.Word, "promote", "", 1, 8}, {grammar.Word, "demo", "", 10, 14}, {grammar.Word, "now", "", 15, 18}}},
		{"double quotes with escapes", `say "a \"b\" \\ c"`, []tok{{grammar.Word, "say", "", 0, 3}, {grammar.Word, `a "b" \ c`, "", 4, 18}}},
		{"single quotes are literal", `'a \n b'`, []tok{{grammar.Word, `a \n b`, "", 0, 8}}},
		{"quotes join a word", `--notes="fix it"x`, []tok{{grammar.Word, "--notes=fix itx", "", 0, 17}}},
		{"backslash outside quotes", `a\ b`, []tok{{grammar.Word, "a b", "", 0, 4}}},
		{"smart double quotes", "“fix it”", []tok{{grammar.Word, "fix it", "", 0, 12}}},
		{"smart single quotes", "‘fix it’", []tok{{grammar.Word, "fix it", "", 0, 12}}},
		{"apostrophe in a word", "it’s", []tok{{grammar.Word, "it’s", "", 0, 6}}},
		{"entities", "a&amp;b &lt;x&gt;", []tok{{grammar.Word, "a&b", "", 0, 7}, {grammar.Word, "<x>", "", 8, 17}}},
		{"entity inside quotes", `"a &amp; b"`, []tok{{grammar.Word, "a & b", "", 0, 11}}},
		{"unknown entity stays", "a&quot;", []tok{{grammar.Word, "a&quot;", "", 0, 7}}},
		{"user", "<@U123>", []tok{{grammar.UserRef, "U123", "", 0, 7}}},
		{"user with label", "<@U123|alice>", []tok{{grammar.UserRef, "U123", "alice", 0, 13}}},
		{"channel", "<#C123|deploys>", []tok{{grammar.ChannelRef, "C123", "deploys", 0, 15}}},
		{"group", "<!subteam^S1|@ops>", []tok{{grammar.GroupRef, "S1", "@ops", 0, 18}}},
		{"special", "<!here>", []tok{{grammar.SpecialRef, "here", "", 0, 7}}},
		{"link", "<https://example.com/a?b=1&amp;c=2|label>", []tok{{grammar.LinkRef, "https://example.com/a?b=1&c=2", "label", 0, 41}}},
		{"mailto", "<mailto:a@b.c|a@b.c>", []tok{{grammar.LinkRef, "mailto:a@b.c", "a@b.c", 0, 20}}},
		{"non-breaking space separates", "a\u00a0b", []tok{{grammar.Word, "a", "", 0, 1}, {grammar.Word, "b", "", 3, 4}}},
		{"empty quotes", `""`, []tok{{grammar.Word, "", "", 0, 2}}},
		{"empty", "   ", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			toks, err := grammar.Tokenize(tt.line)
			if err != nil {
				t.Fatal(err)
			}
			var got []tok
			for _, x := range toks {
				got = append(got, tok{x.Kind, x.Text, x.Label, x.Pos, x.End})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Tokenize(%q)\n got %+v\nwant %+v", tt.line, got, tt.want)
			}
		})
	}
}

func TestTokenizeErrors(t *testing.T) {
	tests := []struct {
		line, want string
	}{
		{`say "open`, `column 5: unterminated quote: add a closing "`},
		{`say 'open`, `column 5: unterminated quote: add a closing '`},
		{"say “open", "column 5: unterminated quote: add a closing ”"},
		{"say ‘open", "column 5: unterminated quote: add a closing ’"},
		{"route demo to <#C1", "column 15: unterminated Slack reference: add a closing >"},
		{"route demo to <#C1>x", "column 15: a Slack reference must stand alone: put a space after >"},
		{"page <>", "column 6: unknown Slack reference <>: expected <@user>, <#channel>, <!subteam^group> or <https://link>"},
		{"page <@>", "column 6: malformed Slack user reference <@>"},
		{"page <foo bar>", "column 6: unknown Slack reference <foo bar>: expected <@user>, <#channel>, <!subteam^group> or <https://link>"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			_, err := grammar.Tokenize(tt.line)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Tokenize(%q) = %v, want %s", tt.line, err, tt.want)
			}
		})
	}
}

func TestQuoteRoundTrip(t *testing.T) {
	for _, s := range []string{"", "plain", "two words", `a"b`, `back\slash`, "it's", "“smart”", "‘x", "<@U1>", "a&amp;b", "&lt;", "tab\there", "ünïcode", "a&b"} {
		toks, err := grammar.Tokenize(grammar.Quote(s))
		if err != nil || len(toks) != 1 || toks[0].Text != s || toks[0].Kind != grammar.Word {
			t.Errorf("Tokenize(Quote(%q)) = %+v, %v", s, toks, err)
		}
	}
}

func TestParse(t *testing.T) {
	g := testGrammar(t)
	tests := []struct {
		line, canonical string
	}{
		{"deploy acme", "deploy acme"},
		{"deploy acme --branch master --format TEXT", "deploy acme"},
		{"deploy acme -f json --dry-run -w 90s", "deploy acme --format json --dry-run --wait 1m30s"},
		{"deploy acme --dry-run=false --wait=1d2h", "deploy acme --wait 26h"},
		{"DEPLOY acme --no-dry-run", "deploy acme"},
		{"say hello   “big” world --x", "say hello big world --x"},
		{"say -- --x to", "say -- --x to"},
		{"page @alice @ops --link <https://x.example|runbook>", "page @alice @ops --link <https://x.example|runbook>"},
		{"page <@U1|alice> <!subteam^S1|@ops>", "page <@U1|alice> <!subteam^S1|@ops>"},
		{"scale web 3", "scale web 3"},
		{"scale web 3 LARGE", "scale web 3 large"},
		{"promote demo on qa,prod from dev/api", "promote demo from development/api to qa to production"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			c, err := g.Parse(tt.line)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Canonical(); got != tt.canonical {
				t.Errorf("canonical %q, want %q", got, tt.canonical)
			}
			back, err := g.Parse(c.Canonical())
			if err != nil || back.Spec != c.Spec || back.Force != c.Force || !reflect.DeepEqual(typedAsMeant(back), typedAsMeant(c)) {
				t.Errorf("canonical %q does not read back: %v", c.Canonical(), err)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	g := testGrammar(t)
	tests := []struct {
		line, want string
	}{
		{"deploy acme --format yaml", `column 22: --format: "yaml" is not one of text|json`},
		{"deploy acme --format jsn", `column 22: --format: "jsn" is not one of text|json; did you mean "json"?`},
		{"deploy acme --wait soon", `column 20: --wait: expected a duration like 90s, 15m, 2h or 1d, got "soon"`},
		{"deploy acme --dry-run=maybe", `column 23: --dry-run: expected true or false, got "maybe"`},
		{"deploy acme --no-dry-run=1", `column 13: --no-dry-run takes no value`},
		{"deploy acme --brnch x", `column 13: unknown flag "--brnch"; did you mean "--branch"?`},
		{"deploy acme -x", `column 13: unknown flag "-x"`},
		{"deploy acme --wait", `column 19: missing <duration> after --wait`},
		{"deploy acme -w 1s -w 2s", `column 19: flag --wait given twice`},
		{"scale web many", `column 11: <count>: expected an integer, got "many"`},
		{"scale web 2 medium", `column 13: <size>: "medium" is not one of small|large`},
		{"page <#C1>", `column 6: <user>: expected a user, got a Slack channel reference`},
		{"page @a @b --link ftp://x", `column 19: --link: expected a URL like https://example.com, got "ftp://x"`},
		{"promote demo to qa,", `column 20: empty value in the list "qa,"`},
		{"promote demo from qa from dev", `column 22: "from" given twice`},
		{"promote demo from", `column 18: missing <stage> after "from"`},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			_, err := g.Parse(tt.line)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Parse(%q) = %v\n want %s", tt.line, err, tt.want)
			}
		})
	}
}

// Error.Param names the argument a diagnostic is about, so that a caller picks
// the field to blame without reading the message.
func TestErrorParam(t *testing.T) {
	g := testGrammar(t)
	tests := []struct {
		line, param string
	}{
		{"promote", "pipeline"},
		{"promote demo from", "from"},
		{"promote demo from qa from dev", "from"},
		{"promote demo from qa/", "app"},
		{"promote demo to qa,", "to"},
		{"deploy acme --wait soon", "wait"},
		{"deploy acme --wait", "wait"},
		{"deploy acme -w 1s -w 2s", "wait"},
		{"deploy acme --no-dry-run=1", "dry-run"},
		{"scale web many", "count"},
		{"deploy acme -x", ""},
		{"deploy acme extra", ""},
		{"dploy", ""},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			_, err := g.Parse(tt.line)
			var e *grammar.Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse = %v, want a *grammar.Error", err)
			}
			got := ""
			if e.Param != nil {
				got = e.Param.Name
			}
			if got != tt.param {
				t.Errorf("Param %q, want %q (%v)", got, tt.param, err)
			}
		})
	}
}

func TestKnownStages(t *testing.T) {
	stages := grammar.StageType{Aliases: grammar.DefaultStageAliases, Known: []string{"development", "staging", "production", "qa"}}
	g, err := grammar.New(testDecls[:1], grammar.WithType("stage", stages))
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.Parse("promote demo to prodution")
	if err == nil || err.Error() != `column 17: <stage>: unknown stage "prodution"; did you mean "production"?` {
		t.Errorf("got %v", err)
	}
	c, err := g.Parse("promote demo to QA")
	if err != nil || c.Canonical() != "promote demo to qa" {
		t.Errorf("got %v, %v", c, err)
	}
}

func TestDeclErrors(t *testing.T) {
	tests := []struct {
		name  string
		decls []grammar.Decl
		index int
		want  string
	}{
		{"no name", []grammar.Decl{{Usage: ""}}, 0, `usage "": column 1: expected the command name`},
		{"required after optional", []grammar.Decl{{Usage: "ok"}, {Usage: "deploy <a> [<b>] <c>"}}, 1,
			`usage "deploy <a> [<b>] <c>": column 18: required <c> cannot follow optional <b>`},
		{"after rest", []grammar.Decl{{Usage: "deploy <a>... <b>"}}, 0,
			`usage "deploy <a>... <b>": column 15: nothing may follow the rest-of-line argument <a>`},
		{"argument twice", []grammar.Decl{{Usage: "deploy [to <a>] [to <b>]"}}, 0,
			`usage "deploy [to <a>] [to <b>]": column 17: argument "to" declared twice`},
		{"keyword twice", []grammar.Decl{{Usage: "deploy [(to|in) <a>] [in <b>]"}}, 0,
			`usage "deploy [(to|in) <a>] [in <b>]": column 22: keyword "in" already starts clause "to"`},
		{"unknown type", []grammar.Decl{{Usage: "deploy <a:nope>"}}, 0,
			`usage "deploy <a:nope>": column 8: unknown type "nope" in <a:nope>; types: bool, channel, command, duration, group, int, pipeline, stage, string, url, user, version`},
		{"keyword alone", []grammar.Decl{{Usage: "deploy [to]"}}, 0,
			`usage "deploy [to]": column 11: keyword "to" must be followed by a <value>`},
		{"unclosed bracket", []grammar.Decl{{Usage: "deploy [--x <n>"}}, 0,
			`usage "deploy [--x <n>": column 16: expected ] to close the [ at column 8`},
		{"required boolean", []grammar.Decl{{Usage: "deploy --dry-run"}}, 0,
			`usage "deploy --dry-run": column 8: a boolean flag must be optional: [--dry-run]`},
		{"bad default", []grammar.Decl{{Usage: "deploy <n:int> [<m:int>=many]"}}, 0,
			`usage "deploy <n:int> [<m:int>=many]": column 16: default of "m": expected an integer, got "many"`},
		{"required with default", []grammar.Decl{{Usage: "a <n:int>", Args: []grammar.ArgDoc{{Name: "n", Default: "3"}}}}, 0,
			`usage "a <n:int>": column 3: required argument "n" cannot have a default`},
		{"short positional", []grammar.Decl{{Usage: "a <n:int>", Args: []grammar.ArgDoc{{Name: "n", Short: 'n'}}}}, 0,
			`usage "a <n:int>": column 3: "n" has a short form but is not a flag`},
		{"undeclared doc", []grammar.Decl{{Usage: "a <n:int>", Args: []grammar.ArgDoc{{Name: "m"}}}}, 0,
			`usage "a <n:int>": documented argument "m" is not in the usage line`},
		{"name is an alias", []grammar.Decl{{Usage: "a", Aliases: []string{"b"}}, {Usage: "b"}}, 1,
			`usage "b": command name "b" is already an alias of a`},
		{"alias taken", []grammar.Decl{{Usage: "a", Aliases: []string{"b"}}, {Usage: "c", Aliases: []string{"B"}}}, 1,
			`usage "c": alias "b" already names a`},
		{"bad example", []grammar.Decl{{Usage: "ok"}, {Usage: "a <n:int>", Examples: []string{"a x"}}}, 1,
			`usage "a <n:int>": example "a x": column 3: <n>: expected an integer, got "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := grammar.New(tt.decls)
			var de *grammar.DeclError
			if !errors.As(err, &de) {
				t.Fatalf("New = %T %v, want a *grammar.DeclError", err, err)
			}
			if err.Error() != tt.want {
				t.Errorf("New:\n got %s\nwant %s", err, tt.want)
			}
			if de.Index != tt.index || de.Usage != tt.decls[tt.index].Usage {
				t.Errorf("DeclError{Index: %d, Usage: %q}, want index %d", de.Index, de.Usage, tt.index)
			}
		})
	}
}

// manyUsage declares n required positionals <a1>…<an> and then an optional
// --last flag: n+1 arguments.
func manyUsage(n int) string {
	var b strings.Builder
	b.WriteString("many")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, " <a%d>", i)
	}
	b.WriteString(" [--last <v>]")
	return b.String()
}

// manyLine gives manyUsage(n)'s positionals, then tail.
func manyLine(n int, tail string) string {
	var b strings.Builder
	b.WriteString("many")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, " v%d", i)
	}
	return b.String() + tail
}

// A parser tracks which arguments it was given in 64 bits: past 64 it would
// take a flag twice, call a given argument missing and offer given flags again,
// so New refuses such a declaration.
func TestArgumentLimit(t *testing.T) {
	g, err := grammar.New([]grammar.Decl{{Usage: manyUsage(63)}})
	if err != nil {
		t.Fatalf("64 arguments: %v", err)
	}
	line := manyLine(63, " --last x --last y")
	want := fmt.Sprintf("column %d: flag --last given twice", strings.LastIndex(line, "--last")+1)
	if _, err := g.Parse(line); err == nil || err.Error() != want {
		t.Errorf("the 64th argument given twice: %v, want %s", err, want)
	}
	line = manyLine(63, " --last x")
	if c, err := g.Parse(line); err != nil || len(c.Args) != 64 {
		t.Errorf("64 arguments given: %v", err)
	}
	if got := g.Complete(line+" -", len(line)+2, nil); got != nil {
		t.Errorf("completion offers a given flag: %q", got)
	}

	usage := manyUsage(64)
	_, err = grammar.New([]grammar.Decl{{Usage: "ok"}, {Usage: usage}})
	var de *grammar.DeclError
	if !errors.As(err, &de) {
		t.Fatalf("65 arguments: %T %v, want a *grammar.DeclError", err, err)
	}
	pos := strings.Index(usage, "[--last")
	if de.Index != 1 || de.Usage != usage || de.Pos != pos {
		t.Errorf("DeclError{Index: %d, Pos: %d}, want {Index: 1, Pos: %d}", de.Index, de.Pos, pos)
	}
	want = fmt.Sprintf("usage %q: column %d: too many arguments: a command declares at most 64", usage, pos+1)
	if err.Error() != want {
		t.Errorf("65 arguments:\n got %s\nwant %s", err, want)
	}
}

func TestErrorDetail(t *testing.T) {
	g := testGrammar(t)
	_, err := g.Parse("scale wéb many")
	var e *grammar.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v", err)
	}
	want := "error: <count>: expected an integer, got \"many\" (column 11)\n" +
		"  scale wéb many\n" +
		"            ^^^^\n"
	if got := e.Detail(); got != want {
		t.Errorf("Detail:\n%s\nwant:\n%s", got, want)
	}
}

func TestComplete(t *testing.T) {
	g := testGrammar(t)
	values := func(name string) []string {
		switch name {
		case "pipeline":
			return []string{"demo", "web", "worker"}
		case "stage":
			return []string{"development", "staging", "production"}
		case "app":
			return []string{"api", "api-eu"}
		}
		return nil
	}
	tests := []struct {
		line string
		want []string
	}{
		{"", []string{"promote", "deploy", "say", "page", "scale"}},
		{"pro", []string{"promote"}},
		{"PRO", []string{"promote"}},
		{"promote ", []string{"demo", "web", "worker"}},
		{"promote w", []string{"web", "worker"}},
		{"promote demo ", []string{"from", "to", "in", "on"}},
		{"promote demo from ", []string{"development", "staging", "production"}},
		{"promote demo from st", []string{"staging"}},
		{"promote demo from staging/a", []string{"staging/api", "staging/api-eu"}},
		{"promote demo from staging ", []string{"to", "in", "on"}},
		{"promote demo to qa ", []string{"from", "to", "in", "on"}},
		{"deploy acme -", []string{"--branch", "--format", "--dry-run", "--wait"}},
		{"deploy acme --format ", []string{"text", "json"}},
		{"deploy acme --format j", []string{"json"}},
		{"deploy acme --dry-run --", []string{"--branch", "--format", "--wait"}},
		{`deploy acme --format "j`, []string{"json"}},
		{"scale web 3 ", []string{"small", "large"}},
		{"nosuch ", nil},
		{"say hello ", nil},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			got := g.Complete(tt.line, len(tt.line), values)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Complete(%q) = %q, want %q", tt.line, got, tt.want)
			}
		})
	}
	if got := g.Complete("promote demo", len("prom"), values); !reflect.DeepEqual(got, []string{"promote"}) {
		t.Errorf("cursor inside the first word: %q", got)
	}
}

func TestHelp(t *testing.T) {
	g := testGrammar(t)
	var b strings.Builder
	b.WriteString(g.Help(nil))
	for _, name := range g.Commands() {
		h, err := g.CommandHelp(name)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("\n---\n")
		b.WriteString(h)
	}
	golden(t, "help/grammar.golden", b.String())
	_, err := g.CommandHelp("dploy")
	if err == nil || err.Error() != `column 1: unknown command "dploy"; did you mean "deploy"?` {
		t.Errorf("CommandHelp(dploy) = %v", err)
	}
	if got := g.Help(func(s *grammar.Spec) bool { return false }); got != "There is no command you may run here.\n" {
		t.Errorf("Help with nothing allowed = %q", got)
	}
}

// typedAsMeant is c's arguments without the stages' words as typed: the
// canonical text writes an alias as what it stands for.
func typedAsMeant(c *grammar.Command) []grammar.Arg {
	m := []grammar.Arg{}
	for _, a := range c.Args {
		if _, ok := a.Param.Type.(grammar.StageType); ok {
			a.Value.Label = ""
		}
		m = append(m, a)
	}
	return m
}
