package exec

import (
	"os"
	osexec "os/exec"
	"time"
)

// pollInterval is how often stop looks whether the group is gone.
const pollInterval = 10 * time.Millisecond

// killWait bounds the wait after SIGKILL: a process stuck in the kernel
// cannot be removed, and the command must end all the same.
const killWait = 2 * time.Second

// group is a started program and the process group it leads.
type group struct {
	proc *os.Process
	pgid int
	// exited delivers the leader's Wait result; nil once it did.
	exited chan error
	err    error
}

// start starts cmd as the leader of a new process group.
func start(cmd *osexec.Cmd) (*group, error) {
	setGroup(cmd)
	adoptOrphans()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	g := &group{proc: cmd.Process, pgid: cmd.Process.Pid, exited: make(chan error, 1)}
	go func() { g.exited <- cmd.Wait() }()
	return g, nil
}

// stop ends every process of the group: SIGTERM at once, SIGKILL to whatever
// is left after grace. It returns when the leader was waited for and the
// group is empty, or killWait after SIGKILL if it never empties.
func (g *group) stop(grace time.Duration) {
	g.terminate()
	kill := time.NewTimer(grace)
	defer kill.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var giveUp <-chan time.Time
	for !g.gone() {
		select {
		case g.err = <-g.exited:
			g.exited = nil
		case <-tick.C:
			if giveUp != nil {
				// A process forked as the first SIGKILL went out gets it too.
				g.kill()
			}
		case <-kill.C:
			g.kill()
			giveUp = time.After(killWait)
		case <-giveUp:
			return
		}
	}
}

// gone reports whether the leader was waited for and no process of its group
// is left.
func (g *group) gone() bool { return g.exited == nil && g.empty() }
