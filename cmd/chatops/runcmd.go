package main

import (
	"errors"
	"fmt"
	"slices"
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
	if helpAsked(r.Args) {
		// chatops promote --help: the command's help, which needs no
		// state, unless the command declares a flag of that name itself.
		eng, err := e.policyEngine()
		if err != nil {
			return err
		}
		if !declares(eng, r.Args[0], "help", "h") {
			return (&HelpCmd{Command: strings.TrimSuffix(r.Args[0], "!")}).Run(e)
		}
	}
	eng, closeEngine, err := e.openEngine()
	if err != nil {
		return err
	}
	defer closeEngine()
	args, err := e.takeGlobals(eng, r.Args)
	if err != nil {
		return err
	}
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

// helpAsked reports whether a command's arguments hold --help or -h before
// any "--".
func helpAsked(args []string) bool {
	for i, a := range args {
		switch {
		case a == "--":
			return false
		case i > 0 && (a == "--help" || a == "-h"):
			return true
		}
	}
	return false
}

// declares reports whether the command called name declares a flag called
// one of flags, by name or short name.
func declares(eng *engine.Engine, name string, flags ...string) bool {
	for _, s := range eng.Grammar.Forms(strings.TrimSuffix(name, "!")) {
		for _, p := range s.Params {
			if slices.Contains(flags, p.Name) || p.Short != 0 && slices.Contains(flags, string(p.Short)) {
				return true
			}
		}
	}
	return false
}

// takeGlobals lifts chatops's own flags (--yes, --output, --as) out of the
// command's arguments, so they may follow the command as people type them,
// unless the command declares a flag of that name itself.
func (e *env) takeGlobals(eng *engine.Engine, args []string) ([]string, error) {
	if len(args) == 0 {
		return args, nil
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
				} else if e.globals.Output = val; val != "text" && val != "json" {
					e.globals.Output = "text"
					return nil, &engine.Error{Code: engine.Invalid, Msg: fmt.Sprintf("unknown output format %q: use text or json", val)}
				}
				continue
			}
		}
		out = append(out, a)
	}
	return out, nil
}
