//go:build windows

package nats

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// lockRange is the byte the locks cover: past any content, so that a locked
// file stays readable (Windows locks forbid reading the bytes they cover).
func lockRange() *windows.Overlapped { return &windows.Overlapped{OffsetHigh: 1} }

// lockFile locks f without waiting: exclusively, or shared with other shared
// holders. Windows frees the lock when the process dies.
func lockFile(f *os.File, exclusive bool) error {
	flags := uint32(windows.LOCKFILE_FAIL_IMMEDIATELY)
	if exclusive {
		flags |= windows.LOCKFILE_EXCLUSIVE_LOCK
	}
	err := windows.LockFileEx(windows.Handle(f.Fd()), flags, 0, 1, 0, lockRange())
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) || errors.Is(err, windows.ERROR_IO_PENDING) {
		return errLocked
	}
	return err
}

// unlockFile releases a lock taken by lockFile.
func unlockFile(f *os.File) {
	_ = windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, lockRange())
}
