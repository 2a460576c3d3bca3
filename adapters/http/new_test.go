package http_test

import (
	"log/slog"
	"testing"
	"time"

	chatopshttp "github.com/chatops/chatops/adapters/http"
	"github.com/chatops/chatops/engine"
)

func TestNew(t *testing.T) {
	pc := pipeline("https://deploy.example.com/hook")
	pc.Deploy["production"].HTTP.Timeout = 3 * time.Minute
	d, err := chatopshttp.New(pc, "production", env("SHOP_DEPLOY_SECRET", secret))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if d.URL != "https://deploy.example.com/hook" || string(d.Secret) != secret || d.SecretEnv != "SHOP_DEPLOY_SECRET" {
		t.Errorf("URL, Secret, SecretEnv = %q, %q, %q", d.URL, d.Secret, d.SecretEnv)
	}
	if d.Pipeline != "shop" || d.Stage != "production" {
		t.Errorf("Pipeline, Stage = %q, %q, want shop, production", d.Pipeline, d.Stage)
	}
	if d.Timeout != 3*time.Minute || d.RequestTimeout != chatopshttp.DefaultRequestTimeout || d.PollInterval != 2*time.Second {
		t.Errorf("Timeout, RequestTimeout, PollInterval = %s, %s, %s", d.Timeout, d.RequestTimeout, d.PollInterval)
	}
	if d.CheckRetry == nil || d.Backoff == nil || d.After == nil || d.Now == nil || d.Logger != slog.Default() {
		t.Error("New left a policy, the clock or the logger unset")
	}
	if d.RetryWaitMin != time.Second || d.RetryWaitMax != 30*time.Second || d.RetryMax != chatopshttp.DefaultRetryMax {
		t.Errorf("retry waits %s..%s, max %d", d.RetryWaitMin, d.RetryWaitMax, d.RetryMax)
	}

	d, err = chatopshttp.New(pipeline("https://deploy.example.com/hook"), "production", env("SHOP_DEPLOY_SECRET", secret))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if d.Timeout != chatopshttp.DefaultTimeout {
		t.Errorf("Timeout = %s, want the default %s", d.Timeout, chatopshttp.DefaultTimeout)
	}

	d, err = chatopshttp.New(pipeline("${SHOP_HOOK_URL}"), "production", env("SHOP_DEPLOY_SECRET", secret, "SHOP_HOOK_URL", "https://deploy.example.com/h?token="+queryToken))
	if err != nil {
		t.Fatalf("New with the URL from the environment: %v", err)
	}
	if d.URL != "https://deploy.example.com/h?token="+queryToken {
		t.Errorf("URL = %q, want the variable's", d.URL)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name   string
		url    string
		stage  string
		getenv engine.Getenv
		msg    string
	}{
		{name: "secret unset", url: "https://deploy.example.com/hook", stage: "production", getenv: env(),
			msg: `pipeline "shop": stage "production" deploys through a signed webhook but $SHOP_DEPLOY_SECRET, which holds the signing secret, is unset or empty`},
		{name: "secret empty", url: "https://deploy.example.com/hook", stage: "production", getenv: env("SHOP_DEPLOY_SECRET", ""),
			msg: `pipeline "shop": stage "production" deploys through a signed webhook but $SHOP_DEPLOY_SECRET, which holds the signing secret, is unset or empty`},
		{name: "no http config", url: "https://deploy.example.com/hook", stage: "staging", getenv: env("SHOP_DEPLOY_SECRET", secret),
			msg: `pipeline "shop": stage "staging" has no http deploy config`},
		{name: "no URL", url: "", stage: "production", getenv: env("SHOP_DEPLOY_SECRET", secret),
			msg: `pipeline "shop": the http driver of stage "production" needs its URL (deploy.production.http.url)`},
		{name: "not http", url: "deploy.example.com/hook?token=" + queryToken, stage: "production", getenv: env("SHOP_DEPLOY_SECRET", secret),
			msg: `pipeline "shop": the http driver of stage "production": "deploy.example.com/hook?…" is not an http(s) URL such as https://deploy.example.com/hook`},
		{name: "URL variable unset", url: "$SHOP_HOOK_URL", stage: "production", getenv: env("SHOP_DEPLOY_SECRET", secret),
			msg: `pipeline "shop": the http driver of stage "production" reads its URL from $SHOP_HOOK_URL, which is unset or empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := chatopshttp.New(pipeline(tt.url), tt.stage, tt.getenv)
			if code := engine.ErrorCode(err); code != engine.Invalid {
				t.Fatalf("New = %v (code %q), want an invalid error", err, code)
			}
			if err.Error() != tt.msg {
				t.Errorf("error\n got %s\nwant %s", err, tt.msg)
			}
			noSecrets(t, "error", err.Error())
		})
	}
	t.Run("no secret_env", func(t *testing.T) {
		pc := pipeline("https://deploy.example.com/hook")
		pc.Deploy["production"].HTTP.SecretEnv = ""
		_, err := chatopshttp.New(pc, "production", env())
		want := `pipeline "shop": the http driver of stage "production" needs the variable holding its signing secret (deploy.production.http.secret_env)`
		if engine.ErrorCode(err) != engine.Invalid || err.Error() != want {
			t.Errorf("New = %v, want %s", err, want)
		}
	})
}
