package engine

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// validateDeploy checks a pipeline's repo and deploy keys: each names a stage
// of the pipeline and exactly one driver, with what that driver needs.
func (c *Config) validateDeploy(key string, p *PipelineConfig) error {
	if p.Repo != "" {
		owner, name, ok := strings.Cut(p.Repo, "/")
		if !ok || owner == "" || name == "" || strings.ContainsAny(name, "/ ") {
			return c.errorf(key+".repo", "repo %q: give the GitHub repository as owner/name", p.Repo)
		}
	}
	for _, stage := range deployStages(p) {
		d := p.Deploy[stage]
		dkey := key + ".deploy." + stage
		i := stageIndex(p, stage)
		if i < 0 {
			return c.errorf(dkey, "unknown stage %q under deploy of %s; stages: %s", stage, p.Name, strings.Join(p.Stages, ", "))
		}
		var kinds []string
		for _, k := range []struct {
			name string
			set  bool
		}{{"exec", d.Exec != nil}, {"http", d.HTTP != nil}, {"heroku", d.Heroku != nil}, {"github", d.GitHub != nil}} {
			if k.set {
				kinds = append(kinds, k.name)
			}
		}
		switch len(kinds) {
		case 0:
			return c.errorf(dkey, "stage %s of %s names no driver; give one of exec, http, heroku, github", stage, p.Name)
		case 1:
		default:
			return c.errorf(dkey, "stage %s of %s names %d drivers (%s); give one", stage, p.Name, len(kinds), strings.Join(kinds, ", "))
		}
		dkey += "." + kinds[0]
		switch {
		case d.Exec != nil:
			if len(d.Exec.Argv) == 0 {
				return c.errorf(dkey, "the exec driver of %s %s needs argv", p.Name, stage)
			}
			if d.Exec.Timeout < 0 {
				return c.errorf(dkey+".timeout", "timeout must not be negative")
			}
		case d.HTTP != nil:
			u, err := url.Parse(d.HTTP.URL)
			if d.HTTP.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return c.errorf(dkey, "the http driver of %s %s needs url, an absolute http or https URL (got %q)", p.Name, stage, d.HTTP.URL)
			}
			if d.HTTP.SecretEnv == "" {
				return c.errorf(dkey, "the http driver of %s %s needs secret_env: the environment variable that holds its signing key", p.Name, stage)
			}
			if d.HTTP.Timeout < 0 {
				return c.errorf(dkey+".timeout", "timeout must not be negative")
			}
		case d.Heroku != nil:
			if d.Heroku.App == "" {
				return c.errorf(dkey, "the heroku driver of %s %s needs app", p.Name, stage)
			}
			if d.Heroku.TokenEnv == "" {
				return c.errorf(dkey, "the heroku driver of %s %s needs token_env: the environment variable that holds the API token", p.Name, stage)
			}
			if i > 0 && d.Heroku.Pipeline == "" {
				return c.errorf(dkey, "the heroku driver of %s %s needs pipeline, the Heroku pipeline's id, to promote into %s", p.Name, stage, stage)
			}
			if d.Heroku.Timeout < 0 {
				return c.errorf(dkey+".timeout", "timeout must not be negative")
			}
		case d.GitHub != nil:
			if p.Repo == "" {
				return c.errorf(dkey, "the github driver of %s %s needs the pipeline's repo (owner/name)", p.Name, stage)
			}
			if d.GitHub.TokenEnv == "" {
				return c.errorf(dkey, "the github driver of %s %s needs token_env: the environment variable that holds the API token", p.Name, stage)
			}
			if d.GitHub.Timeout < 0 {
				return c.errorf(dkey+".timeout", "timeout must not be negative")
			}
		}
	}
	return nil
}

// deployStages returns the stages under a pipeline's deploy key, in the
// pipeline's order (unknown ones last), so errors come in a stable order.
func deployStages(p *PipelineConfig) []string {
	stages := make([]string, 0, len(p.Deploy))
	for s := range p.Deploy {
		stages = append(stages, s)
	}
	sort.Slice(stages, func(a, b int) bool {
		ia, ib := stageIndex(p, stages[a]), stageIndex(p, stages[b])
		if ia < 0 || ib < 0 {
			if ia == ib {
				return stages[a] < stages[b]
			}
			return ib < 0
		}
		return ia < ib
	})
	return stages
}

// MinSecretLen is the shortest secret a driver takes: Heroku's and GitHub's
// tokens are longer, and an HMAC key should be.
const MinSecretLen = 16

// CheckEnv reports, with file and line, every secret the config's drivers
// name whose environment variable is unset, empty or shorter than
// MinSecretLen. It never prints a value.
func (c *Config) CheckEnv(getenv Getenv) error {
	var msgs []string
	for i := range c.Pipelines {
		p := &c.Pipelines[i]
		for _, stage := range deployStages(p) {
			d := p.Deploy[stage]
			var field, env string
			switch {
			case d.HTTP != nil:
				field, env = "http.secret_env", d.HTTP.SecretEnv
			case d.Heroku != nil:
				field, env = "heroku.token_env", d.Heroku.TokenEnv
			case d.GitHub != nil:
				field, env = "github.token_env", d.GitHub.TokenEnv
			default:
				continue
			}
			key := fmt.Sprintf("pipelines.%d.deploy.%s.%s", i, stage, field)
			driver := strings.Split(field, ".")[0]
			switch v := getenv(env); {
			case v == "":
				msgs = append(msgs, fmt.Sprintf("%s: %s is not set: the %s driver of %s %s reads its secret from it", c.at(key), env, driver, p.Name, stage))
			case len(v) < MinSecretLen:
				// No real token is this short, and a key this short is
				// guessed; redacting it from output would mangle words.
				msgs = append(msgs, fmt.Sprintf("%s: %s holds %d characters: the %s driver of %s %s needs a secret of at least %d (openssl rand -hex 32 makes one)",
					c.at(key), env, len(v), driver, p.Name, stage, MinSecretLen))
			}
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return &Error{Code: Invalid, Msg: strings.Join(msgs, "\n")}
}
