package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// DefaultSocketConnections is how many Socket Mode connections a Socket
// keeps open. Slack asks each to reconnect every few hours (a disconnect
// envelope, "refresh_requested"), and sends a connection's envelopes to it
// alone: with two, one is always up while the other reconnects.
const DefaultSocketConnections = 2

// Socket takes Slack's requests over Socket Mode: WebSocket connections the
// app opens itself (apps.connections.open, with its app-level token), so the
// server needs no public URL. Every envelope goes through the same code as
// its HTTP endpoint, the Server's routes, signature aside: the same parse,
// policy, durable enqueue and dedupe keys; it is acked with what that
// endpoint would have answered (a slash command's ack, options, a view's
// errors).
type Socket struct {
	// Server handles each envelope as its HTTP endpoint.
	Server *Server
	// AppToken is the app-level token (xapp-…) with connections:write.
	AppToken string
	// APIURL is the Web API's base URL, where apps.connections.open is.
	APIURL string
	// HTTP makes the Web API calls, with its retries: NewHTTPClient's.
	HTTP *retryablehttp.Client
	// Connections is how many connections to keep; DefaultSocketConnections
	// when zero.
	Connections int
	// Log gets the connections' comings and goings, and refused envelopes.
	Log *slog.Logger

	live     atomic.Int32 // connections up now
	ever     atomic.Bool  // a connection was up once
	handlers sync.WaitGroup
}

// ackWithin bounds how long an ack waits for its connection's writer: Slack
// gives up on an envelope after 3 s.
const ackWithin = 3 * time.Second

// socketKey marks the requests that came over Socket Mode: their signature
// is the connection's.
type socketKey struct{}

func viaSocket(ctx context.Context) bool { return ctx.Value(socketKey{}) != nil }

// errAuth is a Socket Mode connection Slack refused for its token.
var errAuth = errors.New("the app-level token was refused")

// Run keeps the connections open until ctx ends, reconnecting each with
// backoff when it drops or Slack asks, and returns once the envelopes being
// handled are acked. Before any connection came up, a token Slack refuses
// is returned as an error: nothing would ever connect.
func (s *Socket) Run(ctx context.Context) error {
	if s.Log == nil {
		s.Log = slog.Default()
	}
	n := s.Connections
	if n <= 0 {
		n = DefaultSocketConnections
	}
	routes := s.Server.Handler()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var conns sync.WaitGroup
	for i := range n {
		conns.Go(func() { s.keep(ctx, cancel, i+1, routes) })
	}
	conns.Wait()
	s.handlers.Wait()
	if err := context.Cause(ctx); errors.Is(err, errAuth) {
		return err
	}
	return nil
}

// Connected reports whether a connection is up, for /readyz.
func (s *Socket) Connected() error {
	if s.live.Load() == 0 {
		return errors.New("no Socket Mode connection to Slack")
	}
	return nil
}

// keep runs connection n, a new client each time one gives up, until ctx
// ends. slack-go's client reconnects by itself on a disconnect envelope, a
// dropped or silent connection, and passing errors; it gives up on a
// refused token, which is retried here more slowly.
func (s *Socket) keep(ctx context.Context, cancel context.CancelCauseFunc, n int, routes http.Handler) {
	api := slack.New("", slack.OptionAppLevelToken(s.AppToken), slack.OptionAPIURL(s.APIURL), slack.OptionHTTPClient(s.HTTP.StandardClient()))
	wait := time.Second
	for ctx.Err() == nil {
		client := socketmode.New(api)
		cctx, stop := context.WithCancel(ctx)
		var events sync.WaitGroup
		events.Go(func() { s.events(cctx, client, n, routes) })
		err := client.RunContext(cctx)
		stop()
		events.Wait()
		if ctx.Err() != nil {
			return
		}
		if !s.ever.Load() {
			s.Log.Error("Slack refused the Socket Mode connection: check SLACK_APP_TOKEN (an app-level token, xapp-…, with connections:write)",
				"connection", n, "err", err)
			cancel(fmt.Errorf("%w: %v", errAuth, err))
			return
		}
		s.Log.Error("Socket Mode connection gave up; trying again", "connection", n, "err", err, "in", wait)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Minute)
	}
}

// events handles what connection n's client reports until ctx ends: its
// state, and each envelope in a goroutine of its own.
func (s *Socket) events(ctx context.Context, client *socketmode.Client, n int, routes http.Handler) {
	up, asked := false, false // asked: Slack asked this connection to go
	down := func() {
		if up {
			up = false
			s.live.Add(-1)
		}
	}
	defer down()
	for {
		var evt socketmode.Event
		select {
		case <-ctx.Done():
			return
		case evt = <-client.Events:
		}
		switch evt.Type {
		case socketmode.EventTypeConnected:
			asked = false
			if !up {
				up = true
				s.live.Add(1)
			}
			s.ever.Store(true)
			s.Log.Info("Socket Mode connected", "connection", n)
		case socketmode.EventTypeConnecting:
			down()
		case socketmode.EventTypeDisconnect:
			down()
			asked = true
			s.Log.Info("Slack asked Socket Mode to reconnect", "connection", n)
		case socketmode.EventTypeConnectionError, socketmode.EventTypeIncomingError, socketmode.EventTypeErrorWriteFailed:
			down()
			if ctx.Err() == nil && !asked { // not the closing of a connection that was asked to go
				s.Log.Warn("Socket Mode connection trouble", "connection", n, "event", string(evt.Type), "detail", fmt.Sprint(evt.Data))
			}
		case socketmode.EventTypeInvalidAuth:
			down()
		case socketmode.EventTypeErrorBadMessage:
			s.Log.Warn("Socket Mode envelope unreadable", "connection", n, "detail", fmt.Sprint(evt.Data))
		case socketmode.EventTypeSlashCommand, socketmode.EventTypeInteractive, socketmode.EventTypeEventsAPI:
			if evt.Request != nil {
				req := *evt.Request
				s.handlers.Go(func() { s.handle(context.WithoutCancel(ctx), client, req, routes) })
			}
		}
	}
}

