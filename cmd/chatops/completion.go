package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/chatops/chatops/grammar"
)

// CompletionCmd prints a shell's completion script.
type CompletionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"The shell: bash, zsh or fish."`
}

// Run prints the script; it completes through "chatops __complete".
func (c *CompletionCmd) Run(e *env) error {
	_, err := fmt.Fprint(e.stdout, completionScripts[c.Shell])
	return err
}

// completionScripts call "chatops __complete" with the words typed so far,
// the last one the word being completed (empty after a space).
var completionScripts = map[string]string{
	"bash": `# chatops completion for bash. Install:
#   source <(chatops completion bash)          # this shell
#   chatops completion bash > ~/.local/share/bash-completion/completions/chatops
_chatops() {
	local IFS=$'\n'
	COMPREPLY=($(command chatops __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -F _chatops chatops
`,
	"zsh": `#compdef chatops
# chatops completion for zsh. Install (after compinit):
#   source <(chatops completion zsh)           # this shell
#   chatops completion zsh > "${fpath[1]}/_chatops"
_chatops() {
	local -a candidates
	candidates=("${(@f)$(command chatops __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
	compadd -- "${(@)candidates:#}"
}
compdef _chatops chatops
`,
	"fish": `# chatops completion for fish. Install:
#   chatops completion fish | source            # this shell
#   chatops completion fish > ~/.config/fish/completions/chatops.fish
complete -c chatops -f -a '(command chatops __complete (commandline -opc)[2..-1] (commandline -ct) 2>/dev/null)'
`,
}

// CompleteCmd is what the completion scripts call: it prints the candidates
// for the last word, one a line, from the grammar, chatops's own commands
// and the config's pipelines and stages. It reads no state, so it is quick.
type CompleteCmd struct {
	Words []string `arg:"" optional:"" passthrough:"" help:"The words after chatops, the last the one being completed."`
}

// processCommands are chatops's own commands, offered beside the grammar's.
var processCommands = []string{"audit", "completion", "config", "parse", "serve", "shell", "slack", "version"}

// processFlags are chatops's own flags that take a value.
var processFlags = map[string]bool{"--config": true, "--data": true, "--nats-url": true, "--output": true, "-o": true, "--as": true}

// Run prints the candidates.
func (c *CompleteCmd) Run(e *env) error {
	words := c.Words
	if len(words) == 0 {
		words = []string{""}
	}
	// Lift chatops's own flags that come before the command.
	for len(words) > 1 && strings.HasPrefix(words[0], "-") {
		flag, val, hasVal := strings.Cut(words[0], "=")
		words = words[1:]
		if processFlags[flag] && !hasVal && len(words) > 1 {
			val, words = words[0], words[1:]
		}
		if flag == "--config" {
			e.globals.Config = val
		}
	}
	eng, err := e.policyEngine()
	if err != nil {
		return nil // no candidates from a config that does not load
	}
	current := words[len(words)-1]
	quoted := make([]string, len(words)-1)
	for i, w := range words[:len(words)-1] {
		quoted[i] = grammar.Quote(w)
	}
	line := strings.Join(append(quoted, current), " ")
	out := eng.Grammar.Complete(line, len(line), eng.Config.Values())
	if len(words) == 1 {
		for _, p := range processCommands {
			if strings.HasPrefix(p, current) && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
		slices.Sort(out)
	}
	for _, o := range out {
		fmt.Fprintln(e.stdout, o)
	}
	return nil
}
