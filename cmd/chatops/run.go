package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/alecthomas/kong"
	"github.com/chatops/chatops/adapters/terminal"
	"github.com/chatops/chatops/engine"
)

// CLI is the process's command line. The struct is the grammar of the process
// flags; the chatops commands themselves are read by package grammar.
type CLI struct {
	Globals

	VersionFlag kong.VersionFlag `name:"version" help:"Print the version, commit, build date and Go version, and exit."`

	Run        RunCmd        `cmd:"" default:"withargs" hidden:"" help:"Run a chatops command."`
	Parse      ParseCmd      `cmd:"" help:"Show how a command line is read; runs nothing."`
	Help       HelpCmd       `cmd:"" help:"List the chatops commands, or explain one."`
	Shell      ShellCmd      `cmd:"" help:"Type commands with completion, inline errors and history (chatops alone on a terminal)."`
	Audit      AuditCmd      `cmd:"" help:"Read the audit stream."`
	Watch      WatchCmd      `cmd:"" help:"Print pipeline events as they happen, from every terminal, chat and CI/CD system."`
	Status     StatusCmd     `cmd:"" help:"Show the streams, buckets and consumers in NATS: replicas, leader, messages, bytes, limits, pending and redelivered."`
	Config     ConfigCmd     `cmd:"" help:"Check the config file."`
	Serve      ServeCmd      `cmd:"" help:"Serve Slack: slash commands in, answers out."`
	Slack      SlackCmd      `cmd:"" help:"Slack app tools."`
	Version    VersionCmd    `cmd:"" help:"Print the version, commit, build date and Go version."`
	Completion CompletionCmd `cmd:"" help:"Print a shell completion script (bash, zsh or fish)."`
	Complete   CompleteCmd   `cmd:"" name:"__complete" hidden:"" help:"Complete a command line; completion scripts call it."`

	LocalServer LocalServerCmd `cmd:"" name:"__nats" hidden:"" help:"Run the data dir's local NATS server (commands start it)."`
}

// Globals are the options every command shares; each has an environment twin.
type Globals struct {
	Data        string `help:"Data dir of the local NATS server." env:"CHATOPS_DATA" placeholder:"DIR"`
	Config      string `help:"Config file (default ./chatops.yaml, else chatops/config.yaml in the user's config dir, else the built-in demo)." env:"CHATOPS_CONFIG" placeholder:"FILE"`
	NatsURL     string `name:"nats-url" help:"NATS server or cluster to use instead of the local one: one URL, or several seeds separated by commas." env:"CHATOPS_NATS_URL" placeholder:"URL"`
	NatsCreds   string `name:"nats-creds" help:"NATS credentials file (JWT and NKey seed)." env:"CHATOPS_NATS_CREDS" placeholder:"FILE" type:"path"`
	NatsNKey    string `name:"nats-nkey" help:"NATS NKey seed file." env:"CHATOPS_NATS_NKEY" placeholder:"FILE" type:"path"`
	NatsTLSCA   string `name:"nats-tls-ca" help:"CA certificate to verify the NATS servers with." env:"CHATOPS_NATS_TLS_CA" placeholder:"FILE" type:"path"`
	NatsTLSCert string `name:"nats-tls-cert" help:"Client certificate for NATS (mutual TLS)." env:"CHATOPS_NATS_TLS_CERT" placeholder:"FILE" type:"path"`
	NatsTLSKey  string `name:"nats-tls-key" help:"The client certificate's key." env:"CHATOPS_NATS_TLS_KEY" placeholder:"FILE" type:"path"`
	Replicas    int    `name:"replicas" help:"Replicas of each stream and bucket on a NATS cluster (default: the cluster's size, at most 3)." env:"CHATOPS_REPLICAS" placeholder:"N"`
	Sync        bool   `name:"sync" help:"Flush every write of the local store to disk before acknowledging it." env:"CHATOPS_SYNC"`
	Output      string `help:"Output format: text or json." enum:"text,json" default:"text" short:"o"`
	Yes         bool   `help:"Answer yes to confirmations (needed when not on a terminal)." short:"y"`
	As          string `help:"Run as another user, if policy lets you." placeholder:"USER"`
}

