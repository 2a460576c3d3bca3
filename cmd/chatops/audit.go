package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/chatops/chatops/adapters/terminal"
	"github.com/chatops/chatops/engine"
)

// AuditCmd reads the audit stream.
type AuditCmd struct {
	Pipeline string        `help:"Only commands on this pipeline." placeholder:"NAME"`
	Since    time.Duration `help:"Only commands from this long ago (e.g. 24h)." placeholder:"DURATION"`
	Limit    int           `help:"At most this many records, the newest." default:"100"`
}

// Run prints the records, oldest first.
func (a *AuditCmd) Run(e *env) error {
	eng, closeEngine, err := e.openEngine()
	if err != nil {
		return err
	}
	defer closeEngine()
	q := engine.AuditQuery{Pipeline: a.Pipeline, Limit: a.Limit}
	if a.Since > 0 {
		q.Since = time.Now().Add(-a.Since)
	}
	recs, err := eng.Audit.Read(e.ctx, q)
	if err != nil {
		return err
	}
	res := &engine.Result{Title: "Audit", Data: recs,
		Columns: []string{"WHEN", "ACTOR", "SOURCE", "DECISION", "OUTCOME", "COMMAND", "RULE"}}
	for _, r := range recs {
		actor := r.Actor
		switch {
		case r.By != "":
			actor += " (by " + r.By + ")"
		case r.As != "":
			actor += " (as " + r.As + ")"
		}
		res.Rows = append(res.Rows, []string{r.At.UTC().Format("2006-01-02 15:04:05"), actor, r.Source, r.Decision, r.Outcome, r.Command, r.Rule})
	}
	if len(recs) == 0 {
		res.Text = "No commands recorded" + strings.TrimSuffix(" for "+a.Pipeline, " for ") + "."
		res.Data = []engine.AuditRecord{}
	}
	if e.globals.Output == "json" {
		return terminal.RenderJSON(e.stdout, res)
	}
	return terminal.Render(e.stdout, res, e.style)
}

// ConfigCmd checks the config file.
type ConfigCmd struct {
	Check ConfigCheckCmd `cmd:"" help:"Validate the config file and say what it declares."`
}

// ConfigCheckCmd validates the config.
type ConfigCheckCmd struct{}

// Run loads the config; errors name file:line and exit 2.
func (ConfigCheckCmd) Run(e *env) error {
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	if _, err := buildDrivers(cfg, true); err != nil {
		return err
	}
	res := &engine.Result{Title: cfg.Path + ": ok", Fields: []engine.Field{
		{Name: "Pipelines", Value: count(len(cfg.Pipelines))},
		{Name: "Users", Value: count(len(cfg.Users))},
		{Name: "Groups", Value: count(len(cfg.Groups))},
		{Name: "Custom commands", Value: count(len(cfg.Commands))},
	}, Data: map[string]any{"path": cfg.Path, "ok": true}}
	if e.globals.Output == "json" {
		return terminal.RenderJSON(e.stdout, res)
	}
	return terminal.Render(e.stdout, res, e.style)
}

func count(n int) string {
	if n == 0 {
		return "none"
	}
	return strconv.Itoa(n)
}
