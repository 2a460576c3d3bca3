package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	natsadapter "github.com/chatops/chatops/adapters/nats"
	nc "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The fault test's load and schedule, from the first command sent.
const (
	faultRate       = 200 // signed slash commands a second
	faultDuration   = 24 * time.Second
	faultWorkerKill = 4 * time.Second  // SIGKILL of one worker
	faultNodeKill   = 8 * time.Second  // SIGKILL of the jobs stream's leader
	faultRestart    = 14 * time.Second // both come back
	// faultRefusals is how long after the node's death a gateway may refuse
	// commands when the new leader's election was not seen: JetStream
	// elects a new stream leader in about 3.4 s.
	faultRefusals = 5 * time.Second
	// faultReconnect is how long after the new leader's election a command
	// may still be refused: its gateway reconnects (250 ms) and its
	// consumers and publishes find the new leader.
	faultReconnect = 1500 * time.Millisecond
	// faultWorkers is --workers of each worker process.
	faultWorkers = 16
	// faultAckWait is serve's --job-ack-wait here: its default, which
	// outlasts a stream leader's election, so that a job running through the
	// node kill is not taken for a dead worker's (launchServe's 2 s is for
	// a single server, which elects nothing).
	faultAckWait = "10s"
	// slackDeadline is how long Slack waits for an ack.
	slackDeadline = 3 * time.Second
)

