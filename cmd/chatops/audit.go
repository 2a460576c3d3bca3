package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chatops/chatops/adapters/terminal"
	"github.com/chatops/chatops/engine"
)

// AuditCmd reads the audit stream.
type AuditCmd struct {
	Pipeline string    `help:"Only commands on this pipeline." placeholder:"NAME"`
	Since    sinceFlag `help:"Only commands from this long ago (e.g. 24h, 7d) or since this time (e.g. 2006-01-02, or RFC 3339)." placeholder:"DURATION|TIME"`
	Limit    int       `help:"At most this many records, the newest (not with --export)." default:"100"`
	Export   bool      `help:"Write every record as NDJSON (one JSON object a line) to stdout, in the order they were stored, for archiving."`

	now func() time.Time // time.Now when nil
}

// Run prints the records, oldest first, or exports them all.
func (a *AuditCmd) Run(e *env) error {
	eng, closeEngine, err := e.openEngine()
	if err != nil {
		return err
	}
	defer closeEngine()
	now := a.now
	if now == nil {
		now = time.Now
	}
	q := engine.AuditQuery{Pipeline: a.Pipeline, Limit: a.Limit, Since: a.Since.from(now())}
	if a.Export {
		return exportAudit(e, eng.Audit, q)
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

// exportAudit writes every record q selects to stdout as it reads them, one
// JSON object a line, whatever --output says: the format of an archive.
func exportAudit(e *env, log engine.AuditLog, q engine.AuditQuery) error {
	w := bufio.NewWriter(e.stdout)
	enc := json.NewEncoder(w)
	err := log.Export(e.ctx, q, func(r *engine.AuditRecord) error { return enc.Encode(r) })
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	return err
}

// sinceFlag is --since: a duration back from now, or a time.
type sinceFlag struct {
	ago time.Duration
	at  time.Time
}

// sinceLayouts are the times --since takes, besides durations.
var sinceLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02"}

// UnmarshalText parses a duration (24h, 90m, or days: 7d) or a time in one
// of sinceLayouts (local time unless it says its zone).
func (s *sinceFlag) UnmarshalText(b []byte) error {
	v := strings.TrimSpace(string(b))
	if days, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.ParseUint(days, 10, 16); err == nil {
			*s = sinceFlag{ago: time.Duration(n) * 24 * time.Hour}
			return nil
		}
	}
	if d, err := time.ParseDuration(v); err == nil {
		if d < 0 {
			return fmt.Errorf("%q is negative: give how long ago, e.g. 24h", v)
		}
		*s = sinceFlag{ago: d}
		return nil
	}
	for _, layout := range sinceLayouts {
		if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
			*s = sinceFlag{at: t}
			return nil
		}
	}
	return fmt.Errorf("%q is neither a duration (24h, 90m, 7d) nor a time (2006-01-02, 2006-01-02 15:04, or RFC 3339 as 2006-01-02T15:04:05Z)", v)
}

// from is the time the flag means at now; zero when it was not given.
func (s sinceFlag) from(now time.Time) time.Time {
	if s.ago > 0 {
		return now.Add(-s.ago)
	}
	return s.at
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
