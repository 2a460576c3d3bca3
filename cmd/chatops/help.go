package main

import (
	"fmt"

	"github.com/chatops/chatops/engine"
	"github.com/chatops/chatops/grammar"
)

// HelpCmd prints the help generated from the command declarations, listing only
// the commands the config lets you run. It reads no state, so it is instant.
type HelpCmd struct {
	Command string `arg:"" optional:"" help:"A command to explain."`
}

// Run prints the command list, or one command's help.
func (h *HelpCmd) Run(e *env) error {
	eng, err := e.policyEngine()
	if err != nil {
		return err
	}
	c := engine.Context{Actor: eng.Identify(engine.SourceTerminal, localUser())}
	if h.Command == "" {
		fmt.Fprint(e.stdout, eng.Grammar.Help(func(s *grammar.Spec) bool { return eng.Allowed(c, s.Name) }))
		fmt.Fprintln(e.stdout, `Run a command as "chatops <command> …"; "chatops --help" lists chatops's own options.`)
		return nil
	}
	text, err := eng.Grammar.CommandHelp(h.Command)
	if err != nil {
		return err
	}
	fmt.Fprint(e.stdout, text)
	return nil
}

// policyEngine is an engine with the config's grammar and policy but no state:
// enough to parse and to say what is allowed.
func (e *env) policyEngine() (*engine.Engine, error) {
	cfg, err := e.loadConfig()
	if err != nil {
		return nil, err
	}
	return engine.New(cfg, nil, nil, nil)
}
