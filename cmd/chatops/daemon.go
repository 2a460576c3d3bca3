package main

import (
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	natsadapter "github.com/chatops/chatops/adapters/nats"
)

// localServerCommand is the hidden command that runs a data dir's local NATS
// server. Commands start it themselves when they find none.
const localServerCommand = "__nats"

// maxLocalLog is the size past which nats.log starts over.
const maxLocalLog = 1 << 20

// LocalServerCmd runs the local NATS server of the data dir: the first
// command that finds none starts it in the background, every chatops process
// on the dir shares it, and it stops once none has used it for --idle. It
// exits at once, quietly, when another server already serves the dir.
type LocalServerCmd struct {
	Idle time.Duration `help:"Stop after this long without a client." default:"30s" env:"CHATOPS_LOCAL_IDLE"`
}

// Run serves until idle, interrupted, or the data dir is removed.
func (l *LocalServerCmd) Run(e *env) error {
	err := natsadapter.ServeLocal(e.ctx, natsadapter.LocalOptions{
		DataDir:    e.dataDir(),
		SyncAlways: e.globals.Sync,
		Idle:       l.Idle,
		Log:        slog.New(slog.NewTextHandler(e.stderr, nil)),
	})
	if errors.Is(err, natsadapter.ErrLocalRunning) {
		return nil
	}
	return err
}

// spawnLocal returns how commands start the local server of dir: this same
// executable running the hidden command, detached from the command's session
// so that neither Ctrl-C nor the command's exit stops it, writing to
// nats.log in the data dir.
//
// The command waits for it in the background, which reaps it if it exits
// while the command runs (as a server that lost the data dir to another does
// at once) and tells Open if it failed; if the command ends first, the server
// is reparented and reaped by the system.
func spawnLocal(dir string, sync bool) func() (<-chan error, error) {
	return func() (<-chan error, error) {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		args := []string{localServerCommand, "--data", dir}
		if sync {
			args = append(args, "--sync")
		}
		logPath := filepath.Join(dir, "nats.log")
		if fi, err := os.Stat(logPath); err == nil && fi.Size() > maxLocalLog {
			_ = os.Truncate(logPath, 0)
		}
		logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, err
		}
		defer logf.Close()
		cmd := exec.Command(exe, args...)
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = logf, logf
		detach(cmd)
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		return exited, nil
	}
}