// TestClusterFaults is issue 12's acceptance test: a 3-node nats-server
// cluster, 2 gateways and 2 workers as real chatops processes, signed slash
// commands at 200/s round-robin over the gateways, and during them a worker
// SIGKILLed, then the NATS node leading the jobs stream, then both restarted.
// Every acked command runs exactly once (its effect and its audit record),
// none runs that was not acked, every acked one is answered, and acks are
// refused, with a "try again" that says nothing ran, only in the seconds after
// the node's death.
func TestClusterFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 3-node NATS cluster and kills its processes: not in -short")
	}
	start := time.Now()
	cl := startCluster(t, 3)
	bin, dir, ran, fake, hooks := clusterSetup(t)
	gateways := []*clusterServe{
		startClusterServe(t, bin, cl, dir, "gateway1", "gateway", hooks.URL),
		startClusterServe(t, bin, cl, dir, "gateway2", "gateway", hooks.URL),
	}
	workers := []*clusterServe{
		startClusterServe(t, bin, cl, dir, "worker1", "worker", hooks.URL),
		startClusterServe(t, bin, cl, dir, "worker2", "worker", hooks.URL),
	}

	// The node kill needs the jobs stream replicated: with one replica the
	// stream is down until its node returns, and no retry can help.
	info, err := cl.streamInfo(natsadapter.JobsStream)
	if err != nil {
		t.Fatal(err)
	}
	replicated := info.Config.Replicas >= 3
	t.Cleanup(func() {
		if t.Failed() {
			logTails(t, dir, cl)
		}
	})

	total := int(faultDuration.Seconds() * faultRate)
	results := make([]ackResult, total)
	client := clusterClient()
	var sends, faults sync.WaitGroup
	var workerKilledAt, nodeKilledAt, leaderBackAt time.Time
	var killedWorker string // "/pid ", as an unknown answer names its worker
	t0 := time.Now()
	faults.Go(func() {
		sleepUntil(t0.Add(faultWorkerKill))
		p := workers[0].cur.Load()
		if p == nil {
			t.Error("the worker to kill is not running")
			return
		}
		killedWorker = fmt.Sprintf("/%d ", p.cmd.Process.Pid)
		workerKilledAt = time.Now()
		workers[0].kill()
		leader := -1
		if replicated {
			sleepUntil(t0.Add(faultNodeKill))
			var err error
			if leader, err = cl.leader(natsadapter.JobsStream); err != nil {
				t.Error(err)
				return
			}
			nodeKilledAt = time.Now()
			cl.kill(leader)
			// The window: until the survivors elected the jobs stream a
			// new leader (or the killed node, restarted, leads again).
			killed := leader
			faults.Go(func() {
				for time.Since(nodeKilledAt) < 20*time.Second {
					if i, err := cl.leader(natsadapter.JobsStream); err == nil && (i != killed || time.Since(nodeKilledAt) > faultRestart-faultNodeKill) {
						leaderBackAt = time.Now()
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
			})
		}
		sleepUntil(t0.Add(faultRestart))
		if replicated {
			if err := cl.restart(leader); err != nil {
				t.Error(err)
			}
		}
		if err := workers[0].restart(); err != nil {
			t.Error(err)
		}
	})
	for i := range total {
		sleepUntil(t0.Add(time.Duration(i) * time.Second / faultRate))
		gw := gateways[i%len(gateways)].addr()
		sends.Go(func() { results[i] = postSlash(client, gw, hooks.URL, i) })
	}
	sends.Wait()
	faults.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// Drain: every acked command's answer, within a bound.
	drained := fake.wait(60*time.Second, func(i int) bool { return results[i].kind == acked }, total)
	time.Sleep(2 * time.Second) // room for a doubled run or answer to show
	if !drained {
		t.Errorf("acked commands still unanswered after 60 s; logs in %s", dir)
	}

	auditRecs := clusterAudit(t, bin, cl, dir)
	refuseUntil := nodeKilledAt.Add(faultRefusals)
	if !leaderBackAt.IsZero() {
		refuseUntil = leaderBackAt.Add(faultReconnect)
	}
	rep := faultReport(t, dir, results, readRuns(t, ran), fake, auditRecs, hooks.URL, killedWorker, workerKilledAt, nodeKilledAt, refuseUntil)
	rep.election = leaderBackAt.Sub(nodeKilledAt)
	if rep.acked < total/2 {
		t.Errorf("only %d of %d commands were acked", rep.acked, total)
	}
	if rep.unknown > faultWorkers {
		t.Errorf("%d commands answered unknown, more than the %d a killed worker was running:\n%s", rep.unknown, faultWorkers, strings.Join(rep.unknowns, "\n"))
	}
	t.Logf("cluster faults in %s: %s; worker killed at +%.1fs; %d gateways, %d workers × %d",
		time.Since(start).Round(100*time.Millisecond), rep, workerKilledAt.Sub(t0).Seconds(), len(gateways), len(workers), faultWorkers)
	if !replicated {
		t.Skipf("NATS node kill not run: %s has %d replica(s) on a 3-node cluster; waits for replicas that follow the cluster (--replicas)",
			natsadapter.JobsStream, info.Config.Replicas)
	}
}

// ackKind is what a gateway said to a slash command.
type ackKind int

const (
	noReply    ackKind = iota // no HTTP answer in time
	acked                     // "Running …": the job is queued
	refused                   // a "try again" that says nothing ran
	uncertain                 // the store could record neither the job nor its refusal: check jobs
	otherReply                // anything else
)

// ackResult is one slash command's ack.
type ackResult struct {
	kind          ackKind
	sent, replied time.Time
	status        int
	body          string
	noReplyErr    error
}

// postSlash sends slash command i (slashForm) to the gateway at addr and
// classifies its ack.
func postSlash(client *http.Client, addr, hooksURL string, i int) ackResult {
	body := slashForm(hooksURL, i)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/slack/commands", strings.NewReader(body))
	req.Header = sign(body)
	r := ackResult{sent: time.Now()}
	resp, err := client.Do(req)
	if err != nil {
		r.replied, r.noReplyErr = time.Now(), err
		return r
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r.replied, r.status, r.body = time.Now(), resp.StatusCode, string(b)
	switch {
	case resp.StatusCode != http.StatusOK:
		r.kind = otherReply
	case strings.Contains(r.body, `"Running `):
		r.kind = acked
	case strings.Contains(r.body, "was not run") && strings.Contains(strings.ToLower(r.body), "try again"):
		r.kind = refused
	case strings.Contains(r.body, "could not tell whether it took"):
		r.kind = uncertain
	default:
		r.kind = otherReply
	}
	return r
}

// clusterClient is an HTTP client for many requests a second to a few
// gateways: it keeps its connections, and waits past Slack's deadline so a
// slow ack is measured rather than lost.
func clusterClient() *http.Client {
	// Idle connections are closed here before the server would: a request
	// on one the server is closing fails with EOF, which is the client's
	// race, not the gateway's.
	return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: 5 * time.Second}}
}

