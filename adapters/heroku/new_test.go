package heroku_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/chatops/chatops/adapters/heroku"
	"github.com/chatops/chatops/engine"
)

func pipeline() *engine.PipelineConfig {
	return &engine.PipelineConfig{
		Name:   "shop",
		Stages: []string{"development", "staging", "production"},
		Deploy: map[string]engine.DeployConfig{
			"development": {Exec: &engine.ExecConfig{Argv: []string{"./deploy.sh"}}},
			"staging":     {Heroku: &engine.HerokuConfig{App: "web-staging", Pipeline: pipelineID}},
			"production":  {Heroku: &engine.HerokuConfig{App: "web-production", Pipeline: pipelineID, TokenEnv: "SHOP_HEROKU_TOKEN", Timeout: 5 * time.Minute}},
		},
	}
}

func env(kv ...string) engine.Getenv {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestNew(t *testing.T) {
	d, err := heroku.New(pipeline(), "production", env("SHOP_HEROKU_TOKEN", token, "CHATOPS_HEROKU_API_URL", "http://127.0.0.1:9/"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Token != token || d.TokenEnv != "SHOP_HEROKU_TOKEN" || d.BaseURL != "http://127.0.0.1:9/" ||
		d.App != "web-production" || d.HerokuPipeline != pipelineID || d.Pipeline != "shop" || d.Timeout != 5*time.Minute {
		t.Errorf("New = %+v", d)
	}
	if want := map[string]string{"staging": "web-staging", "production": "web-production"}; !reflect.DeepEqual(d.Apps, want) {
		t.Errorf("Apps = %v, want %v", d.Apps, want)
	}
	if d.PollInterval != 2*time.Second || d.RequestTimeout != 30*time.Second || d.After == nil || d.Logger == nil ||
		d.CheckRetry == nil || d.Backoff == nil || d.RetryMax != heroku.DefaultRetryMax {
		t.Errorf("New left defaults empty: %+v", d)
	}

	d, err = heroku.New(pipeline(), "staging", env("HEROKU_API_KEY", token))
	if err != nil {
		t.Fatal(err)
	}
	if d.BaseURL != heroku.DefaultBaseURL || d.Timeout != heroku.DefaultTimeout || d.TokenEnv != "HEROKU_API_KEY" {
		t.Errorf("New(staging) = %+v", d)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name   string
		stage  string
		getenv engine.Getenv
		msg    string
	}{
		{"token unset", "production", env(),
			`pipeline "shop": stage "production" deploys through Heroku but $SHOP_HEROKU_TOKEN, which holds the API token, is unset or empty`},
		{"token empty", "staging", env("HEROKU_API_KEY", ""),
			`pipeline "shop": stage "staging" deploys through Heroku but $HEROKU_API_KEY, which holds the API token, is unset or empty`},
		{"no heroku config", "development", env("HEROKU_API_KEY", token),
			`pipeline "shop": stage "development" has no heroku deploy config`},
		{"bad base URL", "staging", env("HEROKU_API_KEY", token, "CHATOPS_HEROKU_API_URL", "api.heroku.com"),
			`$CHATOPS_HEROKU_API_URL="api.heroku.com" is not an http(s) URL such as https://api.heroku.com`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := heroku.New(pipeline(), tt.stage, tt.getenv)
			if engine.ErrorCode(err) != engine.Invalid || err.Error() != tt.msg {
				t.Errorf("New = %v (code %q)\nwant invalid %q", err, engine.ErrorCode(err), tt.msg)
			}
		})
	}
}
