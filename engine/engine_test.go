package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	natsadapter "github.com/chatops/chatops/adapters/nats"
	"github.com/chatops/chatops/engine"
)

// newEngine returns an engine over an embedded JetStream in a temporary dir.
func newEngine(t testing.TB, cfg *engine.Config) *engine.Engine {
	t.Helper()
	conn, err := natsadapter.Open(context.Background(), natsadapter.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	e, err := engine.New(cfg, conn.Store, conn.Audit, conn.Jobs)
	if err != nil {
		t.Fatal(err)
	}
	e.History = conn.History
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	e.Now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second)
		return now
	}
	return e
}

func terminal(e *engine.Engine, who string) engine.Context {
	return engine.Context{Actor: e.Identify(engine.SourceTerminal, who), Confirmed: true}
}

func TestDemoPromote(t *testing.T) {
	e := newEngine(t, engine.DemoConfig())
	ctx := context.Background()
	res, err := e.ExecLine(ctx, terminal(e, "alice"), "promote demo")
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != "Promoted demo 1.2.0 from staging to production." {
		t.Errorf("promote said %q", res.Text)
	}
	res, err = e.ExecLine(ctx, terminal(e, "alice"), "info demo")
	if err != nil {
		t.Fatal(err)
	}
	v := res.Data.(engine.PipelineView)
	if got := v.Stages[2]; got.Name != "production" || got.Version != "1.2.0" {
		t.Errorf("production after promote: %+v", got)
	}
}

func TestPolicy(t *testing.T) {
	cfg, err := engine.ParseConfig("chatops.yaml", []byte(`
pipelines:
  - name: web
    stages: [staging, production]
    seed: {staging: 1.1.0, production: 1.0.0}
users:
  - {name: alice, login: alice, groups: [deployers]}
  - {name: bob, login: bob, slack: U2}
  - {name: root, login: root, groups: [admins, deployers]}
groups: [deployers, admins]
policy:
  commands:
    - command: lock
      groups: [deployers]
  stages:
    - stage: production
      groups: [deployers]
      confirm: true
  force: [admins]
`))
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, cfg)
	ctx := context.Background()
	tests := []struct {
		who, line string
		confirmed bool
		code      engine.Code
		msg       string
	}{
		{"bob", "promote web", true, engine.Denied, "bob may not change production: that needs group deployers (policy.stages[0] at chatops.yaml:16)"},
		{"bob", "lock web", true, engine.Denied, "bob may not run lock (policy.commands[0] at chatops.yaml:13)"},
		{"alice", "promote web", false, engine.Invalid, "Promote web from staging to production needs confirmation (policy.stages[0] at chatops.yaml:16)"},
		{"alice", "lock web production --reason freeze", true, "", "Locked web production."},
		{"alice", "promote web", true, engine.Conflict, "web production is locked by alice since 2026-11-24T12:00:"},
		{"alice", "promote! web", true, engine.Denied, "alice may not force promote with !: forcing needs group admins (policy.force at chatops.yaml:19)"},
		{"root", "promote! web", true, "", "Promoted web 1.1.0 from staging to production."},
		{"alice", "promote web to staging", true, engine.Invalid, "staging is the first stage of web: say which stage to promote from"},
		{"alice", "info nosuch", true, engine.NotFound, `no pipeline "nosuch"; pipelines: web`},
		{"alice", "rollback web in staging to 9.9.9", true, engine.NotFound, "web never ran 9.9.9 in staging"},
		{"U2", "whoami", true, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.who+" "+tt.line, func(t *testing.T) {
			c := terminal(e, tt.who)
			c.Confirmed = tt.confirmed
			res, err := e.ExecLine(ctx, c, tt.line)
			if engine.ErrorCode(err) != tt.code {
				t.Fatalf("code %q, want %q (%v)", engine.ErrorCode(err), tt.code, err)
			}
			got := ""
			if err != nil {
				got = err.Error()
			} else {
				got = res.Text
			}
			if len(got) < len(tt.msg) || got[:len(tt.msg)] != tt.msg {
				t.Errorf("said %q\nwant %q", got, tt.msg)
			}
		})
	}
	recs, err := e.Audit.Read(ctx, engine.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(tests) {
		t.Fatalf("%d audit records for %d commands", len(recs), len(tests))
	}
	if r := recs[0]; r.Actor != "bob" || r.Decision != "denied" || r.Outcome != "denied" || r.Command != "promote web" || r.Rule == "" {
		t.Errorf("first record: %+v", r)
	}
	if r := recs[6]; r.Actor != "root" || r.Decision != "allowed" || r.Outcome != "ok" || r.Command != "promote! web" {
		t.Errorf("forced promote record: %+v", r)
	}
	if r := recs[10]; r.Actor != "bob" {
		t.Errorf("U2 resolved to %q, want bob", r.Actor)
	}
	web, err := e.Audit.Read(ctx, engine.AuditQuery{Pipeline: "web"})
	if err != nil || len(web) != len(tests)-2 {
		t.Errorf("audit of web: %d records, %v", len(web), err)
	}
}

