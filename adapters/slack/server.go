// Package slack drives the engine from Slack over HTTP: slash commands, with
// every request verified before it is read, parsed and checked at once, and
// enqueued durably before the ack; workers run the jobs and answer through the
// response_url with Block Kit.
package slack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/chatops/chatops/engine"
	"github.com/chatops/chatops/grammar"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/slack-go/slack"
	"golang.org/x/time/rate"
)

// DefaultMaxBody bounds a request body; Slack's are a few KiB.
const DefaultMaxBody = 64 << 10

// Server is the Slack gateway: it verifies, parses, checks policy and enqueues.
// It never runs a command itself, so it acks well inside Slack's 3 seconds.
type Server struct {
	Engine *engine.Engine
	Queue  engine.Queue
	// Homes remembers who opened their App Home tab, for RefreshHomes;
	// Home tabs are published only when opened when nil.
	Homes    HomeViewers
	Verifier Verifier
	Log      *slog.Logger
	// MaxBody bounds request bodies; DefaultMaxBody when zero.
	MaxBody int64
	// Ready reports whether the server can take commands, for /readyz.
	Ready func(context.Context) error
	// Now is the clock for event ages; time.Now when nil.
	Now func() time.Time
	// MaxEventAge is how late an event's command may come and still run
	// without asking; DefaultMaxEventAge when zero.
	MaxEventAge time.Duration
	// BotUserID is the app's own user, whose messages are never commands.
	BotUserID string
	// Interactions keeps the questions that buttons answer.
	Interactions engine.Interactions
	// Workspaces open modals and publish Home tabs; without a client for
	// a workspace, "/h" alone shows help.
	Workspaces
	// EnqueueWithin bounds how long a request waits for the queue while it
	// cannot be reached, DefaultEnqueueWithin when zero; EnqueueAttempt
	// bounds each try, DefaultEnqueueAttempt when zero.
	EnqueueWithin, EnqueueAttempt time.Duration
	// Respond posts to a response_url: a Responder's Respond.
	Respond func(ctx context.Context, responseURL string, m Message) error

	metrics *metrics
	// forgedAudits bounds how many forged clicks are audited.
	forgedAudits *rate.Limiter
	// routes are Slack's endpoints with health and metrics, built once:
	// the HTTP server and Socket Mode share them.
	routes     http.Handler
	routesOnce sync.Once
	// background holds the answers still being posted after their request
	// returned.
	background sync.WaitGroup
}

// uncertainError is an enqueue that failed and whose refusal could not be
// recorded either: the job may have been stored, and may run.
type uncertainError struct {
	job string
	err error
}

func (e *uncertainError) Error() string {
	return "enqueue of " + e.job + " uncertain: " + e.err.Error()
}
func (e *uncertainError) Unwrap() error { return e.err }

// enqueueFailure is what a person is told of a command that could not be
// queued: that it was not run, or, when even that could not be recorded,
// that it may run and how to tell.
func enqueueFailure(err error, command, job string) error {
	var u *uncertainError
	if errors.As(err, &u) {
		return &engine.Error{Code: engine.Unavailable, Msg: "chatops could not tell whether it took `" + command + "` (job " + job +
			"): its store is changing leaders. Check with `jobs " + job + "` in a moment before running it again."}
	}
	return &engine.Error{Code: engine.Unavailable, Msg: "chatops cannot take commands right now; `" + command + "` was not run. Try again in a moment."}
}

// ModalWithin bounds the opening of the run modal, from the slash command's
// arrival: Slack's trigger_id is good for 3 s after it sent the command.
const ModalWithin = 2500 * time.Millisecond

// Defaults of the enqueue's retries: within Slack's 3 s with room for the
// request's own time, each try short enough for a few.
const (
	DefaultEnqueueWithin  = 2200 * time.Millisecond
	DefaultEnqueueAttempt = 700 * time.Millisecond
	// refuseWithin bounds the write that records a refusal, which the ack
	// waits for.
	refuseWithin = 400 * time.Millisecond
)

// Wait waits for the answers the server posts after their requests returned:
// call it once the HTTP server has shut down.
func (s *Server) Wait() { s.background.Wait() }

