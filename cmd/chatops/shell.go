package main

import (
	"os"
	"path/filepath"

	"github.com/chatops/chatops/adapters/terminal"
	"github.com/chatops/chatops/adapters/terminal/shell"
	"github.com/chatops/chatops/engine"
)

// ShellCmd opens the interactive shell: chatops shell, or chatops alone on a
// terminal.
type ShellCmd struct{}

// Run opens the engine as a one-shot command does and runs the shell on the
// terminal until Ctrl-D.
func (s *ShellCmd) Run(e *env) error {
	if !e.stdinTTY || !isTTY(e.stdout) {
		return &engine.Error{Code: engine.Invalid, Msg: "the shell needs a terminal: run one command as \"chatops <command> …\""}
	}
	eng, closeEngine, err := e.openEngine()
	if err != nil {
		return err
	}
	defer closeEngine()
	return shell.Run(e.ctx, shell.Options{
		Engine:      eng,
		Actor:       eng.Identify(engine.SourceTerminal, localUser()),
		Values:      eng.Config.Values(),
		HistoryFile: filepath.Join(e.dataDir(), "shell_history"),
		Style:       e.style,
	})
}

// isTTY reports whether the reader or writer v is a terminal.
func isTTY(v any) bool {
	f, ok := v.(*os.File)
	return ok && terminal.IsTTY(f)
}
