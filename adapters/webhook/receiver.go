package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/chatops/chatops/adapters/internal/signature"
	"github.com/chatops/chatops/engine"
)

// The variables the secrets come from, and the defaults of the Receiver's
// fields.
const (
	// GitHubSecretEnv holds the secret of the GitHub webhook, as typed in
	// the repository's webhook settings.
	GitHubSecretEnv = "GITHUB_WEBHOOK_SECRET"
	// SecretEnv holds the secret of the generic endpoint.
	SecretEnv = "CHATOPS_WEBHOOK_SECRET"
	// DefaultMaxBody bounds a GitHub delivery: GitHub caps payloads at 25 MB.
	DefaultMaxBody = 25 << 20
	// DefaultMaxGenericBody bounds a generic report, which is a few
	// hundred bytes.
	DefaultMaxGenericBody = 64 << 10
)

// VersionFunc names the release of pipeline that holds commit (a full sha),
// for a CI report, which knows only the commit. It returns "" when it does
// not know, and engine.Unavailable when the ledger cannot be reached.
type VersionFunc func(ctx context.Context, pipeline, commit string) (string, error)

// Receiver publishes the reports CI/CD systems send as pipeline events. Its
// zero fields take their defaults when used; Config and Events are needed.
//
// The generic endpoint, POST /hooks/generic, reads one JSON object, a
// Report, signed with the v1 scheme:
//
//	{
//	  "pipeline": "shop",          required: a pipeline of the config
//	  "stage":    "production",    optional: a stage of it, or an alias (prod)
//	  "version":  "1.4.0",         optional: the release, the thread it goes to
//	  "state":    "success",       required: pending, in_progress, success or failure
//	  "title":    "Smoke tests",   optional: what reports
//	  "url":      "https://…",     optional: http or https, where to read more
//	  "text":     "12 passed"      optional: may hold tabs and line breaks
//	}
//
// A field it does not know, or of the wrong type, is refused (400); so is a
// control character in any field (422), but for tabs and line breaks in
// text. The event's ID is webhook/ and the first 24 hex digits of the
// body's SHA-256: the same report sent again is kept once.
type Receiver struct {
	// Config holds the pipelines reports are for.
	Config *engine.Config
	// Events is where the reports go.
	Events engine.Events
	// GitHubSecret verifies /hooks/github; the endpoint answers 404 when it
	// is empty.
	GitHubSecret []byte
	// Secret verifies /hooks/generic; the endpoint answers 404 when it is
	// empty.
	Secret []byte
	// VersionOf names the release a CI run's commit belongs to; when nil,
	// or when it does not know, the version is the commit's first 7 digits.
	VersionOf VersionFunc
	// Now is the clock for events and signature windows; time.Now when nil.
	Now func() time.Time
	// Window is how far a generic report's timestamp may be from Now;
	// signature.DefaultWindow (5 minutes) when zero.
	Window time.Duration
	// MaxBody bounds a GitHub delivery; DefaultMaxBody when zero.
	MaxBody int64
	// MaxGenericBody bounds a generic report; DefaultMaxGenericBody when
	// zero.
	MaxGenericBody int64
	// Log gets every refusal and failure, never a secret or a signature;
	// slog.Default when nil.
	Log *slog.Logger
}

// New returns a Receiver of cfg's pipelines publishing to events, with the
// secrets read through getenv from GitHubSecretEnv and SecretEnv.
func New(cfg *engine.Config, events engine.Events, getenv engine.Getenv) *Receiver {
	return &Receiver{
		Config:       cfg,
		Events:       events,
		GitHubSecret: []byte(getenv(GitHubSecretEnv)),
		Secret:       []byte(getenv(SecretEnv)),
	}
}

// Handler returns the routes: POST /hooks/github and POST /hooks/generic.
func (r *Receiver) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/hooks/github", r.endpoint(r.github))
	mux.Handle("/hooks/generic", r.endpoint(r.generic))
	return mux
}

