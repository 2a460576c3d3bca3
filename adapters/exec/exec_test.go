package exec_test

import (
	"context"
	"errors"
	"os"
	osexec "os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/chatops/chatops/adapters/exec"
	"github.com/chatops/chatops/engine"
)

func TestRun(t *testing.T) {
	notExecutable := filepath.Join(t.TempDir(), "deploy.sh")
	if err := os.WriteFile(notExecutable, []byte("#!/bin/sh\necho hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		spec    engine.ExecSpec
		lines   []string
		wantErr string
	}{
		{"streams output", engine.ExecSpec{Argv: []string{"sh", "-c", "echo one; echo $GREETING"}, Env: []string{"GREETING=hi"}}, []string{"one", "hi"}, ""},
		{"stderr too", engine.ExecSpec{Argv: []string{"sh", "-c", "echo two >&2"}}, []string{"two"}, ""},
		{"dir", engine.ExecSpec{Argv: []string{"pwd"}, Dir: "/"}, []string{"/"}, ""},
		{"failure", engine.ExecSpec{Argv: []string{"sh", "-c", "echo bad; exit 3"}}, []string{"bad"}, "exit status 3"},
		{"timeout", engine.ExecSpec{Argv: []string{"sleep", "5"}, Timeout: 50 * time.Millisecond}, nil, "timed out after 50ms; its processes were stopped"},
		{"missing program", engine.ExecSpec{Argv: []string{"no-such-program-here"}}, nil, "cannot start no-such-program-here: executable file not found in $PATH"},
		{"missing path", engine.ExecSpec{Argv: []string{"/no/such/deploy.sh"}}, nil, "cannot start deploy.sh: no such file or directory"},
		{"not executable", engine.ExecSpec{Argv: []string{notExecutable}}, nil, "cannot start deploy.sh: permission denied"},
		{"no program", engine.ExecSpec{}, nil, "no program to run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var lines []string
			err := exec.Runner{}.Run(context.Background(), tt.spec, func(l string) { lines = append(lines, l) })
			if got := errText(err); got != tt.wantErr {
				t.Fatalf("err %q, want %q", got, tt.wantErr)
			}
			if !reflect.DeepEqual(lines, tt.lines) {
				t.Errorf("lines %q, want %q", lines, tt.lines)
			}
		})
	}
}

// TestRunErrors pins the error types callers tell outcomes apart by.
func TestRunErrors(t *testing.T) {
	err := exec.Runner{}.Run(context.Background(), engine.ExecSpec{Argv: []string{"false"}}, func(string) {})
	var ee *osexec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("false: %v, want an exit error with status 1", err)
	}
	err = exec.Runner{}.Run(context.Background(), engine.ExecSpec{Argv: []string{"sleep", "5"}, Timeout: time.Millisecond}, func(string) {})
	var se *exec.StoppedError
	if !errors.As(err, &se) || !se.TimedOut || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout: %v, want a *StoppedError wrapping context.DeadlineExceeded", err)
	}
	// The caller's own deadline is a cancellation, not the program's timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err = exec.Runner{}.Run(ctx, engine.ExecSpec{Argv: []string{"sleep", "5"}, Timeout: time.Minute}, func(string) {})
	if errText(err) != "cancelled; its processes were stopped" {
		t.Errorf("caller's deadline: %v", err)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