func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }

// faultFigures are the fault test's counts.
type faultFigures struct {
	sent, acked, refused, uncertain, answered, unknown, unknownRan, lost, doubled, answeredTwice int
	late                                                                                         int // acks slower than Slack's deadline
	longestAnswer, ackP99                                                                        time.Duration
	firstRefusal, lastRefusal                                                                    time.Duration // by reply, from the node kill
	election                                                                                     time.Duration // from the node kill to the jobs stream's new leader
	unknowns                                                                                     []string      // the commands answered unknown, and when
}

func (f faultFigures) String() string {
	refusals := "no refusals"
	if f.refused > 0 {
		refusals = fmt.Sprintf("refused from %+.2fs to %+.2fs after the node kill", f.firstRefusal.Seconds(), f.lastRefusal.Seconds())
	}
	if f.election > 0 {
		refusals += fmt.Sprintf("; the jobs stream had a new leader %.2fs after the kill", f.election.Seconds())
	}
	return fmt.Sprintf("sent %d, acked %d, refused %d (%s), uncertain %d, answered %d (%d unknown, of which %d ran), lost %d, doubled %d, answered twice %d, acks after 3 s %d, ack p99 %s, longest answer delay %s",
		f.sent, f.acked, f.refused, refusals, f.uncertain, f.answered, f.unknown, f.unknownRan, f.lost, f.doubled, f.answeredTwice, f.late,
		f.ackP99.Round(time.Millisecond), f.longestAnswer.Round(time.Millisecond))
}

