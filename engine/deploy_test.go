package engine_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/chatops/chatops/engine"
)

// fakeDriver is a driver whose outcome a test scripts; it records what it
// was asked to deploy.
type fakeDriver struct {
	mu    sync.Mutex
	calls []engine.Deployment
	// hold, when set, blocks Deploy until it is closed or ctx ends.
	hold    chan struct{}
	started chan struct{}
	err     error
	ref     string
}

func (f *fakeDriver) Deploy(ctx context.Context, d *engine.Deployment, progress func(string)) (*engine.Deployed, error) {
	f.mu.Lock()
	f.calls = append(f.calls, *d)
	f.mu.Unlock()
	progress("started " + d.Version)
	if f.started != nil {
		close(f.started)
	}
	if f.hold != nil {
		select {
		case <-f.hold:
		case <-ctx.Done():
			return nil, &engine.DriverError{Driver: "fake", Msg: "cancelled", Err: ctx.Err()}
		}
	}
	if f.err != nil {
		return nil, f.err
	}
	progress("done")
	return &engine.Deployed{Ref: f.ref}, nil
}

func (f *fakeDriver) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func driverEngine(t *testing.T, d engine.Driver) *engine.Engine {
	t.Helper()
	e := newEngine(t, engine.DemoConfig())
	e.Drivers = map[engine.StageKey]engine.Driver{{Pipeline: "demo", Stage: "production"}: d}
	return e
}

func stageVersion(t *testing.T, e *engine.Engine, stage string) engine.StageView {
	t.Helper()
	res, err := e.ExecLine(context.Background(), terminal(e, "alice"), "info demo")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range res.Data.(engine.PipelineView).Stages {
		if s.Name == stage {
			return s
		}
	}
	t.Fatalf("no stage %s", stage)
	return engine.StageView{}
}

func TestDeploySucceeds(t *testing.T) {
	d := &fakeDriver{ref: "rel-42"}
	e := driverEngine(t, d)
	var progress []string
	c := terminal(e, "alice")
	c.Progress = func(l string) { progress = append(progress, l) }
	res, err := e.ExecLine(context.Background(), c, "promote demo")
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != "Promoted demo 1.2.0 from staging to production." {
		t.Errorf("answer %q", res.Text)
	}
	if len(d.calls) != 1 {
		t.Fatalf("driver called %d times", len(d.calls))
	}
	got := d.calls[0]
	want := engine.Deployment{Action: "promote", Pipeline: "demo", From: "staging", Stage: "production", Version: "1.2.0",
		Actor: "alice", JobID: got.JobID, Previous: "1.1.0"}
	if got != want || got.JobID == "" {
		t.Errorf("driver got %+v, want %+v", got, want)
	}
	if want := []string{"production: promote demo 1.2.0", "production: started 1.2.0", "production: done"}; strings.Join(progress, "|") != strings.Join(want, "|") {
		t.Errorf("progress %q, want %q", progress, want)
	}
	s := stageVersion(t, e, "production")
	if s.Version != "1.2.0" || s.Release.Ref != "rel-42" || s.Deploying != nil {
		t.Errorf("production after the deploy: %+v", s)
	}
	recs, _ := e.Audit.Read(context.Background(), engine.AuditQuery{Pipeline: "demo"})
	if len(recs) != 2 || recs[0].Outcome != "ok" { // the promote, then info
		t.Errorf("audit %+v", recs)
	}
}

func TestDeployFails(t *testing.T) {
	d := &fakeDriver{err: &engine.DriverError{Driver: "fake", Msg: "target failed: slug too big", Log: []string{"step 1", "step 2"}}}
	e := driverEngine(t, d)
	_, err := e.ExecLine(context.Background(), terminal(e, "alice"), "promote demo")
	if engine.ErrorCode(err) != engine.Failed {
		t.Fatalf("err %v (%s), want failed", err, engine.ErrorCode(err))
	}
	want := "promote demo 1.2.0 to production failed: fake driver: target failed: slug too big. The ledger is unchanged.\nstep 1\nstep 2"
	if got := engine.ErrorMessage(err); got != want {
		t.Errorf("message\n%s\nwant\n%s", got, want)
	}
	if s := stageVersion(t, e, "production"); s.Version != "1.1.0" || s.Deploying != nil {
		t.Errorf("production after a failed deploy: %+v", s)
	}
	recs, _ := e.Audit.Read(context.Background(), engine.AuditQuery{Pipeline: "demo"})
	var promotes []engine.AuditRecord
	for _, r := range recs {
		if strings.HasPrefix(r.Command, "promote") {
			promotes = append(promotes, r)
		}
	}
	if len(promotes) != 1 || promotes[0].Outcome != "failed" {
		t.Errorf("audit of the promote: %+v", promotes)
	}
}