func (r *Receiver) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Receiver) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

func (r *Receiver) window() time.Duration {
	if r.Window > 0 {
		return r.Window
	}
	return signature.DefaultWindow
}

func (r *Receiver) pipelines() []engine.PipelineConfig {
	if r.Config == nil {
		return nil
	}
	return r.Config.Pipelines
}

// reply is an endpoint's answer: a status and a body written as JSON.
type reply struct {
	status int
	body   any
}

// errorBody is the body of every refusal. Errors lists every error when
// there are several; Error then names the first and counts the rest.
type errorBody struct {
	Error  string   `json:"error"`
	Errors []string `json:"errors,omitempty"`
}

func refuse(status int, format string, args ...any) reply {
	return reply{status, errorBody{Error: fmt.Sprintf(format, args...)}}
}

// refuseAll answers with every message of msgs, which are in the order of
// the fields they are about.
func refuseAll(status int, msgs []string) reply {
	b := errorBody{Error: msgs[0]}
	if len(msgs) > 1 {
		b.Error += fmt.Sprintf(" (and %d more errors)", len(msgs)-1)
		b.Errors = msgs
	}
	return reply{status, b}
}

func ignore(format string, args ...any) reply {
	return reply{http.StatusAccepted, map[string]string{"ignored": fmt.Sprintf(format, args...)}}
}

// endpoint serves h on POST only.
func (r *Receiver) endpoint(h func(*http.Request) reply) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rep := reply{}
		if req.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			rep = refuse(http.StatusMethodNotAllowed, "method %s is not allowed: send a POST", req.Method)
		} else {
			rep = h(req)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rep.status)
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.Encode(rep.body)
	})
}

// readBody reads at most limit bytes of req's body; a longer body is
// refused whole, since a signature over part of it proves nothing.
func readBody(req *http.Request, limit int64) ([]byte, *reply) {
	tooLarge := refuse(http.StatusRequestEntityTooLarge, "body is larger than %s", size(limit))
	if req.ContentLength > limit {
		return nil, &tooLarge
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, limit+1))
	if err != nil {
		rep := refuse(http.StatusBadRequest, "reading the body: %v", err)
		return nil, &rep
	}
	if int64(len(body)) > limit {
		return nil, &tooLarge
	}
	return body, nil
}

// size writes n bytes as people count them.
func size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// publish publishes evs in order and says how it went. Events already
// published before a failure are kept: a retry publishes them again under
// the same IDs, which the store drops.
func (r *Receiver) publish(ctx context.Context, endpoint string, evs []engine.Event) reply {
	for i := range evs {
		if err := r.Events.Publish(ctx, &evs[i]); err != nil {
			return r.failed(endpoint, evs[i].ID, err)
		}
	}
	for _, ev := range evs {
		r.log().Info("webhook: published", "endpoint", endpoint, "id", ev.ID, "pipeline", ev.Pipeline,
			"stage", ev.Stage, "version", ev.Version, "action", ev.Action, "state", ev.State)
	}
	return reply{http.StatusAccepted, map[string]int{"published": len(evs)}}
}

// failed answers a failure of the store or of the ledger; only the log
// says what it was.
func (r *Receiver) failed(endpoint, id string, err error) reply {
	if engine.ErrorCode(err) == engine.Unavailable {
		r.log().Warn("webhook: event store unavailable", "endpoint", endpoint, "id", id, "err", err)
		return refuse(http.StatusServiceUnavailable, "the event store is unavailable; try again")
	}
	r.log().Error("webhook: publishing failed", "endpoint", endpoint, "id", id, "err", err)
	return refuse(http.StatusInternalServerError, "internal error; the details are in the server log")
}

// notConfigured answers for an endpoint without its secret.
func notConfigured(what, env string) reply {
	return refuse(http.StatusNotFound, "%s webhooks are not configured: set %s", what, env)
}
