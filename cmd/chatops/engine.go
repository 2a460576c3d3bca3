package main

import (
	"context"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"runtime"

	"github.com/chatops/chatops/adapters/exec"
	natsadapter "github.com/chatops/chatops/adapters/nats"
	slackadapter "github.com/chatops/chatops/adapters/slack"
	"github.com/chatops/chatops/engine"
)

// openEngine builds the engine over JetStream: the data dir's local server,
// started in the background when none runs, or --nats-url. The returned func
// closes it.
func (e *env) openEngine() (*engine.Engine, func(), error) {
	eng, closeEngine, _, err := e.openEngineConn()
	return eng, closeEngine, err
}

// openEngineConn is openEngine, also returning the NATS connection.
func (e *env) openEngineConn() (*engine.Engine, func(), *natsadapter.Conn, error) {
	return e.openEngineWith(false)
}

// openEngineWith is openEngineConn; strict makes a deploy driver's missing
// secret an error at once, as chatops serve wants it.
func (e *env) openEngineWith(strict bool) (*engine.Engine, func(), *natsadapter.Conn, error) {
	cfg, err := e.loadConfig()
	if err != nil {
		return nil, nil, nil, err
	}
	drivers, err := buildDrivers(cfg, strict)
	if err != nil {
		return nil, nil, nil, err
	}
	opts := natsadapter.Options{URL: e.globals.NatsURL, SyncAlways: e.globals.Sync, Replicas: e.globals.Replicas,
		Retention: natsadapter.Retention(cfg.Retention), Reconcile: e.serving}
	if opts.URL != "" {
		g := e.globals
		connect, err := natsadapter.ConnectOptions(natsadapter.Auth{Creds: g.NatsCreds, NKey: g.NatsNKey, TLSCA: g.NatsTLSCA, TLSCert: g.NatsTLSCert, TLSKey: g.NatsTLSKey},
			slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn - e.logVerbosity()})))
		if err != nil {
			return nil, nil, nil, err
		}
		opts.Connect = connect
	} else {
		opts.DataDir = e.dataDir()
		// chatops serve with every role runs the data dir's server in its
		// own process, unless another process serves the dir already;
		// other commands, and serve processes of split roles, which run
		// several at a time and must not take the store down with one of
		// them, share whichever runs, or start one in the background.
		opts.Spawn, opts.Embed = spawnLocal(opts.DataDir, e.globals.Sync), e.embed
	}
	conn, err := natsadapter.Open(e.ctx, opts)
	if err != nil {
		return nil, nil, nil, err
	}
	eng, err := engine.New(cfg, conn.Store, conn.Audit, conn.Jobs)
	if err != nil {
		conn.Close()
		return nil, nil, nil, err
	}
	eng.Runner = exec.Runner{}
	eng.Drivers = drivers
	eng.History = conn.History
	if eng.Events, err = conn.Events(e.ctx); err != nil {
		conn.Close()
		return nil, nil, nil, err
	}
	// route … to #name asks Slack which channel that is, with the single
	// bot token; chatops serve gives its own, which knows OAuth installs.
	if token := or(os.Getenv("SLACK_BOT_TOKEN"), cfg.Slack.BotToken); token != "" {
		eng.Channels = &slackadapter.Channels{
			Token:  func(context.Context, string) (string, error) { return token, nil },
			APIURL: or(or(os.Getenv("CHATOPS_SLACK_API_URL"), cfg.Slack.APIURL), "https://slack.com/api/"),
			HTTP:   slackadapter.NewHTTPClient(nil),
		}
	}
	return eng, conn.Close, conn, nil
}

// dataDir is --data made absolute, else the default: the local server runs
// in the data dir, whatever directory started it.
func (e *env) dataDir() string {
	dir := e.globals.Data
	if dir == "" {
		dir = defaultDataDir()
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return dir
}

// defaultDataDir is chatops's folder in the user's state directory.
func defaultDataDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "chatops")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "chatops")
	}
	switch runtime.GOOS {
	case "windows":
		if d := os.Getenv("LOCALAPPDATA"); d != "" {
			return filepath.Join(d, "chatops")
		}
	case "darwin":
		return filepath.Join(home, "Library", "Application Support", "chatops")
	}
	return filepath.Join(home, ".local", "state", "chatops")
}

// localUser is the OS user, the terminal's identity.
func localUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if n := os.Getenv("USER"); n != "" {
		return n
	}
	return "unknown"
}

// logVerbosity lowers the NATS connection's log level for chatops serve,
// whose log is read, so reconnects show as info; one-shot commands show
// only warnings.
func (e *env) logVerbosity() slog.Level {
	if e.serving {
		return slog.LevelWarn - slog.LevelInfo
	}
	return 0
}
