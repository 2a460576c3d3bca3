// Package exec runs the programs of custom commands: the engine's Runner port
// on os/exec, with output streamed line by line as progress.
package exec

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"sync"
	"time"

	"github.com/chatops/chatops/engine"
)

var _ engine.Runner = Runner{}

// DefaultTimeout bounds a program that declares no timeout.
const DefaultTimeout = 10 * time.Minute

// Runner runs programs directly, never through a shell.
type Runner struct{}

// Run implements engine.Runner.
func (Runner) Run(ctx context.Context, spec engine.ExecSpec, progress func(string)) error {
	if len(spec.Argv) == 0 {
		return errors.New("no program to run")
	}
	timeout := spec.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := osexec.CommandContext(ctx, spec.Argv[0], spec.Argv[1:]...)
	cmd.Dir = spec.Dir
	cmd.Env = append(os.Environ(), spec.Env...)
	cmd.WaitDelay = 5 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var wg sync.WaitGroup
	wg.Go(func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			progress(sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr)
	})
	err := cmd.Run()
	pw.Close()
	wg.Wait()
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("%s timed out after %s", spec.Argv[0], timeout)
	}
	return err
}