// TestConcurrentChanges runs 50 commands at once on one pipeline and checks the
// ledger: every successful change is in the history, in one sequence.
func TestConcurrentChanges(t *testing.T) {
	cfg, err := engine.ParseConfig("chatops.yaml", []byte(`
pipelines:
  - name: app
    stages: [development, staging, production]
    seed: {development: 1.0.0, staging: 1.0.0, production: 1.0.0}
`))
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, cfg)
	ctx := context.Background()
	var lines []string
	for i := range 50 {
		switch i % 5 {
		case 0, 1:
			lines = append(lines, fmt.Sprintf("release app 2.0.%d to development", i))
		case 2, 3:
			lines = append(lines, "promote app from development to staging")
		case 4:
			lines = append(lines, "rollback app in staging")
		}
	}
	type outcome struct {
		line string
		err  error
		text string
	}
	out := make([]outcome, len(lines))
	var wg sync.WaitGroup
	for i, l := range lines {
		wg.Go(func() {
			res, err := e.ExecLine(ctx, terminal(e, "alice"), l)
			out[i] = outcome{line: l, err: err}
			if err == nil {
				out[i].text = res.Text
			}
		})
	}
	wg.Wait()

	changes := 0
	released := map[string]bool{}
	for _, o := range out {
		switch code := engine.ErrorCode(o.err); {
		case o.err == nil && o.text != "" && !contains(o.text, "already runs"):
			changes++
			if v, ok := cutBetween(o.line, "release app ", " to"); ok {
				released[v] = true
			}
		case o.err == nil, code == engine.Conflict:
			// nothing to do, or nothing to roll back to: no change
		default:
			t.Errorf("%s: %v", o.line, o.err)
		}
	}
	if len(released) != 20 {
		t.Errorf("%d releases succeeded, want all 20", len(released))
	}
	st, _, err := e.Store.Load(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if int(st.Seq) != changes {
		t.Errorf("ledger counts %d changes, the commands made %d", st.Seq, changes)
	}
	// The full history (beyond the ledger's recent releases) has every change once.
	full := map[string][]engine.Release{}
	total := 0
	for _, slot := range []string{"development", "staging", "production"} {
		full[slot], err = e.History.List(ctx, "app", slot, 1000)
		if err != nil {
			t.Fatal(err)
		}
		total += len(full[slot])
	}
	if total != changes {
		t.Errorf("the history holds %d releases, the commands made %d changes", total, changes)
	}
	seen := map[string]int{}
	for _, r := range full["development"] {
		seen[r.Version]++
	}
	for v := range released {
		if seen[v] != 1 {
			t.Errorf("release %s is in development's history %d times", v, seen[v])
		}
	}
	// The history is in ledger order: the ledger's recent releases of each
	// slot are the newest of the full history, in the same order. (The
	// history stream used to be appended after the ledger, out of order.)
	for _, slot := range []string{"development", "staging", "production"} {
		recent := st.Slots[slot].History // oldest first, seed releases too
		for k := 0; k < len(recent) && k < len(full[slot]); k++ {
			h, l := full[slot][k], recent[len(recent)-1-k] // both the k-th newest
			if h.Version != l.Version || !h.At.Equal(l.At) || h.Action != l.Action {
				t.Errorf("%s: the history's #%d newest is %s %s, the ledger's %s %s", slot, k, h.Action, h.Version, l.Action, l.Version)
				break
			}
		}
	}
	// Every release promoted into staging ran in development first.
	for _, r := range full["staging"] {
		if r.Action == "promote" && seen[r.Version] == 0 && r.Version != "1.0.0" {
			t.Errorf("staging got %s, which development never ran", r.Version)
		}
	}
	recs, err := e.Audit.Read(ctx, engine.AuditQuery{Pipeline: "app"})
	if err != nil || len(recs) != len(lines) {
		t.Errorf("audit holds %d records for %d commands (%v)", len(recs), len(lines), err)
	}
}