// faultReport checks each command against its ack, its runs (runs[arg]),
// its answers and the audit, reports what fails, and counts.
func faultReport(t *testing.T, dir string, results []ackResult, runs map[string]int, fake *answerLog, recs []auditRecord, hooksURL, killedWorker string, workerKill, nodeKill, refuseUntil time.Time) faultFigures {
	t.Helper()
	audited := map[string][]string{} // outcomes by job
	for _, r := range recs {
		if r.Event == "" && r.JobID != "" {
			audited[r.JobID] = append(audited[r.JobID], r.Outcome)
		}
	}
	f := faultFigures{sent: len(results)}
	var ackTimes []time.Duration
	fake.mu.Lock()
	defer fake.mu.Unlock()
	bad := 0
	errorf := func(format string, args ...any) {
		if bad++; bad <= 20 {
			t.Errorf(format, args...)
		}
	}
	for i, r := range results {
		arg, id := fmt.Sprintf("arg%d", i), slashID(hooksURL, i)
		n, answers := runs[arg], fake.text[i]
		if n > 1 {
			f.doubled++
			errorf("command %d (job %s) ran %d times", i, id, n)
		}
		switch r.kind {
		case noReply:
			errorf("command %d got no ack: %v", i, r.noReplyErr)
			continue
		case otherReply:
			errorf("command %d: ack %d %q, want Running or a try again", i, r.status, r.body)
			continue
		case uncertain:
			// Said as such, within the fault: it may have run, once, and
			// then it was answered.
			f.uncertain++
			if nodeKill.IsZero() || r.replied.Before(nodeKill) || r.sent.After(refuseUntil) {
				errorf("command %d sent at %+.2fs from the node kill uncertain, after the window (to %+.2fs): %q", i, r.sent.Sub(nodeKill).Seconds(), refuseUntil.Sub(nodeKill).Seconds(), r.body)
			}
			if n > 1 || (n == 1 && len(answers) == 0) {
				errorf("uncertain command %d ran %d times with %d answers", i, n, len(answers))
			}
			continue
		case refused:
			f.refused++
			d := r.replied.Sub(nodeKill)
			if f.refused == 1 || d < f.firstRefusal {
				f.firstRefusal = d
			}
			f.lastRefusal = max(f.lastRefusal, d)
			if nodeKill.IsZero() || r.replied.Before(nodeKill) || r.sent.After(refuseUntil) {
				errorf("command %d sent at %+.2fs from the node kill refused, after the window (to %+.2fs): %q", i, r.sent.Sub(nodeKill).Seconds(), refuseUntil.Sub(nodeKill).Seconds(), r.body)
			}
			// Its audit says so (a write that landed late runs nothing).
			if n > 0 || len(answers) > 0 || slices.ContainsFunc(audited[id], func(o string) bool { return o != "unavailable" }) {
				errorf("command %d (job %s) was refused at %+.3fs from the node kill, yet ran %d times, has audit outcomes %q and answers %q at %s; its log lines:\n%s",
					i, id, d.Seconds(), n, audited[id], answers, sinces(fake.at[i], nodeKill), jobLogLines(dir, id))
			}
			continue
		}
		f.acked++
		ackTimes = append(ackTimes, r.replied.Sub(r.sent))
		if d := r.replied.Sub(r.sent); d > slackDeadline {
			// Slack would have shown the person a timeout for a command
			// that runs.
			f.late++
			t.Logf("command %d acked after %s, past Slack's %s, at %+.2fs from the node kill", i, d.Round(time.Millisecond), slackDeadline, r.replied.Sub(nodeKill).Seconds())
		}
		if len(answers) == 0 {
			f.lost++
			errorf("acked command %d (job %s) was never answered (ran %d times)", i, id, n)
			continue
		}
		f.answered++
		f.longestAnswer = max(f.longestAnswer, fake.at[i][0].Sub(r.replied))
		if len(answers) > 1 {
			f.answeredTwice++
			t.Logf("command %d (job %s) answered %d times: %q, at %s from the worker kill and %s from the node kill",
				i, id, len(answers), answers, sinces(fake.at[i], workerKill), sinces(fake.at[i], nodeKill))
		}
		unknown := strings.Contains(answers[0], "unknown")
		if unknown {
			f.unknown++
			f.unknownRan += min(n, 1)
			f.unknowns = append(f.unknowns, fmt.Sprintf("command %d (job %s, ran %d times) answered at %s from the worker kill, %s from the node kill: %q",
				i, id, n, sinces(fake.at[i], workerKill), sinces(fake.at[i], nodeKill), answers[0]))
			if !strings.Contains(answers[0], killedWorker) {
				// Only the killed worker's jobs may be unknown: a job
				// on one that lived ran, or did not, and it knows.
				errorf("command %d (job %s, ran %d times) answered unknown, yet not started on the killed worker (%q): %q", i, id, n, killedWorker, answers[0])
			}
		}
		switch {
		case n == 0 && !unknown:
			f.lost++
			errorf("acked command %d (job %s) never ran; answered %q", i, id, answers[0])
		case len(audited[id]) != 1:
			errorf("acked command %d (job %s) has audit outcomes %q, want one", i, id, audited[id])
		}
	}
	if bad > 20 {
		t.Errorf("(and %d more errors)", bad-20)
	}
	slices.Sort(ackTimes)
	if len(ackTimes) > 0 {
		f.ackP99 = ackTimes[len(ackTimes)*99/100]
	}
	return f
}

// jobLogLines returns the lines of the serve logs under dir that name job
// id, each after its process's name.
func jobLogLines(dir, id string) string {
	logs, _ := filepath.Glob(filepath.Join(dir, "*", "serve.log"))
	var out []string
	for _, name := range logs {
		data, _ := os.ReadFile(name)
		for _, l := range strings.Split(string(data), "\n") {
			if strings.Contains(l, id) {
				out = append(out, filepath.Base(filepath.Dir(name))+": "+l)
			}
		}
	}
	return strings.Join(out, "\n")
}

// sinces lists times relative to t0, in seconds.
func sinces(ts []time.Time, t0 time.Time) string {
	var s []string
	for _, t := range ts {
		s = append(s, fmt.Sprintf("%+.3fs", t.Sub(t0).Seconds()))
	}
	return strings.Join(s, ",")
}

// readRuns counts the runs of each note argument in the effect file.
func readRuns(t testing.TB, ran string) map[string]int {
	t.Helper()
	data, err := os.ReadFile(ran)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	runs := map[string]int{}
	for _, l := range strings.Fields(string(data)) {
		runs[l]++
	}
	return runs
}

