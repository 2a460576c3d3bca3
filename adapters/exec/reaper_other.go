//go:build !linux

package exec

// adoptOrphans does nothing: only Linux lets a process reap the orphans of
// its descendants, elsewhere init reaps them.
func adoptOrphans() {}
