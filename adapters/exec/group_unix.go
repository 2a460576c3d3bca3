//go:build unix

package exec

import (
	osexec "os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// setGroup makes the program the leader of a process group of its own, so
// that one signal reaches every process it starts, and Ctrl-C on the terminal
// reaches chatops alone, which then stops the program in order.
func setGroup(cmd *osexec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// terminate asks every process of the group to exit.
func (g *group) terminate() { _ = unix.Kill(-g.pgid, unix.SIGTERM) }

// kill ends every process of the group.
func (g *group) kill() { _ = unix.Kill(-g.pgid, unix.SIGKILL) }

// empty reaps the members that came back to us and reports whether the group
// has no process left. Call it only once the leader was waited for: it would
// otherwise reap the leader under os/exec's feet.
func (g *group) empty() bool {
	// A zombie still belongs to its group; members orphaned by the leader's
	// exit are ours to reap (see adoptOrphans).
	for {
		pid, err := unix.Wait4(-g.pgid, nil, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			break
		}
	}
	return unix.Kill(-g.pgid, 0) == unix.ESRCH
}