// handle passes one envelope to its endpoint and acks it with the answer.
// An event the endpoint could not take (the queue unreachable: a 5xx) is
// not acked, so that Slack sends it again, as it retries an HTTP event.
func (s *Socket) handle(ctx context.Context, client *socketmode.Client, req socketmode.Request, routes http.Handler) {
	ack := func(payload any) error {
		actx, cancel := context.WithTimeout(ctx, ackWithin)
		defer cancel()
		return client.AckCtx(actx, req.EnvelopeID, payload)
	}
	path, body, err := envelopeRequest(req)
	if err != nil {
		s.Log.Warn("Socket Mode envelope refused", "envelope", req.EnvelopeID, "type", req.Type, "err", err)
		_ = ack(nil)
		return
	}
	r, err := http.NewRequestWithContext(context.WithValue(ctx, socketKey{}, true), http.MethodPost, path, bytes.NewReader(body))
	if err != nil {
		_ = ack(nil)
		return
	}
	if path == "/slack/events" {
		r.Header.Set("Content-Type", "application/json")
		if req.RetryAttempt > 0 {
			r.Header.Set("X-Slack-Retry-Num", strconv.Itoa(req.RetryAttempt))
			r.Header.Set("X-Slack-Retry-Reason", req.RetryReason)
		}
	} else {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	w := &envelopeWriter{header: http.Header{}, status: http.StatusOK}
	routes.ServeHTTP(w, r)
	defer func() {
		for _, f := range w.after {
			f()
		}
	}()
	switch {
	case w.status >= 500 && req.Type == socketmode.RequestTypeEventsAPI:
		s.Log.Warn("Socket Mode event not taken; Slack sends it again", "envelope", req.EnvelopeID, "status", w.status)
		return
	case w.status != http.StatusOK:
		s.Log.Warn("Socket Mode envelope refused", "envelope", req.EnvelopeID, "type", req.Type, "status", w.status, "answer", w.body.String())
		_ = ack(nil)
		return
	case w.body.Len() == 0 || !json.Valid(w.body.Bytes()):
		_ = ack(nil)
		return
	}
	answer := json.RawMessage(bytes.TrimSpace(w.body.Bytes()))
	err = ack(answer)
	if err == nil || ctx.Err() != nil {
		return
	}
	// Slack drops an ack of 20 KB or more: a long slash command answer goes
	// to its response_url instead, behind an empty ack.
	_ = ack(nil)
	var m Message
	responseURL := ""
	if req.Type == socketmode.RequestTypeSlashCommands {
		var cmd struct {
			ResponseURL string `json:"response_url"`
		}
		_ = json.Unmarshal(req.Payload, &cmd)
		responseURL = cmd.ResponseURL
	}
	if responseURL == "" || json.Unmarshal(answer, &m) != nil || s.Server.Respond == nil {
		s.Log.Error("Socket Mode answer not sent", "envelope", req.EnvelopeID, "bytes", len(answer), "err", err)
		return
	}
	if rerr := s.Server.Respond(ctx, responseURL, m); rerr != nil {
		s.Log.Error("Socket Mode answer not sent", "envelope", req.EnvelopeID, "bytes", len(answer), "err", rerr)
	}
}

// envelopeRequest is the HTTP request Slack would have sent for an envelope:
// its endpoint and body. A slash command's payload is the form's fields as
// a JSON object; an interaction's is the form's payload field; an event's is
// the body itself.
func envelopeRequest(req socketmode.Request) (path string, body []byte, err error) {
	switch req.Type {
	case socketmode.RequestTypeSlashCommands:
		var fields map[string]any
		if err := json.Unmarshal(req.Payload, &fields); err != nil {
			return "", nil, fmt.Errorf("slash command payload: %w", err)
		}
		form := url.Values{}
		for k, v := range fields {
			switch v := v.(type) {
			case string:
				form.Set(k, v)
			case bool, float64:
				form.Set(k, fmt.Sprint(v))
			}
		}
		return "/slack/commands", []byte(form.Encode()), nil
	case socketmode.RequestTypeInteractive:
		var kind struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(req.Payload, &kind); err != nil {
			return "", nil, fmt.Errorf("interaction payload: %w", err)
		}
		path := "/slack/interactivity"
		if kind.Type == string(slack.InteractionTypeBlockSuggestion) {
			path = "/slack/options" // the options load URL's, over HTTP
		}
		return path, []byte(url.Values{"payload": {string(req.Payload)}}.Encode()), nil
	case socketmode.RequestTypeEventsAPI:
		return "/slack/events", req.Payload, nil
	}
	return "", nil, fmt.Errorf("envelope type %q", req.Type)
}

// envelopeWriter keeps what an endpoint answers an envelope.
type envelopeWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
	after  []func() // run once the envelope is acked
}

// afterAck runs f once the envelope is acked: what follows an answer (the
// rest of a long one) must not overtake it.
func (w *envelopeWriter) afterAck(f func()) { w.after = append(w.after, f) }

func (w *envelopeWriter) Header() http.Header { return w.header }

func (w *envelopeWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
}

func (w *envelopeWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.body.Write(b)
}
