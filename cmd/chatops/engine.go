package main

import (
	"os"
	"os/user"
	"path/filepath"
	"runtime"

	"github.com/chatops/chatops/adapters/exec"
	natsadapter "github.com/chatops/chatops/adapters/nats"
	"github.com/chatops/chatops/engine"
)

// openEngine builds the engine over JetStream: embedded under the data dir, or
// at --nats-url. The returned func closes it.
func (e *env) openEngine() (*engine.Engine, func(), error) {
	eng, closeEngine, _, err := e.openEngineConn()
	return eng, closeEngine, err
}

// openEngineConn is openEngine, also returning the NATS connection.
func (e *env) openEngineConn() (*engine.Engine, func(), *natsadapter.Conn, error) {
	cfg, err := e.loadConfig()
	if err != nil {
		return nil, nil, nil, err
	}
	dataDir := e.globals.Data
	if dataDir == "" && e.globals.NatsURL == "" {
		dataDir = defaultDataDir()
	}
	conn, err := natsadapter.Open(e.ctx, natsadapter.Options{URL: e.globals.NatsURL, DataDir: dataDir, SyncAlways: e.globals.Sync})
	if err != nil {
		return nil, nil, nil, err
	}
	eng, err := engine.New(cfg, conn.Store, conn.Audit, conn.Jobs)
	if err != nil {
		conn.Close()
		return nil, nil, nil, err
	}
	eng.Runner = exec.Runner{}
	eng.History = conn.History
	return eng, conn.Close, conn, nil
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
