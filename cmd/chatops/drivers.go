package main

import (
	"context"
	"os"

	"github.com/chatops/chatops/adapters/exec"
	"github.com/chatops/chatops/adapters/github"
	"github.com/chatops/chatops/adapters/heroku"
	httpdriver "github.com/chatops/chatops/adapters/http"
	"github.com/chatops/chatops/engine"
)

// buildDrivers builds the driver of every stage the config gives one. With
// strict, a secret whose variable is unset is an error naming file and line;
// otherwise that stage's driver refuses each change with that error, so a
// command that reaches no such stage is not held up by it.
func buildDrivers(cfg *engine.Config, strict bool) (map[engine.StageKey]engine.Driver, error) {
	envErr := cfg.CheckEnv(os.Getenv)
	if strict && envErr != nil {
		return nil, envErr
	}
	drivers := map[engine.StageKey]engine.Driver{}
	for i := range cfg.Pipelines {
		pc := &cfg.Pipelines[i]
		for stage, d := range pc.Deploy {
			var (
				drv engine.Driver
				err error
			)
			switch d.Kind() {
			case "exec":
				drv = exec.NewDriver(pc, stage, cfg.Dir())
			case "http":
				drv, err = httpdriver.New(pc, stage, os.Getenv)
			case "heroku":
				drv, err = heroku.New(pc, stage, os.Getenv)
			case "github":
				drv, err = github.New(pc, stage, os.Getenv)
			default:
				err = &engine.Error{Code: engine.Invalid, Msg: "the " + d.Kind() + " driver is not built into this chatops"}
			}
			if err != nil {
				if strict {
					return nil, err
				}
				drv = refusing{err: envErr}
				if envErr == nil {
					drv = refusing{err: err}
				}
			}
			drivers[engine.StageKey{Pipeline: pc.Name, Stage: stage}] = drv
		}
	}
	return drivers, nil
}

// refusing is the driver of a stage whose driver could not be built: it
// refuses every change, saying why.
type refusing struct{ err error }

func (r refusing) Deploy(context.Context, *engine.Deployment, func(string)) (*engine.Deployed, error) {
	return nil, &engine.Error{Code: engine.Invalid, Msg: engine.ErrorMessage(r.err), Err: r.err}
}