// answerLog is a fake response_url host that takes every answer and keeps
// each with the time it came.
type answerLog struct {
	mu   sync.Mutex
	text map[int][]string // by command number
	at   map[int][]time.Time
}

func newAnswerLog() *answerLog {
	return &answerLog{text: map[int][]string{}, at: map[int][]time.Time{}}
}

func (a *answerLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/resp/"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	var m struct{ Text string }
	_ = json.NewDecoder(r.Body).Decode(&m)
	a.mu.Lock()
	a.text[n] = append(a.text[n], m.Text)
	a.at[n] = append(a.at[n], time.Now())
	a.mu.Unlock()
	io.WriteString(w, "ok")
}

// wait waits up to d for an answer to every command i < total that want
// selects, and reports whether they all came.
func (a *answerLog) wait(d time.Duration, want func(i int) bool, total int) bool {
	deadline := time.Now().Add(d)
	for {
		missing := 0
		a.mu.Lock()
		for i := range total {
			if want(i) && len(a.text[i]) == 0 {
				missing++
			}
		}
		a.mu.Unlock()
		if missing == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// clusterSetup builds chatops, writes crashConfig (its note command appends
// to the file ran) and starts a fake response_url host that takes every
// answer, closed with the test.
func clusterSetup(t testing.TB) (bin, dir, ran string, fake *answerLog, hooks *httptest.Server) {
	t.Helper()
	bin, dir = chatopsBinary(t), t.TempDir()
	ran = filepath.Join(dir, "ran")
	fake = newAnswerLog()
	hooks = httptest.NewServer(fake)
	t.Cleanup(hooks.Close)
	return bin, dir, ran, fake, hooks
}

// clusterServe is a chatops serve against the cluster, in a dir of its own
// under the test's (its config and serve.log), restartable.
type clusterServe struct {
	bin, dir string
	args     []string
	cur      atomic.Pointer[serveProc]
}

// startClusterServe starts chatops serve in role gateway or worker on the
// cluster, waits until it is ready, and kills it with the test.
func startClusterServe(t testing.TB, bin string, cl *natsCluster, parent, name, role, hooksURL string) *clusterServe {
	t.Helper()
	s := &clusterServe{bin: bin, dir: filepath.Join(parent, name)}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	config := strings.ReplaceAll(crashConfig, "FILE", filepath.Join(parent, "ran"))
	if err := os.WriteFile(filepath.Join(s.dir, "chatops.yaml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	s.args = append(roleFlags(t, bin, role), "--job-ack-wait", faultAckWait,
		"--nats-url", cl.urls(), "--response-hosts", strings.TrimPrefix(hooksURL, "http://"))
	if serveHas(t, bin, "--replicas") {
		s.args = append(s.args, "--replicas", strconv.Itoa(len(cl.nodes)))
	}
	t.Cleanup(s.kill)
	if err := s.restart(); err != nil {
		t.Fatal(err)
	}
	return s
}

// roleFlags are the flags that make chatops serve a gateway or a worker:
// --role where serve has it, else a serve without workers or with them.
func roleFlags(t testing.TB, bin, role string) []string {
	t.Helper()
	workers := []string{"--workers", strconv.Itoa(faultWorkers)}
	if serveHas(t, bin, "--role") {
		if role == "worker" {
			return append([]string{"--role", role}, workers...)
		}
		return []string{"--role", role}
	}
	if role == "gateway" {
		return []string{"--workers", "0"}
	}
	return workers
}

var (
	serveHelpOnce sync.Once
	serveHelp     string
)

// serveHas reports whether chatops serve has a flag, from its help.
func serveHas(t testing.TB, bin, flag string) bool {
	t.Helper()
	serveHelpOnce.Do(func() {
		out, _ := exec.Command(bin, "serve", "--help").Output()
		serveHelp = string(out)
	})
	return strings.Contains(serveHelp, flag+"=")
}

func (s *clusterServe) addr() string { return s.cur.Load().addr }

// restart starts the process, on its dir, and waits until /readyz says 200.
func (s *clusterServe) restart() error {
	p, err := launchServe(s.bin, s.dir, s.args...)
	if err != nil {
		logText, _ := os.ReadFile(filepath.Join(s.dir, "serve.log"))
		return fmt.Errorf("%s: %w\n%s", s.dir, err, logText)
	}
	s.cur.Store(p)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + p.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after 30 s (log: %s)", s.dir, p.log.Name())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill SIGKILLs the process if it runs.
func (s *clusterServe) kill() {
	if p := s.cur.Load(); p != nil && p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
		p.log.Close()
	}
}

// auditRecord is what the fault test reads of chatops audit -o json.
type auditRecord struct {
	JobID   string `json:"job_id"`
	Event   string `json:"event"`
	Outcome string `json:"outcome"`
}

// clusterAudit reads the whole audit from the cluster.
func clusterAudit(t testing.TB, bin string, cl *natsCluster, dir string) []auditRecord {
	t.Helper()
	// The checker reads as any client would: a connection the cluster
	// drops while the restarted node catches up is read again.
	var out []byte
	for attempt := 1; ; attempt++ {
		cmd := exec.Command(bin, "--nats-url", cl.urls(), "--config", filepath.Join(dir, "gateway1", "chatops.yaml"),
			"audit", "--limit", "1000000", "-o", "json")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		var err error
		if out, err = cmd.Output(); err == nil {
			break
		}
		if attempt == 5 {
			t.Fatalf("chatops audit: %v\n%s%.500s", err, stderr.String(), out)
		}
		t.Logf("chatops audit, attempt %d: %v\n%s%.300s", attempt, err, stderr.String(), out)
		time.Sleep(time.Second)
	}
	var recs []auditRecord
	if err := json.Unmarshal(out, &recs); err != nil {
		t.Fatalf("audit JSON: %v\n%.500s", err, out)
	}
	return recs
}

// natsCluster is a JetStream cluster of nats-server processes on 127.0.0.1.
type natsCluster struct {
	bin   string
	nodes []*natsNode
}

// natsNode is one server of a natsCluster: its config names its store dir
// and ports, so a restart comes back as the same node.
type natsNode struct {
	name, conf, url, log string
	cmd                  *exec.Cmd
}

var (
	natsBinOnce sync.Once
	natsBinPath string
	natsBinErr  error
)

// natsServerBinary builds nats-server from the module chatops depends on,
// once per test run, beside the chatops binary (which TestMain removes).
func natsServerBinary(tb testing.TB) string {
	tb.Helper()
	chatops := chatopsBinary(tb)
	natsBinOnce.Do(func() {
		natsBinPath = filepath.Join(filepath.Dir(chatops), "nats-server")
		if out, err := exec.Command("go", "build", "-o", natsBinPath, "github.com/nats-io/nats-server/v2").CombinedOutput(); err != nil {
			natsBinErr = fmt.Errorf("building nats-server: %v\n%s", err, out)
		}
	})
	if natsBinErr != nil {
		tb.Fatal(natsBinErr)
	}
	return natsBinPath
}

// startCluster starts an n-node JetStream cluster, killed with the test, and
// waits until it has a meta leader.
func startCluster(tb testing.TB, n int) *natsCluster {
	tb.Helper()
	cl := &natsCluster{bin: natsServerBinary(tb)}
	ports := freePorts(tb, 2*n)
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[n+i]))
	}
	dir := tb.TempDir()
	for i := range n {
		node := &natsNode{name: fmt.Sprintf("n%d", i), url: fmt.Sprintf("nats://127.0.0.1:%d", ports[i])}
		ndir := filepath.Join(dir, node.name)
		if err := os.MkdirAll(ndir, 0o700); err != nil {
			tb.Fatal(err)
		}
		node.conf, node.log = filepath.Join(ndir, "nats.conf"), filepath.Join(ndir, "nats.log")
		conf := fmt.Sprintf("server_name: %s\nlisten: 127.0.0.1:%d\njetstream { store_dir: %q }\ncluster {\n  name: chatops-test\n  listen: 127.0.0.1:%d\n  routes: [%s]\n}\n",
			node.name, ports[i], filepath.Join(ndir, "store"), ports[n+i], strings.Join(routes, ", "))
		if err := os.WriteFile(node.conf, []byte(conf), 0o600); err != nil {
			tb.Fatal(err)
		}
		cl.nodes = append(cl.nodes, node)
	}
	tb.Cleanup(func() {
		for i := range cl.nodes {
			cl.kill(i)
		}
	})
	for i := range cl.nodes {
		if err := cl.restart(i); err != nil {
			tb.Fatal(err)
		}
	}
	if err := cl.waitMetaLeader(30 * time.Second); err != nil {
		tb.Fatal(err)
	}
	return cl
}

