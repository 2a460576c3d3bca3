package engine

import (
	"context"
	"time"
)

// Driver carries a change of a stage to the system that really deploys it:
// a program, a signed webhook, Heroku, GitHub. A stage with no driver is
// changed in the ledger only.
//
// The ledger records a change only when its driver succeeded. While a driver
// runs, its stage shows the deployment and refuses a second change, unless it
// is forced.
type Driver interface {
	// Deploy carries d out and returns once it succeeded or failed,
	// sending what it learns on the way to progress, one line at a time.
	// Its errors are outcomes, never retried by the engine:
	//   - Conflict: the deploying system refused the change before it
	//     started (for example, failing required checks); forcing may pass;
	//   - Invalid: the driver cannot make this kind of change;
	//   - anything else is a failed deployment, answered with the error's
	//     message. A driver retries its own passing failures (5xx, 429,
	//     connection errors) within its deadline, with an idempotency key
	//     where the system takes one, so a retried call never starts two
	//     deployments.
	Deploy(ctx context.Context, d *Deployment, progress func(string)) (*Deployed, error)
}

// Deployment is one change of a stage, as a driver receives it.
type Deployment struct {
	// Action is release, deploy, promote or rollback.
	Action   string `json:"action"`
	Pipeline string `json:"pipeline"`
	// From is the stage a promotion comes from; empty for other actions.
	From string `json:"from"`
	// Stage is the stage that changes.
	Stage   string `json:"stage"`
	Version string `json:"version"`
	Commit  string `json:"commit"`
	// Branch is the branch a deploy builds.
	Branch string `json:"branch,omitempty"`
	// Repo is the pipeline's repository (owner/name), when it names one.
	Repo string `json:"repo,omitempty"`
	// Actor is the person the change runs for.
	Actor string `json:"actor"`
	// JobID is the command's job id: the idempotency key of the deployment.
	JobID string `json:"job_id"`
	// Force says the person forced the change past a lock or failing
	// checks, and may.
	Force bool `json:"force,omitempty"`
	// Ref is the driver's own reference of the release the change brings
	// back (a rollback) or carries on (a promotion): what Deployed.Ref said
	// when that release was deployed. Empty when it is not known.
	Ref string `json:"ref,omitempty"`
	// Previous is the version the stage runs before the change.
	Previous string `json:"previous,omitempty"`
}

// Deployed is what a driver reports of a change that succeeded.
type Deployed struct {
	// Ref is the deploying system's own id of what it deployed (a Heroku
	// release, a GitHub deployment), kept with the release in the ledger
	// so that a later rollback can name it.
	Ref string `json:"ref,omitempty"`
	// URL points at the deployment in the deploying system.
	URL string `json:"url,omitempty"`
	// Message is what the driver said of it, if anything.
	Message string `json:"message,omitempty"`
}

// DriverError is a deployment that failed: the driver's message and the last
// lines of its log, which the person is told.
type DriverError struct {
	// Driver names the driver (exec, http, heroku, github).
	Driver string
	// Msg says what failed.
	Msg string
	// Log holds the last lines the driver saw.
	Log []string
	// Err is the cause, if any.
	Err error
	// Unknown says the change may have been made: the driver had started
	// it (a request sent, a program run) when it lost sight of it, by a
	// deadline, a cancellation or a connection that did not come back.
	// The stage is then marked unknown, as when a worker dies mid-deploy.
	Unknown bool
}

func (e *DriverError) Error() string { return e.Driver + " driver: " + e.Msg }

func (e *DriverError) Unwrap() error { return e.Err }

// DeployConfig says how a change reaches one stage: by at most one driver.
type DeployConfig struct {
	Exec   *ExecConfig       `yaml:"exec"`
	HTTP   *HTTPDriverConfig `yaml:"http"`
	Heroku *HerokuConfig     `yaml:"heroku"`
	GitHub *GitHubConfig     `yaml:"github"`
}

// Kind names the driver the stage uses, or "" for none.
func (d DeployConfig) Kind() string {
	switch {
	case d.Exec != nil:
		return "exec"
	case d.HTTP != nil:
		return "http"
	case d.Heroku != nil:
		return "heroku"
	case d.GitHub != nil:
		return "github"
	}
	return ""
}

// HTTPDriverConfig posts each change, signed, to a URL.
type HTTPDriverConfig struct {
	URL string `yaml:"url"`
	// SecretEnv names the environment variable holding the HMAC key.
	SecretEnv string `yaml:"secret_env"`
	// Timeout bounds the whole deployment, polling included.
	Timeout time.Duration `yaml:"timeout"`
}

// HerokuConfig promotes and rolls back through Heroku's Platform API.
type HerokuConfig struct {
	// App is the stage's Heroku app, by name or id.
	App string `yaml:"app"`
	// Pipeline is the Heroku pipeline's id.
	Pipeline string `yaml:"pipeline"`
	// TokenEnv names the environment variable holding the API token.
	TokenEnv string `yaml:"token_env"`
	// Timeout bounds the whole deployment, polling included.
	Timeout time.Duration `yaml:"timeout"`
}

// GitHubConfig deploys through GitHub's Deployments API, in the pipeline's
// repository.
type GitHubConfig struct {
	// Environment is the GitHub environment; the stage's name when empty.
	Environment string `yaml:"environment"`
	// TokenEnv names the environment variable holding the API token.
	TokenEnv string `yaml:"token_env"`
	// Timeout bounds the whole deployment, polling included.
	Timeout time.Duration `yaml:"timeout"`
}

// Getenv reads the environment: os.Getenv, or a test's own.
type Getenv func(key string) string
