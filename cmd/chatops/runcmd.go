package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/chatops/chatops/adapters/terminal"
	"github.com/chatops/chatops/engine"
)

// RunCmd runs one chatops command: chatops promote demo --yes.
type RunCmd struct {
	Args []string `arg:"" passthrough:"partial" help:"The command, as you would type it."`
}

// Run parses the command with the grammar, runs it on the engine and prints
// the result.
func (r *RunCmd) Run(e *env) error {
	eng, closeEngine, err := e.openEngine()
	if err != nil {
		return err
	}
	defer closeEngine()
	args := e.takeGlobals(eng, r.Args)
	actor := eng.Identify(engine.SourceTerminal, localUser())
	if e.globals.As != "" {
		if actor, err = eng.Impersonate(e.ctx, actor, e.globals.As, strings.Join(args, " ")); err != nil {
			return err
		}
	}
	c := engine.Context{Actor: actor, Confirmed: e.globals.Yes}
	var progress *terminal.Progress
	if e.globals.Output == "text" {
		progress = terminal.NewProgress(e.stderr, e.style)
		c.Progress = progress.Line
	}
	res, err := eng.ExecArgs(e.ctx, c, args)
	var q *engine.ConfirmationError
	if errors.As(err, &q) {
		if !e.stdinTTY {
			return &engine.Error{Code: engine.Invalid, Msg: q.Reason + ": add --yes to confirm"}
		}
		if !terminal.Confirm(e.stdin, e.stderr, q.Question) {
			fmt.Fprintln(e.stderr, "Cancelled.")
			return exitError{terminal.ExitFailed}
		}
		c.Confirmed = true
		res, err = eng.ExecArgs(e.ctx, c, args)
	}
	if err != nil {
		return err
	}
	if e.globals.Output == "json" {
		return terminal.RenderJSON(e.stdout, res)
	}
	// Where stdout and stderr are one terminal (or one file), the program's
	// output streamed as progress is already there; a separate stdout still
	// gets it, for whoever reads that.
	if terminal.SameFile(e.stdout, e.stderr) {
		res = progress.Omit(res)
	}
	return terminal.Render(e.stdout, res, e.style)
}

// takeGlobals lifts chatops's own flags (--yes, --output, --as) out of the
// command's arguments, so they may follow the command as people type them,
// unless the command declares a flag of that name itself.
func (e *env) takeGlobals(eng *engine.Engine, args []string) []string {
	if len(args) == 0 {
		return args
	}
	declared := map[string]bool{}
	for _, s := range eng.Grammar.Forms(strings.TrimSuffix(args[0], "!")) {
		for _, p := range s.Params {
			declared[p.Name] = true
			if p.Short != 0 {
				declared[string(p.Short)] = true
			}
		}
	}
	out := []string{args[0]}
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			out = append(out, args[i:]...)
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || declared[name] {
			out = append(out, a)
			continue
		}
		switch name {
		case "yes", "y":
			e.globals.Yes = true
			continue
		case "output", "o", "as":
			if !hasVal && i+1 < len(args) {
				i++
				val, hasVal = args[i], true
			}
			if hasVal {
				if name == "as" {
					e.globals.As = val
				} else {
					e.globals.Output = val
				}
				continue
			}
		}
		out = append(out, a)
	}
	return out
}
