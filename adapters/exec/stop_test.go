//go:build unix

package exec_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/chatops/chatops/adapters/exec"
	"github.com/chatops/chatops/engine"
	"golang.org/x/sys/unix"
)

// TestStop runs real programs that outlive their welcome and checks that Run
// returns soon after the timeout or the cancellation, with no process of the
// program's group left. Each program first prints its pid, which is its
// process group's id.
func TestStop(t *testing.T) {
	tests := []struct {
		name    string
		script  string
		timeout time.Duration
		cancel  bool // cancel the context once the program started
		wantErr string
	}{
		{"timeout", "exec sleep 30", 2 * time.Second, false, "timed out after 2s; its processes were stopped"},
		{"timeout with a background child", "sleep 30 & sleep 30", 2 * time.Second, false, "timed out after 2s; its processes were stopped"},
		{"timeout ignoring SIGTERM", `trap "" TERM; sleep 30 & sleep 30`, 2 * time.Second, false, "timed out after 2s; its processes were stopped"},
		{"cancelled", "exec sleep 30", 0, true, "cancelled; its processes were stopped"},
		{"cancelled with a background child", "sleep 30 & sleep 30", 0, true, "cancelled; its processes were stopped"},
		{"exit leaving a background child", "sleep 30 &", 0, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			spec := engine.ExecSpec{Argv: []string{"sh", "-c", "echo $$; " + tt.script}, Timeout: tt.timeout}
			pgid := 0
			start := time.Now()
			// The grace is short so that SIGKILL comes well inside the 3 s.
			err := exec.Runner{Grace: 300 * time.Millisecond}.Run(ctx, spec, func(line string) {
				if pgid == 0 {
					pgid, _ = strconv.Atoi(line)
					if tt.cancel {
						start = time.Now()
						cancel()
					}
				}
			})
			took := time.Since(start)
			t.Logf("returned %v after the timeout started or the cancellation", took)
			if errText(err) != tt.wantErr {
				t.Errorf("err %v, want %q", err, tt.wantErr)
			}
			if tt.cancel && !errors.Is(err, context.Canceled) {
				t.Errorf("err %v does not wrap context.Canceled", err)
			}
			if took >= 3*time.Second {
				t.Errorf("returned after %v, want within 3s", took)
			}
			if pgid == 0 {
				t.Fatal("the program printed no pid")
			}
			if err := unix.Kill(-pgid, 0); !errors.Is(err, unix.ESRCH) {
				t.Errorf("process group %d still has processes (kill -0: %v)", pgid, err)
			}
		})
	}
}
