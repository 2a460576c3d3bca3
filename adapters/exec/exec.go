// Package exec runs the programs of custom commands: the engine's Runner port
// on os/exec, with output streamed line by line as progress.
//
// Each program runs in a process group of its own. When the program ends,
// times out or is cancelled, the whole group is stopped (SIGTERM, then SIGKILL
// after a grace period), so no child outlives its command or holds its output
// open.
package exec

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	osexec "os/exec"
	"path/filepath"
	"time"

	"github.com/chatops/chatops/engine"
)

var _ engine.Runner = Runner{}

const (
	// DefaultTimeout bounds a program that declares no timeout.
	DefaultTimeout = 10 * time.Minute
	// DefaultGrace is how long a program's processes have between SIGTERM
	// and SIGKILL.
	DefaultGrace = 5 * time.Second
)

// drainTimeout bounds the wait for the last output once the group is gone: a
// process that left the group (setsid) may still hold the pipe.
const drainTimeout = time.Second

// Runner runs programs directly, never through a shell.
type Runner struct {
	// Grace is how long a stopped program's processes have to exit after
	// SIGTERM before they get SIGKILL; DefaultGrace when zero.
	Grace time.Duration
}

// StoppedError says a program was stopped before it ended by itself: it ran
// past its timeout, or its context ended first. Either way every process of
// its group was stopped.
type StoppedError struct {
	// TimedOut says the program ran past Timeout.
	TimedOut bool
	// Timeout is the program's time limit.
	Timeout time.Duration
	// Cause is context.DeadlineExceeded for a timeout, and the context's
	// error otherwise.
	Cause error
}

func (e *StoppedError) Error() string {
	if e.TimedOut {
		return fmt.Sprintf("timed out after %s; its processes were stopped", e.Timeout)
	}
	return "cancelled; its processes were stopped"
}

func (e *StoppedError) Unwrap() error { return e.Cause }

// errTimedOut is the cause of the program's own deadline, told apart from a
// deadline of the caller's context.
var errTimedOut = errors.New("program timed out")

// Run implements engine.Runner. It returns an error when the program cannot
// start, a *osexec.ExitError when it exits non-zero, and a *StoppedError when
// it times out or ctx ends first. It returns once the program's whole process
// group is gone and its output is read.
func (r Runner) Run(ctx context.Context, spec engine.ExecSpec, progress func(string)) error {
	if len(spec.Argv) == 0 {
		return errors.New("no program to run")
	}
	timeout := cmp.Or(spec.Timeout, DefaultTimeout)
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errTimedOut)
	defer cancel()

	cmd := osexec.Command(spec.Argv[0], spec.Argv[1:]...)
	cmd.Dir = spec.Dir
	cmd.Env = append(os.Environ(), spec.Env...)
	// The program writes to a pipe of ours, not one os/exec copies from, so
	// Wait returns when the program exits rather than when the last process
	// holding the pipe does.
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	g, err := start(cmd)
	pw.Close()
	if err != nil {
		pr.Close()
		return startError(spec.Argv[0], err)
	}

	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			progress(sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr)
	}()

	var stopped error
	select {
	case g.err = <-g.exited:
		g.exited = nil
	case <-ctx.Done():
		stopped = &StoppedError{TimedOut: context.Cause(ctx) == errTimedOut, Timeout: timeout, Cause: ctx.Err()}
	}
	// Whatever the program left running in its group goes too, even after a
	// clean exit: a background child would outlive the command.
	g.stop(cmp.Or(r.Grace, DefaultGrace))

	select {
	case <-read:
	case <-time.After(drainTimeout):
	}
	pr.Close()
	<-read

	if stopped != nil {
		return stopped
	}
	return g.err
}

// startError says why a program could not start, naming it as the config
// does, without the directory it was found in.
func startError(program string, err error) error {
	var pe *fs.PathError
	var ee *osexec.Error
	switch {
	case errors.As(err, &ee):
		err = ee.Err
	case errors.As(err, &pe):
		err = pe.Err
	}
	return fmt.Errorf("cannot start %s: %w", filepath.Base(program), err)
}
