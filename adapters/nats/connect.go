package nats

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/chatops/chatops/engine"
	nc "github.com/nats-io/nats.go"
)

// Auth names the files that identify chatops to an external NATS and secure
// the connection: a credentials file (JWT and NKey seed, as nsc writes
// them), or an NKey seed file; a CA to verify the servers with; a client
// certificate and its key for mutual TLS.
type Auth struct {
	Creds   string
	NKey    string
	TLSCA   string
	TLSCert string
	TLSKey  string
}

// Reconnect pacing: a node that returns is used again within a second or
// two, and a client never gives up.
const (
	reconnectWait      = 250 * time.Millisecond
	reconnectJitter    = 100 * time.Millisecond
	reconnectJitterTLS = time.Second
)

// ConnectOptions returns the nats.go options for a, and reconnect handlers
// that log each disconnect and reconnect to log. A file that cannot be read,
// or half a client certificate, is an Invalid error naming the option.
func ConnectOptions(a Auth, log *slog.Logger) ([]nc.Option, error) {
	if log == nil {
		log = slog.Default()
	}
	opts := []nc.Option{
		nc.MaxReconnects(-1), nc.ReconnectWait(reconnectWait), nc.ReconnectJitter(reconnectJitter, reconnectJitterTLS),
		nc.DisconnectErrHandler(func(c *nc.Conn, err error) {
			log.Warn("lost NATS; reconnecting", "server", c.ConnectedUrlRedacted(), "err", err)
		}),
		nc.ReconnectHandler(func(c *nc.Conn) {
			log.Info("reconnected to NATS", "server", c.ConnectedUrlRedacted(), "cluster", c.ConnectedClusterName())
		}),
		nc.DiscoveredServersHandler(func(c *nc.Conn) {
			log.Info("NATS servers discovered", "servers", len(c.Servers()))
		}),
	}
	readable := func(flag, path string) error {
		f, err := os.Open(path)
		if err != nil {
			return &engine.Error{Code: engine.Invalid, Msg: fmt.Sprintf("%s: %v", flag, err), Err: err}
		}
		return f.Close()
	}
	if a.Creds != "" && a.NKey != "" {
		return nil, &engine.Error{Code: engine.Invalid, Msg: "--nats-creds and --nats-nkey both given: a credentials file holds its own NKey; give one"}
	}
	if a.Creds != "" {
		if err := readable("--nats-creds", a.Creds); err != nil {
			return nil, err
		}
		opts = append(opts, nc.UserCredentials(a.Creds))
	}
	if a.NKey != "" {
		o, err := nc.NkeyOptionFromSeed(a.NKey)
		if err != nil {
			return nil, &engine.Error{Code: engine.Invalid, Msg: fmt.Sprintf("--nats-nkey %s: %v", a.NKey, err), Err: err}
		}
		opts = append(opts, o)
	}
	if a.TLSCA != "" {
		if err := readable("--nats-tls-ca", a.TLSCA); err != nil {
			return nil, err
		}
		opts = append(opts, nc.RootCAs(a.TLSCA))
	}
	switch {
	case (a.TLSCert == "") != (a.TLSKey == ""):
		return nil, &engine.Error{Code: engine.Invalid, Msg: "--nats-tls-cert and --nats-tls-key go together: give both, or neither"}
	case a.TLSCert != "":
		for flag, path := range map[string]string{"--nats-tls-cert": a.TLSCert, "--nats-tls-key": a.TLSKey} {
			if err := readable(flag, path); err != nil {
				return nil, err
			}
		}
		opts = append(opts, nc.ClientCert(a.TLSCert, a.TLSKey))
	}
	return opts, nil
}