// env is what commands need from the process.
type env struct {
	ctx            context.Context
	stdin          io.Reader
	stdout, stderr io.Writer
	stdinTTY       bool
	stderrTTY      bool
	style          terminal.Style
	globals        *Globals
	// saidDemo is set once stderr has said the demo config is in use.
	saidDemo bool
	// serving is set by chatops serve, whose log is read.
	serving bool
	// embed is set by chatops serve with every role: it runs the data
	// dir's local server itself when none runs.
	embed bool
}

// exitError carries an exit status out of a command's Run after the command
// has printed its own diagnostic.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// Run runs chatops with args (without the program name) and returns the exit
// status. Tests call it in-process.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var cli CLI
	exited := -1
	parser, err := kong.New(&cli,
		kong.Name("chatops"),
		kong.Description("A CLI-first ChatOps toolkit: one typed command engine for the terminal and Slack.\n\nRun a command as \"chatops <command> …\", for example \"chatops promote demo\"; \"chatops help\" lists them."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { exited = code }),
		kong.Vars{"version": readBuildInfo().String()},
	)
	if err != nil {
		fmt.Fprintln(stderr, "chatops:", err)
		return terminal.ExitFailed
	}
	if len(args) == 0 {
		// A person at a terminal gets the shell; a script gets the help.
		args = []string{"help"}
		if isTTY(stdin) && isTTY(stdout) {
			args = []string{"shell"}
		}
	}
	kctx, err := parser.Parse(args)
	if exited >= 0 {
		return exited // --help or --version
	}
	if err != nil {
		fmt.Fprintf(stderr, "chatops: %v\n", err)
		return terminal.ExitInvalid
	}
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, globals: &cli.Globals}
	if f, ok := stdout.(*os.File); ok {
		e.style = terminal.StyleFor(f)
	}
	if f, ok := stdin.(*os.File); ok {
		e.stdinTTY = terminal.IsTTY(f)
	}
	if f, ok := stderr.(*os.File); ok {
		e.stderrTTY = terminal.IsTTY(f)
	}
	err = kctx.Run(e)
	var ee exitError
	switch {
	case err == nil:
		return terminal.ExitOK
	case errors.As(err, &ee):
		return ee.code
	default:
		e.printError(err)
		return terminal.ExitCode(err)
	}
}

// printError writes err on stderr, or as JSON on stdout with --output json.
func (e *env) printError(err error) {
	if e.globals.Output == "json" {
		terminal.RenderErrorJSON(e.stdout, err)
		return
	}
	terminal.RenderError(e.stderr, err, e.style)
}

// loadConfig reads the config, looking in this order: --config (or
// $CHATOPS_CONFIG), ./chatops.yaml, then chatops/config.yaml in the user's
// config dir ($XDG_CONFIG_HOME, else ~/.config on Linux). With none, it is
// the built-in demo, and stderr says so once, when it is a terminal: a person
// should not mistake the demo for their pipelines, and a script's stderr
// stays as it was.
func (e *env) loadConfig() (*engine.Config, error) {
	path := e.globals.Config
	if path == "" {
		for _, p := range configPaths() {
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		if !e.saidDemo && e.stderrTTY {
			e.saidDemo = true
			fmt.Fprintf(e.stderr, "chatops: no config found (--config, $CHATOPS_CONFIG, ./%s): using the built-in demo\n", strings.Join(configPaths(), ", "))
		}
		return engine.DemoConfig(), nil
	}
	return engine.LoadConfig(path)
}

// configPaths are where a config is looked for when none is named.
func configPaths() []string {
	paths := []string{"chatops.yaml"}
	if dir, err := os.UserConfigDir(); err == nil {
		paths = append(paths, filepath.Join(dir, "chatops", "config.yaml"))
	}
	return paths
}
