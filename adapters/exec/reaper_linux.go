package exec

import (
	"sync"

	"golang.org/x/sys/unix"
)

var adopt sync.Once

// adoptOrphans makes this process the reaper of its orphaned descendants: a
// program's background child whose parent died comes back to us rather than
// to PID 1, and stop reaps it. Under an init that reaps nothing (a
// container's, often), it would otherwise stay a zombie, and its group would
// never be empty. Orphans of other groups wait as zombies until chatops
// exits.
func adoptOrphans() {
	adopt.Do(func() { _ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) })
}
