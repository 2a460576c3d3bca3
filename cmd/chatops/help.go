package main

import "fmt"

// HelpCmd prints the help generated from the command declarations.
type HelpCmd struct {
	Command string `arg:"" optional:"" help:"A command to explain."`
}

// Run prints the command list, or one command's help.
func (h *HelpCmd) Run(e *env) error {
	if h.Command == "" {
		fmt.Fprint(e.stdout, e.grammar.Help(nil))
		return nil
	}
	text, err := e.grammar.CommandHelp(h.Command)
	if err != nil {
		return e.reportGrammarError(err)
	}
	fmt.Fprint(e.stdout, text)
	return nil
}