// TestDeployLostSight: a driver that started a change and lost sight of it
// (its deadline) leaves the outcome unknown: the ledger keeps the old
// version, the stage says unknown and refuses changes until one is forced.
func TestDeployLostSight(t *testing.T) {
	d := &fakeDriver{err: &engine.DriverError{Driver: "fake", Msg: "timed out after 15m0s; promotion P1 was pending", Log: []string{"pending"}, Unknown: true}}
	e := driverEngine(t, d)
	ctx := context.Background()
	_, err := e.ExecLine(ctx, terminal(e, "alice"), "promote demo")
	if engine.ErrorCode(err) != engine.Unknown {
		t.Fatalf("err %v (%s), want unknown", err, engine.ErrorCode(err))
	}
	want := "promote demo 1.2.0 to production: fake driver: timed out after 15m0s; promotion P1 was pending, so whether production changed is unknown. " +
		"Check production itself; then `promote!` (or a forced rollback) records what you decide.\npending"
	if got := engine.ErrorMessage(err); got != want {
		t.Errorf("message\n%s\nwant\n%s", got, want)
	}
	s := stageVersion(t, e, "production")
	if s.Version != "1.1.0" || s.Deploying == nil || !s.Deploying.Unknown || s.Deploying.Version != "1.2.0" {
		t.Errorf("production after losing sight: %+v", s)
	}
	d.err = nil
	if _, err := e.ExecLine(ctx, terminal(e, "alice"), "promote demo"); engine.ErrorCode(err) != engine.Conflict {
		t.Errorf("a promote over an unknown outcome: %v, want a conflict", err)
	}
	if d.count() != 1 {
		t.Errorf("the driver ran %d times", d.count())
	}
	recs, _ := e.Audit.Read(ctx, engine.AuditQuery{Pipeline: "demo"})
	if len(recs) == 0 || recs[0].Outcome != "unknown" {
		t.Errorf("audit %+v", recs)
	}
}

// TestDeployRefused: a driver's refusal (failing checks) is a conflict, and
// forcing reaches the driver with Force set.
func TestDeployRefused(t *testing.T) {
	d := &fakeDriver{err: engine.Errorf(engine.Conflict, "required checks failed: ci/build")}
	e := driverEngine(t, d)
	_, err := e.ExecLine(context.Background(), terminal(e, "alice"), "promote demo")
	if engine.ErrorCode(err) != engine.Conflict || !strings.Contains(err.Error(), "ci/build") {
		t.Fatalf("err %v", err)
	}
	if s := stageVersion(t, e, "production"); s.Version != "1.1.0" {
		t.Errorf("production after a refusal: %+v", s)
	}
}

// TestDeployingRefusesOthers: while a driver runs, info shows the stage as
// deploying and a second change to it is a conflict unless forced; other
// stages are not held up.
func TestDeployingRefusesOthers(t *testing.T) {
	d := &fakeDriver{hold: make(chan struct{}), started: make(chan struct{})}
	e := driverEngine(t, d)
	ctx := context.Background()
	done := make(chan error, 1)
	go func() {
		_, err := e.ExecLine(ctx, terminal(e, "alice"), "promote demo")
		done <- err
	}()
	<-d.started
	s := stageVersion(t, e, "production")
	if s.Deploying == nil || s.Deploying.Version != "1.2.0" || s.Deploying.By != "alice" {
		t.Fatalf("production while deploying: %+v", s)
	}
	res, _ := e.ExecLine(ctx, terminal(e, "alice"), "info demo")
	if row := res.Rows[2]; !strings.HasPrefix(row[5], "deploying 1.2.0 (job ") {
		t.Errorf("info row %q", row)
	}
	_, err := e.ExecLine(ctx, terminal(e, "bob"), "rollback demo")
	if engine.ErrorCode(err) != engine.Conflict || !strings.Contains(err.Error(), "demo production is deploying 1.2.0 (job ") ||
		!strings.Contains(err.Error(), "force with rollback!") {
		t.Errorf("a second change while deploying: %v", err)
	}
	if _, err := e.ExecLine(ctx, terminal(e, "bob"), "release demo 2.0.0"); err != nil {
		t.Errorf("a change to another stage: %v", err)
	}
	close(d.hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := stageVersion(t, e, "production"); s.Version != "1.2.0" || s.Deploying != nil {
		t.Errorf("production after the deploy: %+v", s)
	}
}

// TestDeployWorkerDied: a job redelivered while its driver's deployment is
// marked but not recorded never starts the driver again: its outcome is
// unknown, the stage says so, and only a forced change goes past it.
func TestDeployWorkerDied(t *testing.T) {
	d := &fakeDriver{hold: make(chan struct{}), started: make(chan struct{})}
	e := driverEngine(t, d)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	j := queued(e, "job-d", "alice", "promote demo")
	go func() { _, _ = e.RunJob(ctx, j, "w1", nil) }() // the worker that "dies": it never answers
	<-d.started

	job, err := e.RunJob(context.Background(), j, "w2", nil)
	if err != nil {
		t.Fatal(err)
	}
	if job.State != engine.JobUnknown || !strings.Contains(job.Message, "whether production changed is unknown") {
		t.Fatalf("redelivered job %+v", job)
	}
	if d.count() != 1 {
		t.Errorf("driver started %d times", d.count())
	}
	s := stageVersion(t, e, "production")
	if s.Deploying == nil || !s.Deploying.Unknown || s.Version != "1.1.0" {
		t.Errorf("production after the death: %+v", s)
	}
	_, err = e.ExecLine(context.Background(), terminal(e, "alice"), "rollback demo to 1.0.0")
	if engine.ErrorCode(err) != engine.Conflict || !strings.Contains(err.Error(), "promote of 1.2.0 unknown (job job-d by alice stopped)") {
		t.Errorf("a change after an unknown deploy: %v", err)
	}
	recs, _ := e.Audit.Read(context.Background(), engine.AuditQuery{Pipeline: "demo"})
	unknown := 0
	for _, r := range recs {
		if r.JobID == "job-d" {
			if r.Outcome != "unknown" {
				t.Errorf("audit of job-d: %+v", r)
			}
			unknown++
		}
	}
	if unknown != 1 {
		t.Errorf("%d audit records of job-d, want 1", unknown)
	}
	again, err := e.RunJob(context.Background(), j, "w3", nil)
	if err != nil || again.State != engine.JobUnknown || d.count() != 1 {
		t.Errorf("third delivery: %+v, %v; driver started %d times", again, err, d.count())
	}
}
