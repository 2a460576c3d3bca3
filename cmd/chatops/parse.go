package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/chatops/chatops/engine"
	"github.com/chatops/chatops/grammar"
)

// ParseCmd shows how the grammar reads a command line.
type ParseCmd struct {
	JSON bool     `help:"Print the command as JSON."`
	Line string   `help:"Read one raw line exactly as Slack sends it, instead of arguments." placeholder:"TEXT"`
	Args []string `arg:"" optional:"" passthrough:"partial" help:"The command as you would type it."`
}

// Run parses and prints; it runs nothing.
func (p *ParseCmd) Run(e *env) error {
	eng, err := e.policyEngine()
	if err != nil {
		return err
	}
	var c *grammar.Command
	switch {
	case p.Line != "" && len(p.Args) > 0:
		return &engine.Error{Code: engine.Invalid, Msg: "give the command either as arguments or with --line, not both"}
	case p.Line != "":
		c, err = eng.Grammar.Parse(p.Line)
	default:
		args := p.Args
		if len(args) > 0 && args[0] == "--" {
			args = args[1:] // chatops parse -- --odd: the -- only ends chatops's flags
		}
		c, err = eng.Grammar.ParseArgs(args)
	}
	if err != nil {
		return err
	}
	if p.JSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetEscapeHTML(false) // keep <#C1|deploys> readable
		enc.SetIndent("", "  ")
		return enc.Encode(c)
	}
	fmt.Fprintln(e.stdout, c.Canonical())
	fmt.Fprintln(e.stdout)
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  command\t%s\n", c.Name)
	if c.Force {
		fmt.Fprintf(tw, "  force\tyes\n")
	}
	for _, a := range c.Args {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", a.Param.Name, a, describe(c, a))
	}
	return tw.Flush()
}

// describe says what kind of value an argument holds and where it came from.
func describe(c *grammar.Command, a grammar.Arg) string {
	p := a.Param
	kind := p.Type.Name()
	if p.Part != nil {
		kind += "/" + p.Part.Name
	}
	notes := []string{kind}
	if p.Repeat && len(c.All(p.Name)) > 1 {
		notes = append(notes, "repeated")
	}
	if a.Value.Kind != grammar.Word {
		notes = append(notes, "Slack "+a.Value.Kind.String())
	}
	if p.Default != "" && c.IsDefault(a) {
		notes = append(notes, "default")
	}
	return "(" + strings.Join(notes, ", ") + ")"
}