// TestReleasesBeyondLedger lists more releases than the ledger keeps: the rest
// come from the history stream.
func TestReleasesBeyondLedger(t *testing.T) {
	e := newEngine(t, engine.DemoConfig())
	ctx := context.Background()
	for i := range 30 {
		if _, err := e.ExecLine(ctx, terminal(e, "alice"), fmt.Sprintf("release demo 2.0.%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := e.ExecLine(ctx, terminal(e, "alice"), "releases demo in dev --limit 25")
	if err != nil {
		t.Fatal(err)
	}
	list := res.Data.([]engine.Release)
	if len(list) != 25 || list[0].Version != "2.0.29" || list[24].Version != "2.0.5" {
		t.Errorf("got %d releases, %s … %s", len(list), list[0].Version, list[len(list)-1].Version)
	}
}

func contains(s, sub string) bool {
	return len(sub) <= len(s) && (s == sub || indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func cutBetween(s, before, after string) (string, bool) {
	i := indexOf(s, before)
	if i < 0 {
		return "", false
	}
	rest := s[i+len(before):]
	j := indexOf(rest, after)
	if j < 0 {
		return "", false
	}
	return rest[:j], true
}

// TestRollbackGoesBack: a second rollback goes back one more release, not
// forward again, and rollback to a version works for any release the history
// holds, not only those the ledger keeps.
func TestRollbackGoesBack(t *testing.T) {
	e := newEngine(t, engine.DemoConfig())
	ctx := context.Background()
	run := func(line string) string {
		t.Helper()
		res, err := e.ExecLine(ctx, terminal(e, "alice"), line)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		return res.Text
	}
	for i := range 30 {
		run(fmt.Sprintf("release demo 3.0.%d to production", i))
	}
	if got := run("rollback demo"); got != "Rolled demo back in production from 3.0.29 to 3.0.28." {
		t.Errorf("first rollback: %q", got)
	}
	if got := run("rollback demo"); got != "Rolled demo back in production from 3.0.28 to 3.0.27." {
		t.Errorf("second rollback: %q", got)
	}
	if got := run("rollback demo to 1.1.0"); got != "Rolled demo back in production from 3.0.27 to 1.1.0." {
		t.Errorf("rollback past the ledger's releases: %q", got)
	}
	run("release demo 4.0.0 to production")
	if got := run("rollback demo"); got != "Rolled demo back in production from 4.0.0 to 1.1.0." {
		t.Errorf("rollback after a new release: %q", got)
	}
}

// TestLockTwice: a second lock says who holds the stage and why; lock!
// replaces it, for those who may force; info shows the owner and reason.
func TestLockTwice(t *testing.T) {
	cfg := engine.DemoConfig()
	cfg.Users = append(cfg.Users, engine.UserConfig{Name: "root", Login: "root", Groups: []string{"admins"}})
	e := newEngine(t, cfg)
	ctx := context.Background()
	if _, err := e.ExecLine(ctx, terminal(e, "alice"), `lock demo production --reason "release freeze"`); err != nil {
		t.Fatal(err)
	}
	_, err := e.ExecLine(ctx, terminal(e, "bob"), `lock demo production --reason mine`)
	if engine.ErrorCode(err) != engine.Conflict || !strings.Contains(err.Error(), "demo production is locked by alice since") ||
		!strings.Contains(err.Error(), ": release freeze already; unlock it first, or replace the lock with lock! if you may") {
		t.Errorf("second lock: %v", err)
	}
	if _, err := e.ExecLine(ctx, terminal(e, "bob"), `lock! demo production`); engine.ErrorCode(err) != engine.Denied {
		t.Errorf("lock! by someone who may not force: %v", err)
	}
	if _, err := e.ExecLine(ctx, terminal(e, "root"), `lock! demo production --reason "incident 42"`); err != nil {
		t.Fatalf("lock! by an admin: %v", err)
	}
	res, err := e.ExecLine(ctx, terminal(e, "alice"), "info demo")
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Rows[2][5]; got != "locked by root: incident 42" {
		t.Errorf("info status %q", got)
	}
}

// TestStageNames: a pipeline whose stages are called dev and prod can be
// used by those names and by the names they abbreviate; a pipeline with both
// dev and development keeps them apart; two stages one alias could mean are
// refused as ambiguous.
func TestStageNames(t *testing.T) {
	cfg := engine.DemoConfig()
	cfg.Pipelines = append(cfg.Pipelines,
		engine.PipelineConfig{Name: "short", Stages: []string{"dev", "prod"}},
		engine.PipelineConfig{Name: "both", Stages: []string{"dev", "development", "production"}},
		engine.PipelineConfig{Name: "twice", Stages: []string{"stage", "prd", "prod"}},
	)
	e := newEngine(t, cfg)
	ctx := context.Background()
	for _, tc := range []struct{ line, want string }{
		{"release short 1.0.0 to dev", "Released short 1.0.0 into dev."},
		{"promote short from dev to prod", "Promoted short 1.0.0 from dev to prod."},
		{"release short 1.0.1 to development", "Released short 1.0.1 into dev."},
		{"promote short from development to production", "Promoted short 1.0.1 from dev to prod."},
		{"release both 2.0.0 to dev", "Released both 2.0.0 into dev."},
		{"release both 2.0.1 to development", "Released both 2.0.1 into development."},
		{"promote both from development to prod", "Promoted both 2.0.1 from development to production."},
		{"release twice 3.0.0 to prd", "Released twice 3.0.0 into prd."},
	} {
		res, err := e.ExecLine(ctx, terminal(e, "alice"), tc.line)
		if err != nil {
			t.Errorf("%s: %v", tc.line, err)
			continue
		}
		if res.Text != tc.want {
			t.Errorf("%s: %q, want %q", tc.line, res.Text, tc.want)
		}
	}
	// A gateway queues the canonical text: it must name the stage meant.
	for line, want := range map[string]string{
		"release both 2.0.2 to dev":   "release both 2.0.2 to dev",
		"release short 1.0.3 to stg":  "release short 1.0.3 to staging",
		"promote short to production": "promote short to prod",
	} {
		cmd, err := e.Admit(ctx, terminal(e, "alice"), line)
		if err != nil {
			t.Errorf("admit %s: %v", line, err)
		} else if got := cmd.Canonical(); got != want {
			t.Errorf("admit %s: queued as %q, want %q", line, got, want)
		}
	}
	_, err := e.ExecLine(ctx, terminal(e, "alice"), "release twice 3.0.1 to production")
	if engine.ErrorCode(err) != engine.Invalid || err.Error() != `"production" could be any of twice's stages prd, prod: name one` {
		t.Errorf("ambiguous alias: %v", err)
	}
	_, err = e.ExecLine(ctx, terminal(e, "alice"), "release short 1.0.2 to staging")
	if engine.ErrorCode(err) != engine.NotFound || err.Error() != `pipeline short has no stage "staging"; stages: dev, prod` {
		t.Errorf("unknown stage: %v", err)
	}
}

// TestConfirmationNamesTheChange: a stage rule's question names the stages
// with their old and new versions, and what a forced change overrides; a
// change that would fail is refused instead of asked about.
func TestConfirmationNamesTheChange(t *testing.T) {
	cfg := engine.DemoConfig()
	cfg.Users = append(cfg.Users, engine.UserConfig{Name: "root", Login: "root", Groups: []string{"admins"}})
	e := newEngine(t, cfg)
	ctx := context.Background()
	ask := func(who, line string) string {
		t.Helper()
		c := terminal(e, who)
		c.Confirmed = false
		_, err := e.ExecLine(ctx, c, line)
		var q *engine.ConfirmationError
		if !errors.As(err, &q) {
			t.Fatalf("%s: %v, want a question", line, err)
		}
		return q.Question
	}
	if got, want := ask("alice", "promote demo"), "Promote demo from staging to production (production: 1.1.0 → 1.2.0)?"; got != want {
		t.Errorf("question %q, want %q", got, want)
	}
	if _, err := e.ExecLine(ctx, terminal(e, "alice"), `lock demo production --reason "release freeze"`); err != nil {
		t.Fatal(err)
	}
	if got, want := ask("root", "promote! demo"), "Promote demo from staging to production (production: 1.1.0 → 1.2.0), overriding the lock on demo production by alice (release freeze)?"; got != want {
		t.Errorf("forced question %q, want %q", got, want)
	}
	c := terminal(e, "alice")
	c.Confirmed = false
	if _, err := e.ExecLine(ctx, c, "promote demo"); engine.ErrorCode(err) != engine.Conflict {
		t.Errorf("a change the lock refuses: %v, want the conflict rather than a question", err)
	}
}
