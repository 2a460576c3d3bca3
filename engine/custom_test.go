package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/chatops/chatops/adapters/exec"
	"github.com/chatops/chatops/engine"
)

// recorder is a Runner that keeps the programs it is asked to run.
type recorder struct{ specs []engine.ExecSpec }

func (r *recorder) Run(_ context.Context, spec engine.ExecSpec, _ func(string)) error {
	r.specs = append(r.specs, spec)
	return nil
}

// customEngine returns an engine over a config file written in a temporary
// dir, with the scripts given beside it.
func customEngine(t *testing.T, config string, scripts map[string]string) *engine.Engine {
	t.Helper()
	dir := t.TempDir()
	for name, body := range scripts {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "chatops.yaml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := engine.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return newEngine(t, cfg)
}

const shipConfig = `
commands:
  - usage: "ship <client> [<note>] [--branch <name>=master] [--dry-run]"
    exec:
      argv: [deploy, "{client}", "--branch={branch}", "{note}", "{dry-run}", "{unknown}", "{{client}}", "{client"]
      env: {CLIENT: "{client}", BRANCH: "{branch}"}
`

func TestCustomExpansion(t *testing.T) {
	tests := []struct {
		name string
		line string
		argv []string
		env  []string
	}{
		{"defaults", "ship acme",
			[]string{"deploy", "acme", "--branch=master", "", "false", "{unknown}", "{acme}", "{client"},
			[]string{"BRANCH=master", "CLIENT=acme"}},
		{"given", "ship acme 'hot fix' --branch main --dry-run",
			[]string{"deploy", "acme", "--branch=main", "hot fix", "true", "{unknown}", "{acme}", "{client"},
			[]string{"BRANCH=main", "CLIENT=acme"}},
		{"a value naming another placeholder stays literal", "ship {branch} --branch {client}",
			[]string{"deploy", "{branch}", "--branch={client}", "", "false", "{unknown}", "{{branch}}", "{client"},
			[]string{"BRANCH={client}", "CLIENT={branch}"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := customEngine(t, shipConfig, nil)
			rec := &recorder{}
			e.Runner = rec
			if _, err := e.ExecLine(context.Background(), terminal(e, "me"), tt.line); err != nil {
				t.Fatal(err)
			}
			got := rec.specs[0]
			if !reflect.DeepEqual(got.Argv, tt.argv) {
				t.Errorf("argv %q, want %q", got.Argv, tt.argv)
			}
			if !reflect.DeepEqual(got.Env, tt.env) {
				t.Errorf("env %q, want %q", got.Env, tt.env)
			}
		})
	}
}

// TestCustomExpansionDeterministic runs a command whose values name each
// other's placeholders 100 times: expansion must give the same argv each time.
func TestCustomExpansionDeterministic(t *testing.T) {
	e := customEngine(t, `
commands:
  - usage: "swap <a> <b> <c> <d>"
    exec:
      argv: [echo, "{a} {b} {c} {d}"]
`, nil)
	rec := &recorder{}
	e.Runner = rec
	want := []string{"echo", "{b} {c} {d} {a}"}
	for range 100 {
		if _, err := e.ExecLine(context.Background(), terminal(e, "me"), "swap {b} {c} {d} {a}"); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range rec.specs {
		if !reflect.DeepEqual(s.Argv, want) {
			t.Fatalf("run %d: argv %q, want %q", i+1, s.Argv, want)
		}
	}
}

// TestCustomProgramPath runs real programs named relative to the config file,
// from a test whose working directory is elsewhere.
func TestCustomProgramPath(t *testing.T) {
	e := customEngine(t, `
commands:
  - usage: "hello <who>"
    exec:
      argv: [./scripts/hello.sh, "{who}"]
  - usage: "where"
    exec:
      argv: [sh, -c, pwd]
      dir: scripts
`, map[string]string{"scripts/hello.sh": "#!/bin/sh\necho \"hello $1\"\n"})
	e.Runner = exec.Runner{}
	dir := filepath.Dir(e.Config.Path)
	res, err := e.ExecLine(context.Background(), terminal(e, "me"), "hello world")
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != "hello world" {
		t.Errorf("hello: %q", res.Text)
	}
	res, err = e.ExecLine(context.Background(), terminal(e, "me"), "where")
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := filepath.EvalSymlinks(filepath.Join(dir, "scripts")); res.Text != want && res.Text != filepath.Join(dir, "scripts") {
		t.Errorf("where: %q, want %q", res.Text, want)
	}
}

// TestCustomFailure checks that a program that fails, times out or cannot
// start is the command's outcome: Failed, never Unavailable (which the Slack
// worker would retry).
func TestCustomFailure(t *testing.T) {
	tests := []struct {
		name, argv, msg string
	}{
		{"exit status", "[sh, -c, 'echo doing; exit 1']", "ship failed: exit status 1"},
		{"timeout", "[sleep, '5']", "ship failed: timed out after 2s; its processes were stopped"},
		{"not found", "[./no-such.sh]", "ship failed: cannot start no-such.sh: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := customEngine(t, "commands:\n  - usage: ship\n    exec: {argv: "+tt.argv+", timeout: 2s}\n", nil)
			e.Runner = exec.Runner{Grace: 100 * time.Millisecond}
			_, err := e.ExecLine(context.Background(), terminal(e, "me"), "ship")
			if code := engine.ErrorCode(err); code != engine.Failed {
				t.Errorf("code %q, want %q", code, engine.Failed)
			}
			if msg := engine.ErrorMessage(err); msg != tt.msg {
				t.Errorf("message %q, want %q", msg, tt.msg)
			}
		})
	}
}
