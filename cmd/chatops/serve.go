package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	natsadapter "github.com/chatops/chatops/adapters/nats"
	slackadapter "github.com/chatops/chatops/adapters/slack"
	"github.com/chatops/chatops/adapters/webhook"
	"github.com/chatops/chatops/engine"
	"github.com/slack-go/slack"
)

// ServeCmd serves Slack: the gateway and, in the same process, the workers.
// Every Slack setting may also come from the config file's slack section; the
// command line and the environment win.
type ServeCmd struct {
	Role            string        `help:"What this process does: all; gateway (takes Slack requests and webhooks, runs nothing); worker (runs jobs, delivers answers and notifications; its HTTP, with --addr, is health and metrics only)." enum:"all,gateway,worker" default:"all" env:"CHATOPS_ROLE"`
	Addr            string        `help:"Address to listen on (default 127.0.0.1:8080; a worker listens only when given one)." env:"CHATOPS_ADDR" placeholder:"HOST:PORT"`
	SigningSecret   string        `name:"signing-secret" help:"The Slack app's signing secret." env:"SLACK_SIGNING_SECRET" placeholder:"SECRET"`
	BotToken        string        `name:"bot-token" help:"The bot token, for a single workspace." env:"SLACK_BOT_TOKEN" placeholder:"TOKEN"`
	AppToken        string        `name:"app-token" help:"An app-level token (xapp-…) with connections:write: takes Slack's requests over Socket Mode, with no public URL." env:"SLACK_APP_TOKEN" placeholder:"TOKEN"`
	Socket          bool          `help:"Take Slack's requests over Socket Mode (on by itself with an app token); Slack's HTTP endpoints then stay off unless --addr is given." env:"CHATOPS_SOCKET"`
	ClientID        string        `name:"client-id" help:"The app's client id, to install it into workspaces with OAuth." env:"SLACK_CLIENT_ID" placeholder:"ID"`
	ClientSecret    string        `name:"client-secret" help:"The app's client secret." env:"SLACK_CLIENT_SECRET" placeholder:"SECRET"`
	TokenKey        string        `name:"token-key" help:"Key sealing workspace tokens at rest: 32 bytes in base64." env:"CHATOPS_TOKEN_KEY" placeholder:"KEY"`
	PublicURL       string        `name:"public-url" help:"The https URL Slack reaches this server at, for OAuth." env:"CHATOPS_PUBLIC_URL" placeholder:"URL"`
	APIURL          string        `name:"slack-api-url" help:"Slack's Web API base URL (default https://slack.com/api/)." env:"CHATOPS_SLACK_API_URL" placeholder:"URL"`
	ResponseHosts   []string      `name:"response-hosts" help:"Hosts a response_url may name, host[:port] (default hooks.slack.com)." env:"CHATOPS_SLACK_RESPONSE_HOSTS" sep:","`
	MaxEventAge     time.Duration `name:"max-event-age" help:"Ask before running a command that an Events API delivery brings later than this after it was typed (Slack retries an event about 1 and 5 minutes later)." default:"30s" env:"CHATOPS_MAX_EVENT_AGE"`
	Workers         int           `help:"Workers running jobs in this process (0: a gateway only); a gateway runs none." default:"4" env:"CHATOPS_WORKERS"`
	ShutdownTimeout time.Duration `name:"shutdown-timeout" help:"On SIGTERM or SIGINT, how long requests and running jobs may finish before unfinished jobs are handed back." default:"30s" env:"CHATOPS_SHUTDOWN_TIMEOUT"`
	LeaseTTL        time.Duration `name:"lease-ttl" help:"How long periodic work (expiring unanswered questions, refreshing App Home tabs) waits before another process takes it over from one that died; the same for every process." default:"10s" env:"CHATOPS_LEASE_TTL"`
	JobAckWait      time.Duration `name:"job-ack-wait" help:"How long a job, or an answer, whose process died waits before another process takes it." default:"10s" env:"CHATOPS_JOB_ACK_WAIT"`
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Run serves until interrupted.
func (s *ServeCmd) Run(e *env) error {
	e.serving, e.embed = true, s.Role == "all"
	gateway, working := s.Role != "worker", s.Role != "gateway"
	if !working {
		s.Workers = 0
	}
	// A deploy driver's missing secret stops a process that runs jobs; a
	// gateway runs none.
	eng, closeEngine, conn, err := e.openEngineWith(working)
	if err != nil {
		return err
	}
	defer closeEngine()
	sc := eng.Config.Slack
	s.SigningSecret, s.BotToken = or(s.SigningSecret, sc.SigningSecret), or(s.BotToken, sc.BotToken)
	s.AppToken = or(s.AppToken, sc.AppToken)
	// Over Socket Mode, Slack's HTTP endpoints are off unless --addr is
	// given, and need a signing secret only then.
	s.Socket = gateway && (s.Socket || s.AppToken != "")
	slackHTTP := gateway && (!s.Socket || s.Addr != "" && s.SigningSecret != "")
	if s.Addr == "" && gateway && !s.Socket {
		s.Addr = "127.0.0.1:8080"
	}
	if s.Socket && !strings.HasPrefix(s.AppToken, "xapp-") {
		what := "no app-level token"
		if s.AppToken != "" {
			what = "SLACK_APP_TOKEN is not an app-level token (they start xapp-)"
		}
		return &engine.Error{Code: engine.Invalid, Msg: what + ": Socket Mode needs one with connections:write (the app's Basic Information page, App-Level Tokens)"}
	}
	s.ClientID, s.ClientSecret = or(s.ClientID, sc.ClientID), or(s.ClientSecret, sc.ClientSecret)
	s.TokenKey, s.PublicURL = or(s.TokenKey, sc.TokenKey), or(s.PublicURL, sc.PublicURL)
	s.APIURL = or(or(s.APIURL, sc.APIURL), "https://slack.com/api/")
	if len(s.ResponseHosts) == 0 {
		s.ResponseHosts = sc.ResponseHosts
	}
	if len(s.ResponseHosts) == 0 {
		s.ResponseHosts = slackadapter.DefaultResponseHosts
	}
	if s.SigningSecret == "" && gateway && !s.Socket {
		return &engine.Error{Code: engine.Invalid, Msg: "no signing secret: set SLACK_SIGNING_SECRET (the Slack app's Basic Information page shows it)"}
	}
	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	eng.Log = log
	q, err := conn.Queue(e.ctx)
	if err != nil {
		return err
	}
	if eng.Claims, err = conn.Claims(e.ctx); err != nil {
		return err
	}
	inter, err := conn.Interactions(e.ctx)
	if err != nil {
		return err
	}
	httpc := slackadapter.NewHTTPClient(log)
	srv := &slackadapter.Server{Engine: eng, Queue: q, Verifier: slackadapter.Verifier{Secret: s.SigningSecret},
		Log: log, Ready: conn.Ready, MaxEventAge: s.MaxEventAge, Interactions: inter}
	var api *slack.Client
	if s.BotToken != "" {
		api = slackadapter.NewAPI(s.BotToken, s.APIURL, httpc)
		auth, err := api.AuthTestContext(e.ctx)
		if err != nil {
			return &engine.Error{Code: engine.Unavailable, Msg: "checking SLACK_BOT_TOKEN with auth.test: " + err.Error()}
		}
		srv.BotUserID = auth.UserID
	}
	if s.ClientID != "" {
		if s.ClientSecret == "" || s.TokenKey == "" || s.PublicURL == "" {
			return &engine.Error{Code: engine.Invalid, Msg: "OAuth installs need SLACK_CLIENT_SECRET, CHATOPS_TOKEN_KEY and CHATOPS_PUBLIC_URL besides SLACK_CLIENT_ID"}
		}
		cipher, err := slackadapter.NewCipher(s.TokenKey)
		if err != nil {
			return &engine.Error{Code: engine.Invalid, Msg: "CHATOPS_TOKEN_KEY: " + err.Error()}
		}
		secrets, err := conn.Secrets(e.ctx)
		if err != nil {
			return err
		}
		srv.OAuth = &slackadapter.OAuth{ClientID: s.ClientID, ClientSecret: s.ClientSecret,
			RedirectURL: strings.TrimRight(s.PublicURL, "/") + "/slack/oauth/callback",
			Cipher:      cipher, Secrets: secrets, States: inter, APIURL: s.APIURL, HTTP: httpc, Now: time.Now}
		// Another process's install or uninstall reaches this one's
		// clients at once; it stops before the connection closes.
		watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(e.ctx))
		var watching sync.WaitGroup
		watching.Go(func() { _ = srv.OAuth.Watch(watchCtx, log) })
		defer watching.Wait()
		defer stopWatch()
	}
	if api == nil && srv.OAuth == nil {
		log.Warn("no SLACK_BOT_TOKEN and no OAuth: mentions, direct messages, modals and thread progress are off")
	} else if srv.Homes, err = conn.Homes(e.ctx); err != nil {
		return err
	}
	outbox, err := conn.Outbox(e.ctx)
	if err != nil {
		return err
	}
	q.AckWait, q.Grace = s.JobAckWait, s.ShutdownTimeout
	outbox.AckWait = s.JobAckWait
	responder := &slackadapter.Responder{ResponseHosts: s.ResponseHosts}
	srv.Respond, srv.API = responder.Respond, api
	// stopping ends when shutdown begins.
	stopping, beginStopping := context.WithCancel(context.Background())
	defer beginStopping()
	var sock *slackadapter.Socket
	if s.Socket {
		sock = &slackadapter.Socket{Server: srv, AppToken: s.AppToken, APIURL: s.APIURL, HTTP: httpc, Log: log}
	}
	srv.Ready = func(ctx context.Context) error {
		if stopping.Err() != nil {
			return errors.New("shutting down")
		}
		if sock != nil {
			if err := sock.Connected(); err != nil {
				return err
			}
		}
		return conn.Ready(ctx)
	}
	host, _ := os.Hostname()
	worker := &slackadapter.Worker{Engine: eng, Queue: q, Outbox: outbox, Name: fmt.Sprintf("%s/%d", host, os.Getpid()),
		Log: log, Interactions: inter}
	// Progress posts try once: they are best effort, and a rate-limited
	// post must not hold up the program whose output it is.
	if s.BotToken != "" {
		worker.API = slackadapter.NewAPI(s.BotToken, s.APIURL, slackadapter.NewDeliveryHTTPClient())
	}
	if srv.OAuth != nil {
		worker.OAuth = srv.OAuth.WithHTTP(slackadapter.NewDeliveryHTTPClient())
	}
	var records sync.WaitGroup // delivered answers being recorded
	deliverer := newDeliverer(eng, s, srv.OAuth, &records, stopping, log)
	deliverer.Post = outbox.Post
	token := slackadapter.TokenFunc(srv.OAuth, s.BotToken)
	if api != nil || srv.OAuth != nil {
		eng.Channels = &slackadapter.Channels{Token: token, APIURL: s.APIURL, HTTP: httpc}
	}
	hooks, err := s.receiver(eng, log)
	if err != nil {
		return err
	}
	notify, err := s.notifier(e, eng, conn, token, log, api != nil || srv.OAuth != nil)
	if err != nil {
		return err
	}

	// Jobs and deliveries run on contexts of their own, stopped in order on
	// shutdown: requests first, then jobs (with a grace period), then the
	// deliveries of their answers, and NATS last (closeEngine, deferred).
	jobsCtx, stopJobs := context.WithCancel(context.WithoutCancel(e.ctx))
	defer stopJobs()
	deliveryCtx, stopDelivery := context.WithCancel(context.WithoutCancel(e.ctx))
	defer stopDelivery()
	var jobs, deliveries sync.WaitGroup
	// A job whose beats stopped is taken over only once its worker does
	// not say it runs it.
	workers := conn.Workers()
	eng.Workers = workers
	if s.Workers > 0 {
		stopAnswers, err := workers.Serve(worker.Name, func(job string) bool { return eng.Runs(worker.Name, job) })
		if err != nil {
			return err
		}
		defer stopAnswers()
	}
	for range s.Workers {
		w := *worker
		jobs.Go(func() {
			if err := w.Run(jobsCtx); err != nil {
				log.Error("worker stopped", "err", err)
			}
		})
	}
	if s.Workers > 0 {
		deliveries.Go(func() {
			if err := outbox.Deliver(deliveryCtx, deliverer.Deliver); err != nil {
				log.Error("answer delivery stopped", "err", err)
			}
		})
		if notify != nil {
			deliveries.Go(func() { notify(deliveryCtx) })
		}
		leases, err := conn.Leases(e.ctx, s.LeaseTTL)
		if err != nil {
			stopJobs()
			stopDelivery()
			jobs.Wait()
			deliveries.Wait()
			return err
		}
		deliveries.Go(func() {
			leases.Run(deliveryCtx, "periodic", worker.Name, periodic(eng, inter, responder, srv.RefreshHomes, log), func(held bool) {
				log.Info("periodic work", "held", held, "process", worker.Name)
			})
		})
	}
	var hs *http.Server
	errc := make(chan error, 2)
	// Socket Mode stops with the HTTP server: requests first.
	socketCtx, stopSocket := context.WithCancel(context.WithoutCancel(e.ctx))
	defer stopSocket()
	socketDone := make(chan struct{})
	if sock != nil {
		go func() {
			defer close(socketDone)
			if err := sock.Run(socketCtx); err != nil {
				errc <- &engine.Error{Code: engine.Invalid, Msg: "Socket Mode: " + err.Error()}
			}
		}()
	} else {
		close(socketDone)
	}
	if s.Addr != "" {
		ln, err := net.Listen("tcp", s.Addr)
		if err != nil {
			stopJobs()
			stopDelivery()
			jobs.Wait()
			deliveries.Wait()
			return &engine.Error{Code: engine.Invalid, Msg: fmt.Sprintf("listening on %s: %v", s.Addr, err)}
		}
		mux := http.NewServeMux()
		if gateway {
			mux.Handle("/hooks/", hooks.Handler())
		}
		if slackHTTP {
			mux.Handle("/", srv.Handler())
		} else {
			mux.Handle("/", srv.HealthHandler())
		}
		// A kept-alive connection lasts two minutes idle: a client that
		// reuses one just as the server closes it sees its request fail,
		// so the server should be the last to give up on one.
		hs = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
			IdleTimeout: 2 * time.Minute}
		go func() { errc <- hs.Serve(ln) }()
		log.Info("serving", "role", s.Role, "addr", ln.Addr().String(), "slack_http", slackHTTP, "socket_mode", s.Socket, "workers", s.Workers, "response_hosts", strings.Join(s.ResponseHosts, ","), "oauth", srv.OAuth != nil,
			"github_hook", gateway && len(hooks.GitHubSecret) > 0, "generic_hook", gateway && len(hooks.Secret) > 0, "notifications", notify != nil && s.Workers > 0)
		fmt.Fprintf(e.stdout, "listening on http://%s\n", ln.Addr())
	} else {
		log.Info("serving", "role", s.Role, "workers", s.Workers, "socket_mode", s.Socket, "http", "none (give --addr for /healthz, /readyz and /metrics)", "notifications", notify != nil && s.Workers > 0)
		if s.Socket {
			fmt.Fprintf(e.stdout, "taking Slack's requests over Socket Mode, without HTTP\n")
		} else {
			fmt.Fprintf(e.stdout, "working, without HTTP\n")
		}
	}
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-e.ctx.Done():
	}
	log.Info("shutting down", "timeout", s.ShutdownTimeout)
	beginStopping() // /readyz says 503 from now on
	// Requests are acks, answered in milliseconds (Slack waits 3 s): their
	// part of the shutdown is short, so the jobs' grace stays the bound.
	shutdown, done := context.WithTimeout(context.Background(), min(s.ShutdownTimeout, 5*time.Second))
	defer done()
	if hs != nil {
		if err := hs.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("requests cut short", "err", err)
		}
	}
	stopSocket()
	<-socketDone
	srv.Wait() // answers to clicks still being posted
	stopJobs() // no new jobs; running ones get the queue's grace, then are handed back
	jobs.Wait()
	stopDelivery()
	deliveries.Wait()
	records.Wait()
	log.Info("stopped")
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
}

