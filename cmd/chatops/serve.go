package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	slackadapter "github.com/chatops/chatops/adapters/slack"
	"github.com/chatops/chatops/engine"
	"github.com/slack-go/slack"
)

// ServeCmd serves Slack: the gateway and, in the same process, the workers.
type ServeCmd struct {
	Addr           string        `help:"Address to listen on." default:"127.0.0.1:8080" env:"CHATOPS_ADDR"`
	SigningSecret  string        `name:"signing-secret" help:"The Slack app's signing secret." env:"SLACK_SIGNING_SECRET" placeholder:"SECRET"`
	ResponseHosts  []string      `name:"response-hosts" help:"Hosts a response_url may name, host[:port]." env:"CHATOPS_SLACK_RESPONSE_HOSTS" default:"hooks.slack.com" sep:","`
	Workers        int           `help:"Workers running jobs in this process (0: a gateway only)." default:"4"`
	BotToken       string        `name:"bot-token" help:"The Slack bot token, to answer mentions and direct messages." env:"SLACK_BOT_TOKEN" placeholder:"TOKEN"`
	APIURL         string        `name:"slack-api-url" help:"Slack's Web API base URL." env:"CHATOPS_SLACK_API_URL" default:"https://slack.com/api/"`
	MaxEventAge    time.Duration `name:"max-event-age" help:"Drop Events API deliveries older than this." default:"30s"`
	ManifestURL    string        `name:"public-url" help:"The public base URL, for logs." env:"CHATOPS_PUBLIC_URL" placeholder:"URL"`
	ShutdownPeriod time.Duration `help:"How long to finish requests and jobs on shutdown." default:"10s"`
}

// Run serves until interrupted.
func (s *ServeCmd) Run(e *env) error {
	if s.SigningSecret == "" {
		return &engine.Error{Code: engine.Invalid, Msg: "no signing secret: set SLACK_SIGNING_SECRET (the Slack app's Basic Information page shows it)"}
	}
	eng, closeEngine, conn, err := e.openEngineConn()
	if err != nil {
		return err
	}
	defer closeEngine()
	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	eng.Log = log
	q, err := conn.Queue(e.ctx)
	if err != nil {
		return err
	}
	srv := &slackadapter.Server{Engine: eng, Queue: q, Verifier: slackadapter.Verifier{Secret: s.SigningSecret},
		Log: log, Ready: conn.Ready, MaxEventAge: s.MaxEventAge}
	httpc := slackadapter.NewHTTPClient(log)
	var api *slack.Client
	if s.BotToken != "" {
		api = slackadapter.NewAPI(s.BotToken, s.APIURL, httpc)
		auth, err := api.AuthTestContext(e.ctx)
		if err != nil {
			return &engine.Error{Code: engine.Unavailable, Msg: "checking SLACK_BOT_TOKEN with auth.test: " + err.Error()}
		}
		srv.BotUserID = auth.UserID
	} else {
		log.Warn("no SLACK_BOT_TOKEN: mentions and direct messages cannot be answered")
	}
	inter, err := conn.Interactions(e.ctx)
	if err != nil {
		return err
	}
	srv.Interactions = inter
	responder := &slackadapter.Worker{Engine: eng, Queue: q, ResponseHosts: s.ResponseHosts, Log: log, HTTP: httpc, API: api, Interactions: inter}
	srv.Respond, srv.API = responder.Respond, api
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	for range s.Workers {
		w := *responder
		go func() {
			if err := w.Run(ctx); err != nil {
				log.Error("worker stopped", "err", err)
			}
		}()
	}
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return &engine.Error{Code: engine.Invalid, Msg: fmt.Sprintf("listening on %s: %v", s.Addr, err)}
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	log.Info("serving Slack", "addr", ln.Addr().String(), "workers", s.Workers, "response_hosts", strings.Join(s.ResponseHosts, ","))
	fmt.Fprintf(e.stdout, "listening on http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, done := context.WithTimeout(context.WithoutCancel(ctx), s.ShutdownPeriod)
	defer done()
	if err := hs.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