type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	ack      prometheus.Histogram
	enqueued *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatops_slack_requests_total", Help: "Slack requests by endpoint and HTTP status.",
		}, []string{"endpoint", "status"}),
		ack: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "chatops_slack_ack_seconds", Help: "Time from receiving a slash command to its ack.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		enqueued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatops_jobs_enqueued_total", Help: "Jobs enqueued, and duplicates dropped.",
		}, []string{"result"}),
	}
	m.registry.MustRegister(m.requests, m.ack, m.enqueued,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// Handler returns the HTTP routes: Slack's endpoints, health and metrics.
// It builds them once; every call returns the same.
func (s *Server) Handler() http.Handler {
	s.routesOnce.Do(func() {
		s.setup()
		mux := s.health()
		mux.Handle("POST /slack/commands", s.counted("commands", s.commands))
		mux.Handle("POST /slack/events", s.counted("events", s.events))
		mux.Handle("POST /slack/interactivity", s.counted("interactivity", s.interactivity))
		mux.Handle("POST /slack/options", s.counted("options", s.options))
		if s.OAuth != nil {
			mux.HandleFunc("GET /slack/install", s.OAuth.install)
			mux.HandleFunc("GET /slack/oauth/callback", s.OAuth.callback)
		}
		s.routes = mux
	})
	return s.routes
}

// logger is Log, or the default logger for a Server whose Handler was
// never built (a worker's, refreshing Home tabs).
func (s *Server) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// now is the Server's clock: Now, or time.Now.
func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// setup gives the settings left zero their defaults, once.
func (s *Server) setup() {
	if s.Log == nil {
		s.Log = slog.Default()
	}
	if s.MaxBody == 0 {
		s.MaxBody = DefaultMaxBody
	}
	if s.metrics == nil {
		s.metrics = newMetrics()
	}
	if s.forgedAudits == nil {
		s.forgedAudits = rate.NewLimiter(rate.Every(6*time.Second), 10)
	}
}

// HealthHandler returns only /healthz, /readyz and /metrics: what a process
// that takes no requests over HTTP (a worker, Socket Mode) serves. Its
// metrics are those of Handler's routes.
func (s *Server) HealthHandler() http.Handler {
	s.Handler()
	return s.health()
}

func (s *Server) health() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if s.Ready != nil {
			if err := s.Ready(r.Context()); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		io.WriteString(w, "ready\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	return mux
}

// statusWriter remembers the status for the metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

// Unwrap gives http.ResponseController the writer underneath.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (s *Server) counted(endpoint string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h(sw, r)
		s.metrics.requests.WithLabelValues(endpoint, http.StatusText(sw.status)).Inc()
	})
}

// readVerified reads the body within the size limit and checks its signature.
// On failure it has answered with a 4xx and returns false.
func (s *Server) readVerified(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, ok := s.readBody(w, r)
	return body, ok && s.verified(w, r, body)
}

// readBody reads the body within the size limit; on failure it has answered
// with a 4xx and returns false.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		} else {
			http.Error(w, "unreadable request body", http.StatusBadRequest)
		}
		s.Log.Warn("slack request refused", "path", r.URL.Path, "reason", "body", "err", err)
		return nil, false
	}
	return body, true
}

