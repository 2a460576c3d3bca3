package github

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
	// DefaultBaseURL is GitHub.com's API; GitHub Enterprise Server answers
	// at https://HOST/api/v3.
	DefaultBaseURL = "https://api.github.com"
	// BaseURLEnv names the variable that overrides the API's base URL.
	BaseURLEnv = "CHATOPS_GITHUB_API_URL"
	// DefaultTokenEnv names the token's variable when the config names none.
	DefaultTokenEnv       = "GITHUB_TOKEN"
	DefaultTimeout        = 10 * time.Minute
	DefaultRequestTimeout = 30 * time.Second
	DefaultPollInterval   = 2 * time.Second
	DefaultRetryWaitMin   = time.Second
	DefaultRetryWaitMax   = 30 * time.Second
	DefaultRetryMax       = 8
	// APIVersion is the REST API version every request asks for.
	APIVersion = "2022-11-28"
	// UserAgent identifies the driver to GitHub, which requires one.
	UserAgent = "chatops-github-driver"
)

// logTail bounds the lines a failure quotes.
const logTail = 20

// Driver deploys through GitHub's Deployments API. New fills its fields;
// zero fields take their defaults when used, so a Driver literal works too.
// A Driver may run several deployments at once.
type Driver struct {
	// Repo is the repository, owner/name.
	Repo string
	// Environment is the GitHub environment; the deployment's stage when
	// empty.
	Environment string
	// BaseURL is the API's root, DefaultBaseURL when empty.
	BaseURL string
	// Token authenticates every request as a bearer token. It is a secret:
	// it never appears in logs, errors or progress.
	Token string
	// TokenEnv names the variable Token came from, to say which one to fix
	// when GitHub rejects it.
	TokenEnv string
	// HTTPClient makes each single request; when nil, a client with
	// RequestTimeout over http.DefaultTransport.
	HTTPClient *http.Client
	// CheckRetry and Backoff are the retry policies, DefaultCheckRetry and
	// DefaultBackoff when nil, between RetryWaitMin and RetryWaitMax, at
	// most RetryMax retries a call (DefaultRetryMax when 0). The backoff
	// waits run on go-retryablehttp's own timer, not on After: a test
	// passes them with a Backoff that returns 0.
	CheckRetry   CheckRetry
	Backoff      Backoff
	RetryWaitMin time.Duration
	RetryWaitMax time.Duration
	RetryMax     int
	// Timeout bounds a whole deployment, polling included.
	Timeout time.Duration
	// RequestTimeout bounds each request when HTTPClient is nil.
	RequestTimeout time.Duration
	// PollInterval is the wait between two reads of the statuses.
	PollInterval time.Duration
	// After is the clock the polls wait on, time.After when nil.
	After func(time.Duration) <-chan time.Time
	// Logger receives the driver's and go-retryablehttp's log lines,
	// slog.Default() when nil. They hold methods and URLs, never the token.
	Logger *slog.Logger
}

// New returns the GitHub driver of a pipeline's stage, from
// pc.Deploy[stage].GitHub and pc.Repo, reading the token from the variable
// the config names (GITHUB_TOKEN by default) and the API's base URL from
// CHATOPS_GITHUB_API_URL through getenv. Its errors are engine.Invalid.
func New(pc *engine.PipelineConfig, stage string, getenv engine.Getenv) (*Driver, error) {
	cfg := pc.Deploy[stage].GitHub
	if cfg == nil {
		return nil, engine.Errorf(engine.Invalid, "pipeline %q: stage %q has no github deploy config", pc.Name, stage)
	}
	owner, name, ok := strings.Cut(pc.Repo, "/")
	if pc.Repo == "" {
		return nil, engine.Errorf(engine.Invalid, "pipeline %q: the github driver of stage %q needs the pipeline's repo (owner/name)", pc.Name, stage)
	}
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return nil, engine.Errorf(engine.Invalid, "pipeline %q: repo %q is not owner/name", pc.Name, pc.Repo)
	}
	tokenEnv := cfg.TokenEnv
	if tokenEnv == "" {
		tokenEnv = DefaultTokenEnv
	}
	token := getenv(tokenEnv)
	if token == "" {
		return nil, engine.Errorf(engine.Invalid, "pipeline %q: stage %q deploys through GitHub but $%s, which holds the token, is unset or empty", pc.Name, stage, tokenEnv)
	}
	base := DefaultBaseURL
	if s := getenv(BaseURLEnv); s != "" {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, engine.Errorf(engine.Invalid, "$%s=%q is not an http(s) URL such as https://github.example.com/api/v3", BaseURLEnv, s)
		}
		base = s
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Driver{
		Repo:           pc.Repo,
		Environment:    cfg.Environment,
		BaseURL:        base,
		Token:          token,
		TokenEnv:       tokenEnv,
		CheckRetry:     DefaultCheckRetry,
		Backoff:        DefaultBackoff,
		RetryWaitMin:   DefaultRetryWaitMin,
		RetryWaitMax:   DefaultRetryWaitMax,
		RetryMax:       DefaultRetryMax,
		Timeout:        timeout,
		RequestTimeout: DefaultRequestTimeout,
		PollInterval:   DefaultPollInterval,
		After:          time.After,
		Logger:         slog.Default(),
	}, nil
}
