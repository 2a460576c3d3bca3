//go:build windows

package exec

import (
	osexec "os/exec"
	"syscall"
)

// setGroup gives the program a process group of its own, so that a console
// Ctrl-C reaches chatops alone, which then stops the program.
func setGroup(cmd *osexec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}

// terminate ends the program at once: Windows has no signal asking a process
// without a console window to exit.
func (g *group) terminate() { _ = g.proc.Kill() }

// kill ends the program.
func (g *group) kill() { _ = g.proc.Kill() }

// empty reports true: Windows groups do not track the program's children (a
// job object would), so only the program itself is stopped.
func (g *group) empty() bool { return true }
