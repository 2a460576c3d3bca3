//go:build unix

package nats

import (
	"errors"
	"os"
	"syscall"
)

// lockFile locks f without waiting: exclusively, or shared with other shared
// holders. The lock belongs to f's open file description, so the kernel frees
// it when the process dies: a crash never leaves it stale.
func lockFile(f *os.File, exclusive bool) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return errLocked
	}
	return err
}

// unlockFile releases a lock taken by lockFile.
func unlockFile(f *os.File) {
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