// newDeliverer builds what delivers answers from the outbox: the routes of
// this server's Slack settings, and the job records and audit it reports to.
func newDeliverer(eng *engine.Engine, s *ServeCmd, oauth *slackadapter.OAuth, records *sync.WaitGroup, stopping context.Context, log *slog.Logger) *slackadapter.Deliverer {
	d := slackadapter.NewDeliverer(log)
	d.ResponseHosts, d.APIURL = s.ResponseHosts, s.APIURL
	d.Token = slackadapter.TokenFunc(oauth, s.BotToken)
	d.Delivered = func(ctx context.Context, del *engine.Delivery, route string) {
		// Recorded beside the outbox's ack, not before it: a process killed
		// between Slack taking an answer and the ack posts it again, so
		// that window is kept as short as one acknowledgement. Tried again
		// while the store elects a leader, but not once shutdown began,
		// which waits for the records.
		records.Go(func() {
			if err := eng.Delivered(stopping, del.JobID, route); err != nil {
				log.Warn("recording a delivered answer", "job", del.JobID, "err", err)
			}
		})
	}
	d.AlreadyDelivered = func(ctx context.Context, del *engine.Delivery) bool { return eng.WasDelivered(ctx, del.JobID) }
	d.Undelivered = func(ctx context.Context, del *engine.Delivery, reason string) {
		log.Error("answer undelivered", "job", del.JobID, "reason", reason)
		if err := eng.Undelivered(ctx, del.JobID, reason); err != nil {
			log.Warn("recording an undelivered answer", "job", del.JobID, "err", err)
		}
	}
	return d
}