// verified checks the body's signature; on failure it has answered 401 and
// returns false.
func (s *Server) verified(w http.ResponseWriter, r *http.Request, body []byte) bool {
	if viaSocket(r.Context()) {
		return true // from Slack over a connection the app opened with its token
	}
	if err := s.Verifier.Verify(r.Header, body); err != nil {
		// The reason, never the secret or the signature.
		s.Log.Warn("slack request refused", "path", r.URL.Path, "reason", err.Error(), "remote", r.RemoteAddr)
		if r.URL.Path == "/slack/interactivity" && s.forgedAudits != nil && s.forgedAudits.Allow() {
			// A forged or stale click is audited, as far as an unverified
			// request can say who it is: a few a minute, so that a flood of
			// them cannot fill the audit.
			rec := &engine.AuditRecord{At: time.Now(), Actor: "unknown", Source: engine.SourceSlack, Command: "click",
				Decision: "denied", Outcome: "forged", Message: "a click whose signature failed: " + err.Error() + " (from " + r.RemoteAddr + ")"}
			if aerr := s.Engine.Audit.Append(context.WithoutCancel(r.Context()), rec); aerr != nil {
				s.Log.Warn("auditing a forged click", "err", aerr)
			}
		}
		http.Error(w, "request verification failed", http.StatusUnauthorized)
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// commands handles a slash command: verify, parse, check, enqueue, ack.
func (s *Server) commands(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	form, err := url.ParseQuery(string(body))
	if err == nil && form.Get("ssl_check") == "1" && form.Get("command") == "" {
		// Slack checks the certificate with an unsigned request that
		// carries no command: a 200 and nothing else.
		return
	}
	if !s.verified(w, r, body) {
		return
	}
	if err != nil {
		http.Error(w, "malformed form body: "+err.Error(), http.StatusBadRequest)
		return
	}
	user, channel := form.Get("user_id"), form.Get("channel_id")
	if user == "" || form.Get("command") == "" {
		http.Error(w, "malformed slash command: user_id and command are required", http.StatusBadRequest)
		return
	}
	slash := form.Get("command")
	c := engine.Context{Actor: s.Engine.Identify(engine.SourceSlack, user), Channel: channel}
	text := strings.TrimSpace(form.Get("text"))
	if api := s.api(r.Context(), form.Get("team_id")); text == "" && api != nil && form.Get("trigger_id") != "" {
		// An empty 200 at once; the modal is the answer. It opens beside the
		// ack, within the trigger_id's 3 s and not past them, or the help
		// goes to the person instead.
		trigger, responseURL := form.Get("trigger_id"), form.Get("response_url")
		ctx, cancel := context.WithDeadline(context.WithoutCancel(r.Context()), start.Add(ModalWithin))
		s.background.Go(func() {
			defer cancel()
			err := s.openModal(ctx, api, c, trigger, channel)
			if err == nil {
				return
			}
			s.Log.Warn("opening the run modal", "err", err)
			if s.Respond == nil || responseURL == "" {
				return
			}
			help := RenderHelp(s.Engine.Grammar, func(sp *grammar.Spec) bool { return s.Engine.Allowed(c, sp.Name) }, slash)
			rctx, done := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer done()
			if err := s.Respond(rctx, responseURL, help); err != nil {
				s.Log.Warn("answering with the help instead of the modal", "err", err)
			}
		})
		return
	}
	if text == "" {
		text = "help"
	}
	// A doubled or retried request has the same body, so the same job id:
	// the queue drops the second job, and the audit the second refusal.
	sum := sha256.Sum256(body)
	c.JobID = "s" + hex.EncodeToString(sum[:12])
	admitted, err := s.Engine.Admission(r.Context(), c, text)
	if err != nil {
		s.ack(w, form.Get("response_url"), RenderError(err, text))
		return
	}
	cmd := admitted.Command
	if cmd.Name == "help" {
		s.help(w, r, c, cmd, slash, form.Get("response_url"))
		return
	}
	job := &engine.QueuedJob{
		ID: c.JobID, Command: cmd.Canonical(), Actor: c.Actor, Channel: channel,
		Enqueued: time.Now(), Reply: map[string]string{"response_url": form.Get("response_url"), "team": form.Get("team_id"), "user": user},
	}
	dup, err := s.enqueue(r.Context(), job)
	if err != nil {
		s.Log.Error("enqueue failed", "job", job.ID, "err", err)
		writeJSON(w, RenderError(enqueueFailure(err, job.Command, job.ID), ""))
		return
	}
	if dup {
		s.metrics.enqueued.WithLabelValues("duplicate").Inc()
	} else {
		s.metrics.enqueued.WithLabelValues("enqueued").Inc()
	}
	ack := Message{ResponseType: "in_channel", Text: "Running " + job.Command}
	ack.Blocks = append(ack.Blocks, contextLine(":hourglass_flowing_sand: <@"+user+"> ran `"+escape(slash+" "+job.Command)+"` · job "+job.ID))
	if admitted.Asks {
		// Nothing runs before the answer: the question follows, with its
		// buttons.
		ack.Text = "Asking before " + job.Command
		ack.Blocks = []slack.Block{contextLine(":raised_hand: <@" + user + "> ran `" + escape(slash+" "+job.Command) + "`: it needs a yes first · job " + job.ID)}
	}
	writeJSON(w, ack)
	s.metrics.ack.Observe(time.Since(start).Seconds())
}

// enqueue stores a job durably: jobs shows it as queued from now on. A job
// enqueued before (a retried request) is a duplicate.
//
// While the queue cannot be reached (a NATS node died and its streams elect
// a new leader, which takes a few seconds), it tries again until
// EnqueueWithin has passed, each attempt bounded by EnqueueAttempt: the same
// id makes a retry of a write that landed a duplicate. Past that, the job is
// recorded as refused, so that a write that landed late runs nothing, and
// the error is returned: the person is told nothing ran.
func (s *Server) enqueue(ctx context.Context, job *engine.QueuedJob) (bool, error) {
	if job.Workspace == "" {
		job.Workspace = job.Reply["team"]
	}
	within, each := s.EnqueueWithin, s.EnqueueAttempt
	if within <= 0 {
		within = DefaultEnqueueWithin
	}
	if each <= 0 {
		each = DefaultEnqueueAttempt
	}
	deadline := time.Now().Add(within)
	var dup bool
	var err error
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, min(each, time.Until(deadline)))
		dup, err = s.Queue.Enqueue(actx, job)
		cancel()
		left := time.Until(deadline)
		if engine.ErrorCode(err) != engine.Unavailable || left < 20*time.Millisecond || ctx.Err() != nil {
			break
		}
		s.Log.Warn("enqueue failed; trying again", "job", job.ID, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(min(time.Duration(attempt)*50*time.Millisecond, 250*time.Millisecond, left)):
		}
	}
	if err != nil {
		if job.Reply["refusal"] != "" {
			return false, err
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refuseWithin)
		defer cancel()
		refused, rerr := s.Engine.Refuse(rctx, job, "chatops could not store the command in time; it was not run")
		switch {
		case rerr != nil:
			s.Log.Error("recording a refused job", "job", job.ID, "err", rerr)
			return false, &uncertainError{job: job.ID, err: err}
		case !refused:
			// The write landed after all and a worker took the job.
			s.Log.Info("an enqueue that looked lost landed; the job runs", "job", job.ID)
			return false, nil
		}
		return false, err
	}
	if dup || job.Reply["refusal"] != "" {
		return dup, nil // a refusal was decided and audited: no job runs
	}
	// The job needs no record of its own before a worker takes it: its
	// message in the queue shows it as queued.
	return false, nil
}

