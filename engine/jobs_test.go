package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatops/chatops/adapters/exec"
	"github.com/chatops/chatops/engine"
)

func queued(e *engine.Engine, id, who, command string) *engine.QueuedJob {
	return &engine.QueuedJob{ID: id, Command: command, Actor: e.Identify(engine.SourceSlack, who), Confirmed: true, Enqueued: e.Now(), Attempt: 1}
}

// releasesOf counts how often each version went into slot, by the full history.
func releasesOf(t *testing.T, e *engine.Engine, pipeline, slot string) map[string]int {
	t.Helper()
	list, err := e.History.List(context.Background(), pipeline, slot, 100000)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, r := range list {
		n[r.Version]++
	}
	return n
}

// TestRunJobOnce: a job delivered three times runs once; the later deliveries
// get the stored outcome, and the audit holds one record.
func TestRunJobOnce(t *testing.T) {
	e := newEngine(t, engine.DemoConfig())
	ctx := context.Background()
	j := queued(e, "job-1", "alice", "release demo 9.0.0 to development")
	for i := range 3 {
		job, err := e.RunJob(ctx, j, "w1", nil)
		if err != nil {
			t.Fatal(err)
		}
		if job.State != engine.JobDone || job.Result == nil || job.Result.Text != "Released demo 9.0.0 into development." {
			t.Fatalf("delivery %d: job %+v", i+1, job)
		}
	}
	if n := releasesOf(t, e, "demo", "development")["9.0.0"]; n != 1 {
		t.Errorf("9.0.0 released %d times", n)
	}
	recs, err := e.Audit.Read(ctx, engine.AuditQuery{Pipeline: "demo"})
	if err != nil || len(recs) != 1 {
		t.Errorf("audit holds %d records (%v), want 1", len(recs), err)
	}
}