// freePorts asks the OS for n distinct free ports on 127.0.0.1.
func freePorts(tb testing.TB, n int) []int {
	tb.Helper()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		defer ln.Close() // held until all are chosen, so none repeats
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// urls are the client URLs of every node, comma-separated.
func (cl *natsCluster) urls() string {
	var us []string
	for _, n := range cl.nodes {
		us = append(us, n.url)
	}
	return strings.Join(us, ",")
}

// restart starts node i on its config and waits until it takes clients.
func (cl *natsCluster) restart(i int) error {
	n := cl.nodes[i]
	logf, err := os.OpenFile(n.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(cl.bin, "-c", n.conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting nats-server %s: %w", n.name, err)
	}
	n.cmd = cmd
	addr := strings.TrimPrefix(n.url, "nats://")
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nats-server %s does not listen on %s after 15 s (log: %s)", n.name, addr, n.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill SIGKILLs node i if it runs.
func (cl *natsCluster) kill(i int) {
	if c := cl.nodes[i].cmd; c != nil && c.ProcessState == nil {
		_ = c.Process.Signal(syscall.SIGKILL)
		_ = c.Wait()
	}
}

// waitMetaLeader waits until JetStream answers account info, which takes a
// meta leader.
func (cl *natsCluster) waitMetaLeader(d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	conn, err := nc.Connect(cl.urls(), nc.Timeout(2*time.Second))
	if err != nil {
		return fmt.Errorf("connecting to the cluster: %w", err)
	}
	defer conn.Close()
	js, err := jetstream.New(conn)
	if err != nil {
		return err
	}
	for {
		try, done := context.WithTimeout(ctx, time.Second)
		_, err := js.AccountInfo(try)
		done()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no JetStream meta leader after %s: %w", d, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// streamInfo returns a stream's info from the cluster.
func (cl *natsCluster) streamInfo(name string) (*jetstream.StreamInfo, error) {
	// Short: the window's end is polled with it while the stream elects.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn, err := nc.Connect(cl.urls(), nc.Timeout(2*time.Second))
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	defer conn.Close()
	js, err := jetstream.New(conn)
	if err != nil {
		return nil, err
	}
	st, err := js.Stream(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", name, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", name, err)
	}
	if info.Cluster == nil {
		return nil, fmt.Errorf("stream %s has no cluster info", name)
	}
	return info, nil
}

// leader returns the index of the node that leads a stream.
func (cl *natsCluster) leader(stream string) (int, error) {
	info, err := cl.streamInfo(stream)
	if err != nil {
		return -1, err
	}
	i := slices.IndexFunc(cl.nodes, func(n *natsNode) bool { return n.name == info.Cluster.Leader })
	if i < 0 {
		return -1, fmt.Errorf("stream %s's leader %q is none of the cluster's nodes", stream, info.Cluster.Leader)
	}
	return i, nil
}

// logTails logs the last lines of every process's log under dir and of
// the cluster's nodes, before the test's temporary dirs go.
func logTails(t *testing.T, dir string, cl *natsCluster) {
	logs, _ := filepath.Glob(filepath.Join(dir, "*", "serve.log"))
	for _, n := range cl.nodes {
		logs = append(logs, n.log)
	}
	for _, name := range logs {
		data, _ := os.ReadFile(name)
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		t.Logf("%s, last lines:\n%s", name, strings.Join(lines[max(0, len(lines)-15):], "\n"))
	}
}
