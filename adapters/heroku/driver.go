package heroku

import (
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/chatops/chatops/engine"
)

var _ engine.Driver = (*Driver)(nil)

// Defaults of the Driver's fields.
const (
	// DefaultBaseURL is Heroku's Platform API.
	DefaultBaseURL = "https://api.heroku.com"
	// BaseURLEnv names the variable that overrides the API's base URL.
	BaseURLEnv = "CHATOPS_HEROKU_API_URL"
	// DefaultTokenEnv names the token's variable when the config names none,
	// as the Heroku CLI reads it.
	DefaultTokenEnv       = "HEROKU_API_KEY"
	DefaultTimeout        = 10 * time.Minute
	DefaultRequestTimeout = 30 * time.Second
	DefaultPollInterval   = 2 * time.Second
	DefaultRetryWaitMin   = time.Second
	DefaultRetryWaitMax   = 30 * time.Second
	DefaultRetryMax       = 8
	// Accept is the media type of every request: version 3 of the API.
	Accept = "application/vnd.heroku+json; version=3"
	// UserAgent identifies the driver to Heroku.
	UserAgent = "chatops-heroku-driver"
)

// logTail bounds the lines a failure quotes.
const logTail = 20

// Driver promotes and rolls back through Heroku's Platform API. New fills
// its fields; zero fields take their defaults when used, so a Driver literal
// works too. A Driver may run several deployments at once.
type Driver struct {
	// Pipeline is the chatops pipeline's name, for messages.
	Pipeline string
	// HerokuPipeline is the Heroku pipeline's id.
	HerokuPipeline string
	// App is the stage's Heroku app, by name or id.
	App string
	// Apps maps each stage of the pipeline that deploys to Heroku to its
	// app, by name or id: where a promotion comes from.
	Apps map[string]string
	// BaseURL is the API's root, DefaultBaseURL when empty.
	BaseURL string
	// Token authenticates every request as a bearer token. It is a secret:
	// it never appears in logs, errors or progress.
	Token string
	// TokenEnv names the variable Token came from, to say which one to fix
	// when Heroku rejects it.
	TokenEnv string
	// HTTPClient makes each single request; when nil, a client with
	// RequestTimeout over http.DefaultTransport.
	HTTPClient *http.Client
	// CheckRetry and Backoff are the retry policies, DefaultCheckRetry and
	// DefaultBackoff when nil, waiting between RetryWaitMin and
	// RetryWaitMax, at most RetryMax retries a call.
	CheckRetry   CheckRetry
	Backoff      Backoff
	RetryWaitMin time.Duration
	RetryWaitMax time.Duration
	RetryMax     int
	// Timeout bounds a whole deployment, polling included.
	Timeout time.Duration
	// RequestTimeout bounds each request when HTTPClient is nil.
	RequestTimeout time.Duration
	// PollInterval is the wait between two reads of a promotion's targets
	// or a release.
	PollInterval time.Duration
	// After is the clock the polls wait on, time.After when nil.
	After func(time.Duration) <-chan time.Time
	// Logger receives the driver's and go-retryablehttp's log lines,
	// slog.Default() when nil. They hold methods and URLs, never the token.
	Logger *slog.Logger

	mu  sync.Mutex
	ids map[string]string // app name → id, resolved once
}

// New returns the Heroku driver of a pipeline's stage, from
// pc.Deploy[stage].Heroku, knowing the apps of every stage of pc that
// deploys to Heroku. It reads the token from the variable the config names
// (HEROKU_API_KEY by default) and the API's base URL from
// CHATOPS_HEROKU_API_URL through getenv. Its errors are engine.Invalid.
func New(pc *engine.PipelineConfig, stage string, getenv engine.Getenv) (*Driver, error) {
	cfg := pc.Deploy[stage].Heroku
	if cfg == nil {
		return nil, engine.Errorf(engine.Invalid, "pipeline %q: stage %q has no heroku deploy config", pc.Name, stage)
	}
	if cfg.App == "" {
		return nil, engine.Errorf(engine.Invalid, "pipeline %q: the heroku driver of stage %q needs its app (deploy.%s.heroku.app)", pc.Name, stage, stage)
	}
	if cfg.Pipeline == "" {
		return nil, engine.Errorf(engine.Invalid, "pipeline %q: the heroku driver of stage %q needs the Heroku pipeline's id (deploy.%s.heroku.pipeline)", pc.Name, stage, stage)
	}
	tokenEnv := cfg.TokenEnv
	if tokenEnv == "" {
		tokenEnv = DefaultTokenEnv
	}
	token := getenv(tokenEnv)
	if token == "" {
		return nil, engine.Errorf(engine.Invalid, "pipeline %q: stage %q deploys through Heroku but $%s, which holds the API token, is unset or empty", pc.Name, stage, tokenEnv)
	}
	base := DefaultBaseURL
	if s := getenv(BaseURLEnv); s != "" {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, engine.Errorf(engine.Invalid, "$%s=%q is not an http(s) URL such as https://api.heroku.com", BaseURLEnv, s)
		}
		base = s
	}
	apps := make(map[string]string)
	for st, dc := range pc.Deploy {
		if dc.Heroku != nil && dc.Heroku.App != "" {
			apps[st] = dc.Heroku.App
		}
	}
	return &Driver{
		Pipeline:       pc.Name,
		HerokuPipeline: cfg.Pipeline,
		App:            cfg.App,
		Apps:           apps,
		BaseURL:        base,
		Token:          token,
		TokenEnv:       tokenEnv,
		CheckRetry:     DefaultCheckRetry,
		Backoff:        DefaultBackoff,
		RetryWaitMin:   DefaultRetryWaitMin,
		RetryWaitMax:   DefaultRetryWaitMax,
		RetryMax:       DefaultRetryMax,
		Timeout:        or(cfg.Timeout, DefaultTimeout),
		RequestTimeout: DefaultRequestTimeout,
		PollInterval:   DefaultPollInterval,
		After:          time.After,
		Logger:         slog.Default(),
	}, nil
}

func (d *Driver) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.Default()
}

func (d *Driver) after(w time.Duration) <-chan time.Time {
	if d.After != nil {
		return d.After(w)
	}
	return time.After(w)
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