// receiver builds the inbound webhooks' endpoints from the environment's
// secrets; an endpoint without its secret answers 404.
func (s *ServeCmd) receiver(eng *engine.Engine, log *slog.Logger) (*webhook.Receiver, error) {
	r := webhook.New(eng.Config, eng.Events, os.Getenv)
	for name, secret := range map[string][]byte{webhook.GitHubSecretEnv: r.GitHubSecret, webhook.SecretEnv: r.Secret} {
		if n := len(secret); n > 0 && n < engine.MinSecretLen {
			return nil, &engine.Error{Code: engine.Invalid, Msg: fmt.Sprintf("%s is %d characters: a webhook secret needs at least %d (make one with openssl rand -hex 32)", name, n, engine.MinSecretLen)}
		}
	}
	r.VersionOf, r.Log = eng.VersionOfCommit, log
	return r, nil
}

// notifier returns what posts pipeline events to their routed channels: the
// engine turning events into notices, and the Slack notifier posting each
// channel's notices in its release's thread. It returns nil without a bot
// token, when nothing can be posted.
func (s *ServeCmd) notifier(e *env, eng *engine.Engine, conn *natsadapter.Conn, token func(context.Context, string) (string, error), log *slog.Logger, canPost bool) (func(context.Context), error) {
	if !canPost {
		return nil, nil
	}
	notices, err := conn.Notices(e.ctx)
	if err != nil {
		return nil, err
	}
	threads, err := conn.Threads(e.ctx)
	if err != nil {
		return nil, err
	}
	n := &slackadapter.Notifier{Threads: threads, Token: token, APIURL: s.APIURL, Log: log}
	return func(ctx context.Context) {
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := eng.Notify(ctx, eng.Events, notices); err != nil {
				log.Error("notifications stopped", "err", err)
			}
		})
		wg.Go(func() {
			if err := notices.Deliver(ctx, n.Deliver); err != nil {
				log.Error("posting notifications stopped", "err", err)
			}
		})
		wg.Wait()
	}, nil
}

