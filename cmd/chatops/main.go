// Command chatops runs chatops commands from a terminal, and will serve them to
// Slack. main only wires the process to Run.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// SIGTERM is how service managers and container runtimes ask a process to
	// stop, and SIGHUP comes when the terminal closes: each cancels the
	// context like Ctrl-C, so serve shuts down in order and a running
	// program's process group is stopped.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	code := Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