// TestTakeOverLedgerChange reproduces "a redelivered ledger change can apply
// twice": a worker made a change and died before it recorded the outcome;
// 400 other releases came in between; the redelivered job must not make it
// again (the ledger used to remember only its last 256 keys).
func TestTakeOverLedgerChange(t *testing.T) {
	e := newEngine(t, engine.DemoConfig())
	ctx := context.Background()
	j := queued(e, "job-dead", "alice", "release demo 9.0.0 to development")
	if _, err := e.RunJob(ctx, j, "w1", nil); err != nil {
		t.Fatal(err)
	}
	// The worker died after its change, before it recorded the outcome.
	if _, err := e.Jobs.Update(ctx, j.ID, func(r *engine.Job) error {
		r.State, r.Outcome, r.Result, r.Finished = engine.JobRunning, "", nil, time.Time{}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := range 400 {
		other := queued(e, "job-other-"+string(rune('a'+i%26))+strings.Repeat("x", i/26), "alice", "release demo 10.0."+itoa(i)+" to development")
		if _, err := e.RunJob(ctx, other, "w2", nil); err != nil {
			t.Fatal(err)
		}
	}
	job, err := e.RunJob(ctx, j, "w3", nil)
	if err != nil {
		t.Fatal(err)
	}
	if job.State != engine.JobDone || job.Result.Text != "Released demo 9.0.0 into development." {
		t.Errorf("taken over: %+v", job)
	}
	n := releasesOf(t, e, "demo", "development")
	if n["9.0.0"] != 1 {
		t.Errorf("9.0.0 released %d times, want once", n["9.0.0"])
	}
	st, _, _ := e.Store.Load(ctx, "demo")
	if cur := st.Slots["development"].Current.Version; cur != "10.0.399" {
		t.Errorf("development runs %s: the repeat overwrote a newer version", cur)
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

const appendConfig = `
pipelines:
  - name: demo
    stages: [development, staging, production]
commands:
  - usage: "note <text>"
    exec:
      argv: [sh, -c, 'echo "$0" >> "$1"; exit $2', "{text}", "FILE", "0"]
  - usage: "flaky <text>"
    exec:
      argv: [sh, -c, 'echo "$0" >> "$1"; exit 1', "{text}", "FILE"]
`

func appendEngine(t *testing.T) (*engine.Engine, string) {
	file := filepath.Join(t.TempDir(), "ran")
	cfg, err := engine.ParseConfig("chatops.yaml", []byte(strings.ReplaceAll(appendConfig, "FILE", file)))
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, cfg)
	e.Runner = exec.Runner{}
	return e, file
}

func lines(t *testing.T, file string) []string {
	data, err := os.ReadFile(file)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Fields(string(data))
}

// putRunning records j as running on worker, started and last beating at
// the times given (a zero beat: it never beat), as a worker that claimed it
// leaves it.
func putRunning(t *testing.T, jobs engine.Jobs, j *engine.QueuedJob, worker string, started, beat time.Time) {
	t.Helper()
	if _, err := jobs.Update(context.Background(), j.ID, func(r *engine.Job) error {
		*r = engine.Job{ID: j.ID, Command: j.Command, Actor: j.Actor.ID, State: engine.JobRunning, Worker: worker, Started: started, Beat: beat, Attempts: 1}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestDeadWorkerUnknown: a custom command whose worker died while it ran is
// not run again: its outcome is unknown, said plainly and audited once.
func TestDeadWorkerUnknown(t *testing.T) {
	e, file := appendEngine(t)
	ctx := context.Background()
	j := queued(e, "job-x", "alice", "note hello")
	// A worker claimed it and died while the program ran.
	putRunning(t, e.Jobs, j, "w1", e.Now(), time.Time{})
	for range 2 {
		job, err := e.RunJob(ctx, j, "w2", nil)
		if err != nil {
			t.Fatal(err)
		}
		if job.State != engine.JobUnknown || !strings.Contains(job.Message, "whether it did its work is unknown") {
			t.Fatalf("job %+v", job)
		}
		if err := job.Err(); engine.ErrorCode(err) != engine.Unknown {
			t.Errorf("stored error %v", err)
		}
	}
	if got := lines(t, file); len(got) != 0 {
		t.Errorf("the program ran again: %q", got)
	}
	recs, _ := e.Audit.Read(ctx, engine.AuditQuery{})
	if len(recs) != 1 || recs[0].Outcome != "unknown" {
		t.Errorf("audit %+v, want one unknown record", recs)
	}
}

// TestFailedCommandNotRetried: a program exiting 1 is an outcome, stored and
// answered; it is not run again when the job is delivered again.
func TestFailedCommandNotRetried(t *testing.T) {
	e, file := appendEngine(t)
	ctx := context.Background()
	j := queued(e, "job-f", "alice", "flaky once")
	for range 3 {
		job, err := e.RunJob(ctx, j, "w1", nil)
		if err != nil {
			t.Fatalf("a failed command is not an infrastructure failure: %v", err)
		}
		if job.State != engine.JobFailed {
			t.Fatalf("job %+v", job)
		}
	}
	if got := lines(t, file); len(got) != 1 {
		t.Errorf("the program ran %d times: %q", len(got), got)
	}
}

// TestGiveUp: a job whose last delivery fails is answered by what is known of
// it: not run if it never started, unknown if it did, its outcome if it ended.
func TestGiveUp(t *testing.T) {
	e, _ := appendEngine(t)
	ctx := context.Background()
	cause := engine.Errorf(engine.Unavailable, "store down")

	never := queued(e, "job-never", "alice", "note a")
	j, err := e.GiveUp(ctx, never, cause)
	if err != nil || j.State != engine.JobFailed || !strings.Contains(j.Message, "was not run") {
		t.Errorf("never started: %+v, %v", j, err)
	}

	started := queued(e, "job-started", "alice", "note b")
	if _, err := e.Jobs.Update(ctx, started.ID, func(r *engine.Job) error {
		*r = engine.Job{ID: started.ID, Command: started.Command, Actor: "alice", State: engine.JobRunning, Worker: "w1", Started: e.Now()}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if j, err := e.GiveUp(ctx, started, cause); err != nil || j.State != engine.JobUnknown {
		t.Errorf("started: %+v, %v; want unknown, never 'not run'", j, err)
	}

	ended := queued(e, "job-ended", "alice", "note c")
	if _, err := e.RunJob(ctx, ended, "w1", nil); err != nil {
		t.Fatal(err)
	}
	if j, err := e.GiveUp(ctx, ended, cause); err != nil || j.State != engine.JobDone {
		t.Errorf("ended: %+v, %v; want its own outcome", j, err)
	}
}

// TestRunJobWorkerAlive: a job delivered again while the worker running it
// still beats (the queue lost sight of it when a NATS node died) goes back to
// the queue, rather than being taken for a dead worker's; once that worker
// has been silent for three beats, another takes it over.
func TestRunJobWorkerAlive(t *testing.T) {
	e := newEngine(t, engine.DemoConfig())
	ctx := context.Background()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	e.Now = func() time.Time { return now }
	e.BeatEvery = time.Hour // no beats of its own during the test
	alice := e.Identify(engine.SourceTerminal, "alice")
	if _, err := e.Jobs.Create(ctx, &engine.Job{ID: "j1", Command: "info demo", Actor: "alice", State: engine.JobRunning,
		Worker: "host-a/1", Started: now, Beat: now}); err != nil {
		t.Fatal(err)
	}
	e.BeatEvery = 2 * time.Second
	q := &engine.QueuedJob{ID: "j1", Command: "info demo", Actor: alice, Enqueued: now}
	now = now.Add(5 * time.Second) // within three beats
	if _, err := e.RunJob(ctx, q, "host-b/2", nil); engine.ErrorCode(err) != engine.Unavailable ||
		engine.ErrorMessage(err) != "job j1 still runs on host-a/1 (it beat 5s ago)" {
		t.Fatalf("a redelivery while its worker beats: %v", err)
	}
	if j, _ := e.Jobs.Get(ctx, "j1"); j.Worker != "host-a/1" || j.State != engine.JobRunning {
		t.Errorf("the job changed hands: %+v", j)
	}
	now = now.Add(2 * time.Second) // seven seconds of silence
	job, err := e.RunJob(ctx, q, "host-b/2", nil)
	if err != nil || job.State != engine.JobDone {
		t.Fatalf("taken over from a silent worker: %+v, %v", job, err)
	}
}

type memClaims struct {
	mu   sync.Mutex
	m    map[string]string
	down bool
}

func (c *memClaims) Claim(_ context.Context, job, by string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return "", engine.Errorf(engine.Unavailable, "claims down")
	}
	if have, ok := c.m[job]; ok {
		return have, nil
	}
	c.m[job] = by
	return by, nil
}

// TestRefuseClaims: a refusal claimed first stops the job's worker from
// running it, even when the job records cannot be written; a worker's claim
// first makes the refusal say it runs.
func TestRefuseClaims(t *testing.T) {
	e := newEngine(t, engine.DemoConfig())
	ctx := context.Background()
	claims := &memClaims{m: map[string]string{}}
	e.Claims = claims
	alice := e.Identify(engine.SourceSlack, "U1")
	late := &engine.QueuedJob{ID: "late", Command: "info demo", Actor: alice, Enqueued: e.Now()}
	if refused, err := e.Refuse(ctx, late, "not stored in time"); !refused || err != nil {
		t.Fatalf("Refuse = %v, %v", refused, err)
	}
	job, err := e.RunJob(ctx, late, "w1", nil)
	if err != nil || job.State != engine.JobFailed || job.Answer != engine.AnswerDelivered {
		t.Fatalf("the refused job's late delivery: %+v, %v; want failed, answered already, not run", job, err)
	}
	taken := &engine.QueuedJob{ID: "taken", Command: "info demo", Actor: alice, Enqueued: e.Now()}
	if job, err := e.RunJob(ctx, taken, "w1", nil); err != nil || job.State != engine.JobDone {
		t.Fatalf("run: %+v, %v", job, err)
	}
	if refused, err := e.Refuse(ctx, taken, "not stored in time"); refused || err != nil {
		t.Errorf("refusing a job a worker took = %v, %v; want not refused", refused, err)
	}
	claims.down = true
	fallback := &engine.QueuedJob{ID: "fallback", Command: "info demo", Actor: alice, Enqueued: e.Now()}
	if refused, err := e.Refuse(ctx, fallback, "not stored in time"); !refused || err != nil {
		t.Errorf("refusal through the job record = %v, %v", refused, err)
	}
	if _, err := e.RunJob(ctx, fallback, "w1", nil); engine.ErrorCode(err) != engine.Unavailable {
		t.Errorf("a worker without its claims store: %v, want Unavailable (delivered again later)", err)
	}
	claims.down = false
	if job, err := e.RunJob(ctx, fallback, "w1", nil); err != nil || job.State != engine.JobFailed {
		t.Errorf("the fallback-refused job's delivery: %+v, %v; want failed, not run", job, err)
	}
}

// staleJobs reads job records as a replica that lags shows them: stale[id]
// when set. Writes still go through the store, whose compare-and-set sees
// the leader's record.
type staleJobs struct {
	engine.Jobs
	stale map[string]*engine.Job
}

func (s staleJobs) Get(ctx context.Context, id string) (*engine.Job, error) {
	if j, ok := s.stale[id]; ok {
		c := *j
		return &c, nil
	}
	return s.Jobs.Get(ctx, id)
}

// auditOutcomes returns the outcomes of the audit records of job id, in
// the order they were stored.
func auditOutcomes(t *testing.T, e *engine.Engine, id string) []string {
	t.Helper()
	recs, err := e.Audit.Read(context.Background(), engine.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var outcomes []string
	for _, r := range recs {
		if r.JobID == id {
			outcomes = append(outcomes, r.Outcome)
		}
	}
	return outcomes
}

// TestRefusedStaleRead: the late delivery of a refused job is not answered
// again, even when the read of its record comes from a replica that lags and
// shows it queued. (Found by TestClusterFaults: such a job was answered with
// its bare command after its refusal, about one run in thirty.)
func TestRefusedStaleRead(t *testing.T) {
	e := newEngine(t, engine.DemoConfig())
	ctx := context.Background()
	alice := e.Identify(engine.SourceSlack, "U1")
	claims := &memClaims{m: map[string]string{}}
	e.Claims = claims
	recorded := &engine.QueuedJob{ID: "recorded", Command: "info demo", Actor: alice, Enqueued: e.Now()}
	claimedOnly := &engine.QueuedJob{ID: "claimed-only", Command: "info demo", Actor: alice, Enqueued: e.Now()}
	// As the gateway leaves them: both refusals claimed, one recorded so
	// far (the record is written in the background of the ack).
	claims.m[recorded.ID], claims.m[claimedOnly.ID] = engine.ClaimRefused, engine.ClaimRefused
	rec := recorded.Record()
	rec.State, rec.Outcome, rec.Finished, rec.Answer = engine.JobFailed, string(engine.Unavailable), e.Now(), engine.AnswerDelivered
	if _, err := e.Jobs.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	e.Jobs = staleJobs{Jobs: e.Jobs, stale: map[string]*engine.Job{recorded.ID: recorded.Record(), claimedOnly.ID: claimedOnly.Record()}}
	for _, q := range []*engine.QueuedJob{recorded, claimedOnly} {
		job, err := e.RunJob(ctx, q, "w1", nil)
		if err != nil || job.State != engine.JobFailed || job.Answer != engine.AnswerDelivered {
			t.Errorf("%s: the refused job's late delivery: %+v, %v; want failed, answered already, not run", q.ID, job, err)
		}
	}
}

// TestGiveUpStaleRead: a job that finished keeps its outcome, in its record,
// its answer and its audit, when its last delivery is given up on and the
// read of its record comes from a replica that lags, showing it queued or
// still running.
func TestGiveUpStaleRead(t *testing.T) {
	e, _ := appendEngine(t)
	ctx := context.Background()
	cause := engine.Errorf(engine.Unavailable, "store down")
	fresh := e.Jobs
	for _, stale := range []string{engine.JobQueued, engine.JobRunning} {
		t.Run(stale, func(t *testing.T) {
			q := queued(e, "job-seen-"+stale, "alice", "note "+stale)
			done, err := e.RunJob(ctx, q, "w1", nil)
			if err != nil || done.State != engine.JobDone {
				t.Fatalf("running it: %+v, %v", done, err)
			}
			old := q.Record()
			if stale == engine.JobRunning {
				old.State, old.Worker, old.Started = engine.JobRunning, "w1", done.Started
			}
			e.Jobs = staleJobs{Jobs: fresh, stale: map[string]*engine.Job{q.ID: old}}
			defer func() { e.Jobs = fresh }()
			last := *q
			last.Attempt, last.LastAttempt = 10, true
			j, err := e.GiveUp(ctx, &last, cause)
			if err != nil || j.State != engine.JobDone {
				t.Errorf("given up on: %+v, %v; want its own outcome, done, to be answered", j, err)
			}
			rec, err := fresh.Get(ctx, q.ID)
			if err != nil || rec.State != engine.JobDone {
				t.Errorf("its record: %+v, %v; want done", rec, err)
			}
			outcomes := auditOutcomes(t, e, q.ID)
			if len(outcomes) != 1 || outcomes[0] != "ok" {
				t.Errorf("its audit outcomes: %q; want one, ok", outcomes)
			}
		})
	}
}

// TestGiveUpRunningReadQueued: a job whose worker died while it ran is
// answered and audited unknown, never "not run", when the read of its record
// shows it still queued.
func TestGiveUpRunningReadQueued(t *testing.T) {
	e, _ := appendEngine(t)
	ctx := context.Background()
	q := queued(e, "job-running", "alice", "note running")
	if _, err := e.Jobs.Update(ctx, q.ID, func(r *engine.Job) error {
		*r = engine.Job{ID: q.ID, Command: q.Command, Actor: "alice", State: engine.JobRunning, Worker: "w1", Started: e.Now()}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.Jobs = staleJobs{Jobs: e.Jobs, stale: map[string]*engine.Job{q.ID: q.Record()}}
	last := *q
	last.Attempt, last.LastAttempt = 10, true
	j, err := e.GiveUp(ctx, &last, engine.Errorf(engine.Unavailable, "store down"))
	if err != nil || j.State != engine.JobUnknown {
		t.Errorf("given up on: %+v, %v; want unknown", j, err)
	}
	outcomes := auditOutcomes(t, e, q.ID)
	if len(outcomes) != 1 || outcomes[0] != string(engine.Unknown) {
		t.Errorf("its audit outcomes: %q; want one, unknown", outcomes)
	}
}

// lostReplyJobs stores the first update of each job and then fails it as a
// store whose leader died after the write landed, before it answered.
type lostReplyJobs struct {
	engine.Jobs
	mu   sync.Mutex
	lost map[string]bool
}

func (l *lostReplyJobs) Update(ctx context.Context, id string, fn func(*engine.Job) error) (*engine.Job, error) {
	job, err := l.Jobs.Update(ctx, id, fn)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil && !l.lost[id] {
		l.lost[id] = true
		return nil, engine.Errorf(engine.Unavailable, "saving job %s: nats: timeout", id)
	}
	return job, err
}

// TestClaimLandedReplyLost: a worker's claim lands but its answer is lost.
// The job runs once, on that worker, and is not answered unknown. (Found by
// TestClusterFaults on a loaded machine: jobs claimed as the jobs bucket's
// leader died were handed back, found running by their next delivery, and
// answered unknown though nothing had run.)
func TestClaimLandedReplyLost(t *testing.T) {
	e, file := appendEngine(t)
	e.ChangeBackoff = func(int) time.Duration { return time.Millisecond }
	e.Jobs = &lostReplyJobs{Jobs: e.Jobs, lost: map[string]bool{}}
	ctx := context.Background()
	j := queued(e, "job-lost", "alice", "note hello")
	job, err := e.RunJob(ctx, j, "w1", nil)
	if err != nil {
		t.Fatalf("RunJob: %v; want the claim tried again and the job run", err)
	}
	if job.State != engine.JobDone {
		t.Errorf("job %+v, want done", job)
	}
	if got := lines(t, file); len(got) != 1 {
		t.Errorf("the program ran %d times, want once: %q", len(got), got)
	}
	if got := auditOutcomes(t, e, j.ID); len(got) != 1 || got[0] != "ok" {
		t.Errorf("audit outcomes %q, want [ok]", got)
	}

	// A takeover of a dead worker's job, whose write lands and whose answer
	// is lost: the job is unknown once, and said to be the dead worker's.
	dead := queued(e, "job-dead", "alice", "note again")
	beat := e.Now().Add(-time.Hour)
	putRunning(t, e.Jobs.(*lostReplyJobs).Jobs, dead, "w0", beat, beat)
	e.Workers = workersSay{t: t, worker: "w0", job: dead.ID, ok: true}
	job, err = e.RunJob(ctx, dead, "w1", nil)
	if err != nil || job.State != engine.JobUnknown || !strings.Contains(job.Message, "on w0") {
		t.Errorf("the dead worker's job: %+v, %v; want unknown, on w0", job, err)
	}
	if job != nil && job.Attempts != 2 {
		t.Errorf("the takeover counted %d attempts, want 2", job.Attempts)
	}
}

// TestRunJobGivenAgainWhileRunning: a job given again to the worker that
// runs it (the queue's leader changed and lost its in-progress marks) is
// handed back, not answered unknown: that worker lives. (Found by
// TestClusterFaults: a job that ran on a worker that lived was answered
// "that worker stopped before it finished".)
func TestRunJobGivenAgainWhileRunning(t *testing.T) {
	d := &fakeDriver{hold: make(chan struct{}), started: make(chan struct{})}
	release := sync.OnceFunc(func() { close(d.hold) })
	t.Cleanup(release) // the first run ends, whatever fails
	e := driverEngine(t, d)
	ctx := context.Background()
	j := queued(e, "job-again", "alice", "promote demo")
	first := make(chan *engine.Job, 1)
	go func() {
		job, err := e.RunJob(ctx, j, "w1", nil)
		if err != nil {
			t.Error(err)
		}
		first <- job
	}()
	<-d.started
	if !e.Runs("w1", j.ID) || e.Runs("w2", j.ID) {
		t.Errorf("Runs while w1 runs it: w1 %v, w2 %v", e.Runs("w1", j.ID), e.Runs("w2", j.ID))
	}
	job, err := e.RunJob(ctx, j, "w1", nil)
	if engine.ErrorCode(err) != engine.Unavailable || job != nil {
		t.Fatalf("given again while it runs: %+v, %v; want it handed back", job, err)
	}
	release()
	if job := <-first; job == nil || job.State != engine.JobDone {
		t.Fatalf("the first run: %+v", job)
	}
	if e.Runs("w1", j.ID) {
		t.Error("Runs after the job finished")
	}
	job, err = e.RunJob(ctx, j, "w1", nil)
	if err != nil || job.State != engine.JobDone {
		t.Errorf("given again after it finished: %+v, %v", job, err)
	}
	if d.count() != 1 {
		t.Errorf("driver started %d times", d.count())
	}
}

// workersSay is engine.Workers as worker answers about job: runs, and
// whether it answered at all.
type workersSay struct {
	t           *testing.T
	worker, job string
	runs, ok    bool
}

func (w workersSay) Runs(_ context.Context, worker, job string) (bool, bool) {
	if worker != w.worker || job != w.job {
		w.t.Errorf("asked %s about %s, want %s about %s", worker, job, w.worker, w.job)
	}
	return w.runs, w.ok
}

// TestSilentWorkerAsked: a running job whose record stopped beating is taken
// over only when its worker does not say it runs it. (The store electing a
// leader stops the beats of a worker that lives; taken for dead, its job
// was answered unknown.)
func TestSilentWorkerAsked(t *testing.T) {
	for _, tc := range []struct {
		name  string
		say   workersSay
		taken bool
	}{
		{"runs", workersSay{runs: true, ok: true}, false},
		{"idle", workersSay{runs: false, ok: true}, true},
		{"no answer", workersSay{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, file := appendEngine(t)
			tc.say.t, tc.say.worker, tc.say.job = t, "w1", "job-s"
			e.Workers = tc.say
			ctx := context.Background()
			j := queued(e, "job-s", "alice", "note hello")
			beat := e.Now().Add(-time.Hour) // silent for an hour
			putRunning(t, e.Jobs, j, "w1", beat, beat)
			job, err := e.RunJob(ctx, j, "w2", nil)
			switch {
			case tc.taken && (err != nil || job.State != engine.JobUnknown):
				t.Errorf("taken over: %+v, %v; want unknown", job, err)
			case !tc.taken && (engine.ErrorCode(err) != engine.Unavailable || !strings.Contains(err.Error(), "still runs on w1")):
				t.Errorf("its worker says it runs it: %+v, %v; want it handed back", job, err)
			}
			if got := lines(t, file); len(got) != 0 {
				t.Errorf("the program ran again: %q", got)
			}
		})
	}
}

// downJobs fails the first fails updates as a store electing a leader does.
type downJobs struct {
	engine.Jobs
	mu           sync.Mutex
	fails, tried int
}

func (d *downJobs) Update(ctx context.Context, id string, fn func(*engine.Job) error) (*engine.Job, error) {
	d.mu.Lock()
	d.tried++
	down := d.tried <= d.fails
	d.mu.Unlock()
	if down {
		return nil, engine.Errorf(engine.Unavailable, "saving job %s: nats: no response from stream", id)
	}
	return d.Jobs.Update(ctx, id, fn)
}

// TestDeliveredWhileStoreElects: a delivered answer's record is tried again
// while the store cannot be written, so that a delivery given back finds it
// and posts nothing; once ctx ended (shutdown) it is tried once.
func TestDeliveredWhileStoreElects(t *testing.T) {
	e := newEngine(t, engine.DemoConfig())
	e.ChangeBackoff = func(int) time.Duration { return time.Millisecond }
	down := &downJobs{Jobs: e.Jobs, fails: 3}
	e.Jobs = down
	ctx := context.Background()
	if err := e.Delivered(ctx, "job-d", "response_url"); err != nil || down.tried != 4 {
		t.Errorf("Delivered: %v after %d tries; want it recorded on the 4th", err, down.tried)
	}
	if !e.WasDelivered(ctx, "job-d") {
		t.Error("the answer is not recorded as delivered")
	}
	ended, cancel := context.WithCancel(ctx)
	cancel()
	down.tried, down.fails = 0, 3
	if err := e.Delivered(ended, "job-e", "response_url"); engine.ErrorCode(err) != engine.Unavailable || down.tried != 1 {
		t.Errorf("Delivered once shutdown began: %v after %d tries; want one try", err, down.tried)
	}
}