// periodicEvery is how often periodic work runs while this process holds its
// lease.
const periodicEvery = 5 * time.Second

// periodic is the work one process at a time does: questions nobody answered
// in time are taken, audited as expired, and replaced in Slack by a line
// saying the command did not run; App Home tabs opened lately whose content
// changed are published again.
func periodic(eng *engine.Engine, inter engine.QuestionList, responder *slackadapter.Responder, refreshHomes func(context.Context) (int, error), log *slog.Logger) func(context.Context) {
	return func(ctx context.Context) {
		tick := time.NewTicker(periodicEvery)
		defer tick.Stop()
		for {
			n, err := eng.ExpireQuestions(ctx, inter, func(ctx context.Context, q *engine.Interaction) {
				if u := q.Reply["response_url"]; u != "" {
					if err := responder.Respond(ctx, u, slackadapter.RenderExpired(q)); err != nil {
						log.Warn("saying a question expired", "question", q.ID, "err", err)
					}
				}
			})
			if err != nil && ctx.Err() == nil {
				log.Warn("expiring questions", "err", err)
			} else if n > 0 {
				log.Info("questions expired", "count", n)
			}
			// Within the period, so that a slow Slack delays no question's
			// expiry by more.
			hctx, cancel := context.WithTimeout(ctx, periodicEvery)
			n, err = refreshHomes(hctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				log.Warn("refreshing App Home tabs", "err", err)
			} else if n > 0 {
				log.Debug("App Home tabs refreshed", "count", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}
}
