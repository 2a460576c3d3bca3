package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/alecthomas/kong"
	"github.com/chatops/chatops/engine"
	"github.com/chatops/chatops/grammar"
)

// version is set at release time with -ldflags "-X main.version=…".
var version = "dev"

// Exit statuses, as DESIGN.md defines them.
const (
	exitOK       = 0
	exitFailed   = 1
	exitInvalid  = 2
	exitDenied   = 3
	exitConflict = 4
)

// CLI is the process's command line. The struct is the grammar of the process
// flags; the chatops commands themselves are read by package grammar.
type CLI struct {
	Version kong.VersionFlag `help:"Print the version and exit."`

	Parse ParseCmd `cmd:"" help:"Show how a command line is read; runs nothing."`
	Help  HelpCmd  `cmd:"" help:"List the chatops commands, or explain one."`
}

// env is what commands need from the process: where to write and the grammar.
type env struct {
	stdout, stderr io.Writer
	grammar        *grammar.Grammar
}

// exitError carries an exit status out of a command's Run.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// Run runs chatops with args (without the program name) and returns the exit
// status. Tests call it in-process.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g, err := engine.Grammar()
	if err != nil {
		fmt.Fprintln(stderr, "chatops: built-in commands:", err)
		return exitFailed
	}
	var cli CLI
	exited := -1
	parser, err := kong.New(&cli,
		kong.Name("chatops"),
		kong.Description("A CLI-first ChatOps toolkit: one typed command engine for the terminal and Slack."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { exited = code }),
		kong.Vars{"version": version},
		kong.UsageOnError(),
	)
	if err != nil {
		fmt.Fprintln(stderr, "chatops:", err)
		return exitFailed
	}
	kctx, err := parser.Parse(args)
	if exited >= 0 {
		return exited // --help or --version
	}
	if err != nil {
		fmt.Fprintf(stderr, "chatops: %v\n", err)
		return exitInvalid
	}
	e := &env{stdout: stdout, stderr: stderr, grammar: g}
	err = kctx.Run(ctx, e)
	var ee exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	default:
		fmt.Fprintf(stderr, "chatops: %v\n", err)
		return exitFailed
	}
}

// reportGrammarError prints a grammar diagnostic and returns the bad-input status.
func (e *env) reportGrammarError(err error) error {
	var ge *grammar.Error
	if errors.As(err, &ge) {
		fmt.Fprint(e.stderr, ge.Detail())
	} else {
		fmt.Fprintln(e.stderr, "error:", err)
	}
	return exitError{exitInvalid}
}
