package exec_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chatops/chatops/adapters/exec"
	"github.com/chatops/chatops/engine"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name    string
		spec    engine.ExecSpec
		lines   []string
		wantErr string
	}{
		{"streams output", engine.ExecSpec{Argv: []string{"sh", "-c", "echo one; echo two >&2; echo $GREETING"}, Env: []string{"GREETING=hi"}}, []string{"one", "two", "hi"}, ""},
		{"failure", engine.ExecSpec{Argv: []string{"sh", "-c", "echo bad; exit 3"}}, []string{"bad"}, "exit status 3"},
		{"timeout", engine.ExecSpec{Argv: []string{"sleep", "5"}, Timeout: 50 * time.Millisecond}, nil, "sleep timed out after 50ms"},
		{"missing program", engine.ExecSpec{Argv: []string{"no-such-program-here"}}, nil, "executable file not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var lines []string
			err := exec.Runner{}.Run(context.Background(), tt.spec, func(l string) { lines = append(lines, l) })
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err %v, want %q", err, tt.wantErr)
			}
			if tt.name == "streams output" {
				// stdout and stderr share a pipe; their order is the program's.
				if len(lines) != 3 || !reflect.DeepEqual(lines[2:], []string{"hi"}) {
					t.Errorf("lines %q", lines)
				}
			} else if !reflect.DeepEqual(lines, tt.lines) {
				t.Errorf("lines %q, want %q", lines, tt.lines)
			}
		})
	}
}