// api returns the Web API client for a workspace.
func (s *Server) api(ctx context.Context, team string) *slack.Client {
	return s.Client(ctx, team, s.Log)
}

// help answers at once: it reads no ledger.
func (s *Server) help(w http.ResponseWriter, r *http.Request, c engine.Context, cmd *grammar.Command, slash, responseURL string) {
	res, err := s.Engine.Dispatch(r.Context(), c, cmd)
	if err != nil {
		s.ack(w, responseURL, RenderError(err, cmd.Canonical()))
		return
	}
	if _, ok := cmd.Get("command"); ok {
		writeJSON(w, Message{ResponseType: "ephemeral", Text: res.Title, Blocks: []slack.Block{section(code(res.Text))}})
		return
	}
	s.ack(w, responseURL, RenderHelp(s.Engine.Grammar, func(sp *grammar.Spec) bool { return s.Engine.Allowed(c, sp.Name) }, slash))
}

// ack answers a request with the first part of m; the parts that continue
// it follow at the response_url, in order, once the request is answered.
func (s *Server) ack(w http.ResponseWriter, responseURL string, m Message) {
	writeJSON(w, m)
	if len(m.Continued) == 0 || responseURL == "" || s.Respond == nil {
		return
	}
	// The rest goes once the first part has: over HTTP, flushed now; over
	// Socket Mode, once the envelope is acked.
	if a, ok := afterAcker(w); ok {
		a.afterAck(func() { s.postRest(responseURL, m.Continued) })
		return
	}
	_ = http.NewResponseController(w).Flush()
	s.postRest(responseURL, m.Continued)
}

// afterAcker finds, under w's wrappers, a writer that sends its answer
// after the handler returns and can run something then.
func afterAcker(w http.ResponseWriter) (interface{ afterAck(func()) }, bool) {
	for {
		if a, ok := w.(interface{ afterAck(func()) }); ok {
			return a, true
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil, false
		}
		w = u.Unwrap()
	}
}

// postRest posts the parts that continue an answer, in order, to its
// response_url.
func (s *Server) postRest(responseURL string, parts []Message) {
	s.background.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for i, part := range parts {
			if err := s.Respond(ctx, responseURL, part); err != nil {
				s.Log.Warn("posting the rest of an answer", "part", i+2, "err", err)
				return
			}
		}
	})
}
