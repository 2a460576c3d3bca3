package http

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/chatops/chatops/engine"
)

var _ engine.Driver = (*Driver)(nil)

// Defaults of the Driver's fields.
const (
	// DefaultTimeout bounds a whole deployment, polling included, when the
	// config sets no timeout.
	DefaultTimeout = 10 * time.Minute
	// DefaultRequestTimeout bounds each single request.
	DefaultRequestTimeout = 30 * time.Second
	// DefaultPollInterval is the wait between two reads of a status_url.
	DefaultPollInterval = 2 * time.Second
	// DefaultRetryWaitMin is the first wait before a retry.
	DefaultRetryWaitMin = time.Second
	// DefaultRetryWaitMax caps every wait before a retry, Retry-After included.
	DefaultRetryWaitMax = 30 * time.Second
	// DefaultRetryMax is how many times one request is retried.
	DefaultRetryMax = 8
	// UserAgent identifies the driver to the receiver.
	UserAgent = "chatops-http-driver"
)

// name is the driver's name in engine.DriverError.
const name = "http"

// logTail bounds the log lines a failure quotes.
const logTail = 20

// Driver posts each change of a stage, signed, to a webhook and follows it
// to its end. New fills its fields; zero fields take their defaults when
// used, so a Driver literal works too. A Driver may run several deployments
// at once.
type Driver struct {
	// Pipeline and Stage name what the driver deploys, for messages.
	Pipeline string
	Stage    string
	// URL is the webhook every change is posted to.
	URL string
	// Secret is the HMAC-SHA256 key that signs every request. It never
	// appears in logs, errors, progress or Deployed.
	Secret []byte
	// SecretEnv names the variable Secret came from, to say which one to
	// fix when the receiver rejects the signature.
	SecretEnv string
	// HTTPClient makes each single request; when nil, a client with
	// RequestTimeout over http.DefaultTransport.
	HTTPClient *http.Client
	// CheckRetry and Backoff are the retry policies, DefaultCheckRetry and
	// DefaultBackoff when nil, waiting between RetryWaitMin and
	// RetryWaitMax, at most RetryMax retries a request.
	CheckRetry   CheckRetry
	Backoff      Backoff
	RetryWaitMin time.Duration
	RetryWaitMax time.Duration
	RetryMax     int
	// Timeout bounds a whole deployment, polling included.
	Timeout time.Duration
	// RequestTimeout bounds each request when HTTPClient is nil.
	RequestTimeout time.Duration
	// PollInterval is the wait between two reads of a status_url.
	PollInterval time.Duration
	// After is the clock the polls wait on, time.After when nil.
	After func(time.Duration) <-chan time.Time
	// Now stamps each signature, time.Now when nil.
	Now func() time.Time
	// Logger receives the driver's and go-retryablehttp's log lines,
	// slog.Default() when nil. URLs appear in them without user info or
	// query; the secret never does.
	Logger *slog.Logger
}

// New returns the http driver of a pipeline's stage, from
// pc.Deploy[stage].HTTP. It reads the HMAC key from the variable SecretEnv
// names through getenv; a URL written as $NAME is read from the variable
// NAME too, so a webhook URL holding a token need not sit in the config.
// Its errors are engine.Invalid.
func New(pc *engine.PipelineConfig, stage string, getenv engine.Getenv) (*Driver, error) {
	cfg := pc.Deploy[stage].HTTP
	if cfg == nil {
		return nil, engine.Errorf(engine.Invalid, "pipeline %q: stage %q has no http deploy config", pc.Name, stage)
	}
	raw := cfg.URL
	if v, ok := strings.CutPrefix(raw, "$"); ok {
		v = strings.TrimSuffix(strings.TrimPrefix(v, "{"), "}")
		raw = getenv(v)
		if raw == "" {
			return nil, engine.Errorf(engine.Invalid, "pipeline %q: the http driver of stage %q reads its URL from $%s, which is unset or empty", pc.Name, stage, v)
		}
	}
	if raw == "" {
		return nil, engine.Errorf(engine.Invalid, "pipeline %q: the http driver of stage %q needs its URL (deploy.%s.http.url)", pc.Name, stage, stage)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, engine.Errorf(engine.Invalid, "pipeline %q: the http driver of stage %q: %q is not an http(s) URL such as https://deploy.example.com/hook", pc.Name, stage, safeURL(raw))
	}
	if cfg.SecretEnv == "" {
		return nil, engine.Errorf(engine.Invalid, "pipeline %q: the http driver of stage %q needs the variable holding its signing secret (deploy.%s.http.secret_env)", pc.Name, stage, stage)
	}
	secret := getenv(cfg.SecretEnv)
	if secret == "" {
		return nil, engine.Errorf(engine.Invalid, "pipeline %q: stage %q deploys through a signed webhook but $%s, which holds the signing secret, is unset or empty", pc.Name, stage, cfg.SecretEnv)
	}
	return &Driver{
		Pipeline:       pc.Name,
		Stage:          stage,
		URL:            raw,
		Secret:         []byte(secret),
		SecretEnv:      cfg.SecretEnv,
		CheckRetry:     DefaultCheckRetry,
		Backoff:        DefaultBackoff,
		RetryWaitMin:   DefaultRetryWaitMin,
		RetryWaitMax:   DefaultRetryWaitMax,
		RetryMax:       DefaultRetryMax,
		Timeout:        or(cfg.Timeout, DefaultTimeout),
		RequestTimeout: DefaultRequestTimeout,
		PollInterval:   DefaultPollInterval,
		After:          time.After,
		Now:            time.Now,
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

func (d *Driver) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
