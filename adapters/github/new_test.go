package github_test

import (
	"testing"
	"time"

	"github.com/chatops/chatops/adapters/github"
	"github.com/chatops/chatops/engine"
)

func TestNew(t *testing.T) {
	full := map[string]string{"GITHUB_TOKEN": token}
	for _, tc := range []struct {
		name  string
		edit  func(*engine.PipelineConfig)
		env   map[string]string
		stage string
		msg   string // the Invalid error's message; "" for success
		check func(*testing.T, *github.Driver)
	}{
		{
			name: "defaults",
			env:  full,
			check: func(t *testing.T, d *github.Driver) {
				if d.BaseURL != "https://api.github.com" || d.Repo != "acme/shop" || d.Environment != "production" ||
					d.Token != token || d.TokenEnv != "GITHUB_TOKEN" || d.Timeout != 10*time.Minute ||
					d.PollInterval != 2*time.Second || d.RequestTimeout != 30*time.Second ||
					d.CheckRetry == nil || d.Backoff == nil || d.After == nil || d.Logger == nil || d.RetryMax == 0 {
					t.Errorf("defaults not filled: %+v", d)
				}
			},
		},
		{
			name: "enterprise URL, own token variable and timeout",
			edit: func(pc *engine.PipelineConfig) {
				pc.Deploy["production"] = engine.DeployConfig{GitHub: &engine.GitHubConfig{TokenEnv: "GHE_TOKEN", Timeout: time.Minute}}
			},
			env: map[string]string{"GHE_TOKEN": token, "CHATOPS_GITHUB_API_URL": "https://ghe.example.com/api/v3"},
			check: func(t *testing.T, d *github.Driver) {
				if d.BaseURL != "https://ghe.example.com/api/v3" || d.TokenEnv != "GHE_TOKEN" || d.Timeout != time.Minute || d.Environment != "" {
					t.Errorf("got %+v", d)
				}
			},
		},
		{
			name: "no repo",
			edit: func(pc *engine.PipelineConfig) { pc.Repo = "" },
			env:  full,
			msg:  `pipeline "shop": the github driver of stage "production" needs the pipeline's repo (owner/name)`,
		},
		{
			name: "bad repo",
			edit: func(pc *engine.PipelineConfig) { pc.Repo = "shop" },
			env:  full,
			msg:  `pipeline "shop": repo "shop" is not owner/name`,
		},
		{
			name: "token unset",
			env:  map[string]string{},
			msg:  `pipeline "shop": stage "production" deploys through GitHub but $GITHUB_TOKEN, which holds the token, is unset or empty`,
		},
		{
			name: "named token empty",
			edit: func(pc *engine.PipelineConfig) {
				pc.Deploy["production"] = engine.DeployConfig{GitHub: &engine.GitHubConfig{TokenEnv: "DEPLOY_TOKEN"}}
			},
			env: map[string]string{"DEPLOY_TOKEN": "", "GITHUB_TOKEN": token},
			msg: `pipeline "shop": stage "production" deploys through GitHub but $DEPLOY_TOKEN, which holds the token, is unset or empty`,
		},
		{
			name: "bad base URL",
			env:  map[string]string{"GITHUB_TOKEN": token, "CHATOPS_GITHUB_API_URL": "ghe.example.com"},
			msg:  `$CHATOPS_GITHUB_API_URL="ghe.example.com" is not an http(s) URL such as https://github.example.com/api/v3`,
		},
		{
			name:  "stage without github config",
			env:   full,
			stage: "staging",
			msg:   `pipeline "shop": stage "staging" has no github deploy config`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pc := pipeline()
			if tc.edit != nil {
				tc.edit(pc)
			}
			stage := tc.stage
			if stage == "" {
				stage = "production"
			}
			d, err := github.New(pc, stage, func(k string) string { return tc.env[k] })
			if tc.msg != "" {
				if engine.ErrorCode(err) != engine.Invalid || engine.ErrorMessage(err) != tc.msg {
					t.Fatalf("err = %v (%s), want invalid:\n%s", err, engine.ErrorCode(err), tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, d)
		})
	}
}
