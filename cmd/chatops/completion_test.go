package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompletionScripts: each shell's script, sourced as the README says,
// completes "chatops promote de" to demo and "chatops pro" to promote through
// the real binary. Shells that are not installed are skipped.
func TestCompletionScripts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds chatops")
	}
	bin := chatopsBinary(t)
	env := append(os.Environ(), "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"), "CHATOPS_CONFIG=", "HOME="+t.TempDir())
	for _, tc := range []struct {
		shell, script string
	}{
		{"bash", `source <(chatops completion bash)
complete_words() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _chatops; echo "${COMPREPLY[*]}"; }
complete_words chatops promote de
complete_words chatops pro`},
		{"zsh", `autoload -U compinit && compinit -u
source <(chatops completion zsh)
compadd() { shift; print -r -- "$*"; }
words=(chatops promote de); CURRENT=3; _chatops
words=(chatops pro); CURRENT=2; _chatops`},
		{"fish", `chatops completion fish | source
echo (complete -C 'chatops promote de')
echo (complete -C 'chatops pro')`},
	} {
		t.Run(tc.shell, func(t *testing.T) {
			if _, err := exec.LookPath(tc.shell); err != nil {
				t.Skipf("%s is not installed", tc.shell)
			}
			cmd := exec.Command(tc.shell, "-c", tc.script)
			cmd.Dir, cmd.Env = t.TempDir(), env
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != 2 || strings.TrimSpace(lines[0]) != "demo" || strings.TrimSpace(lines[1]) != "promote" {
				t.Errorf("completions %q, want demo, then promote", lines)
			}
		})
	}
}
