package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/chatops/chatops/adapters/internal/netx"
	"github.com/chatops/chatops/engine"
)

// errFound stops the retries of a POST whose deployment turned out to exist.
type errFound struct{ dp *deployment }

func (e *errFound) Error() string { return fmt.Sprintf("deployment %d exists already", e.dp.ID) }

// run is one deployment under way: what it learned so far.
type run struct {
	d        *Driver
	c        *client
	dep      *engine.Deployment
	ref, env string
	progress func(string)
	tail     []string
	// known says what was last known, for a deadline's message.
	known string
}

// nothingYet is what is known before any request that could start a change.
const nothingYet = "no deployment was created"

// Deploy implements engine.Driver: it creates (or finds, for a job run
// again) the job's GitHub deployment and follows its statuses to the end.
func (d *Driver) Deploy(ctx context.Context, dep *engine.Deployment, progress func(string)) (*engine.Deployed, error) {
	switch dep.Action {
	case "release", "deploy", "promote", "rollback":
	default:
		return nil, engine.Errorf(engine.Invalid, "the github driver cannot %s: it releases, deploys, promotes and rolls back", dep.Action)
	}
	ref := or(dep.Commit, or(dep.Branch, dep.Version))
	if ref == "" {
		return nil, engine.Errorf(engine.Invalid, "the github driver needs a commit, a branch or a version to %s %s to %s", dep.Action, dep.Pipeline, dep.Stage)
	}
	if progress == nil {
		progress = func(string) {}
	}
	timeout := or(d.Timeout, DefaultTimeout)
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r := &run{
		d: d, c: d.newClient(), dep: dep, ref: ref, env: or(d.Environment, dep.Stage),
		progress: progress, known: nothingYet,
	}
	out, err := r.deploy(rctx)
	if err == nil {
		return out, nil
	}
	// Once what is known has moved on from its first words, a change may
	// have started: losing sight of it now leaves the outcome unknown.
	started := r.known != nothingYet
	var ee *engine.Error
	var de *engine.DriverError
	switch {
	case errors.As(err, &ee):
		return nil, err
	case ctx.Err() != nil:
		return nil, &engine.DriverError{Driver: "github", Msg: "canceled; " + r.known, Log: r.tail, Err: ctx.Err(), Unknown: started}
	case rctx.Err() != nil:
		return nil, &engine.DriverError{Driver: "github", Msg: fmt.Sprintf("timed out after %s; %s", timeout, r.known), Log: r.tail, Err: rctx.Err(), Unknown: started}
	case errors.As(err, &de):
		return nil, de
	}
	msg := "GitHub could not be reached: " + err.Error()
	if started {
		msg += "; " + r.known
	}
	return nil, &engine.DriverError{Driver: "github", Msg: r.redact(msg), Log: r.tail, Err: err, Unknown: started && !netx.NotSent(err)}
}

func (r *run) deploy(ctx context.Context) (*engine.Deployed, error) {
	dp, err := r.find(ctx)
	if err != nil {
		return nil, err
	}
	if dp != nil {
		r.say(fmt.Sprintf("following GitHub deployment %d of %s to %s, created earlier for job %s", dp.ID, r.ref, r.env, r.dep.JobID))
		r.known = created(dp)
	} else if dp, err = r.create(ctx); err != nil {
		return nil, err
	}
	return r.follow(ctx, dp)
}

// find returns the deployment of the job, if GitHub has one already.
func (r *run) find(ctx context.Context) (*deployment, error) {
	if r.dep.JobID == "" {
		return nil, nil
	}
	q := url.Values{"environment": {r.env}, "task": {"deploy"}, "ref": {r.ref}, "per_page": {"20"}}
	a, err := r.c.do(ctx, http.MethodGet, "/deployments", q, nil)
	if err != nil {
		return nil, err
	}
	if a.status != http.StatusOK {
		return nil, r.failed("listing deployments", a)
	}
	var list []deployment
	if err := json.Unmarshal(a.body, &list); err != nil {
		return nil, r.fail(fmt.Sprintf("GitHub's list of deployments is not JSON: %v", err), err)
	}
	// One job may change several stages that share a GitHub environment
	// (a promotion to two regions): the stage tells their deployments apart.
	for i := range list {
		if job, stage := list[i].owner(); job == r.dep.JobID && stage == r.dep.Stage {
			return &list[i], nil
		}
	}
	return nil, nil
}

// create posts the deployment. Before each retry it looks for the
// deployment again: the attempt that seemed to fail may have created it.
func (r *run) create(ctx context.Context) (*deployment, error) {
	dep := r.dep
	body := &deploymentRequest{
		Ref:         r.ref,
		Environment: r.env,
		Task:        "deploy",
		Description: fmt.Sprintf("%s %s %s to %s by %s", dep.Action, dep.Pipeline, or(dep.Version, r.ref), dep.Stage, dep.Actor),
		Payload:     dep,
	}
	if dep.Force {
		body.RequiredContexts = &[]string{}
	}
	hook := func() error {
		dp, err := r.find(ctx)
		switch {
		case err != nil:
			return err
		case dp != nil:
			return &errFound{dp}
		}
		return nil
	}
	r.known = "the deployment was being asked for; GitHub's answer did not come"
	a, err := r.c.do(context.WithValue(ctx, retryHookKey{}, hook), http.MethodPost, "/deployments", nil, body)
	if found := (*errFound)(nil); errors.As(err, &found) {
		r.say(fmt.Sprintf("created GitHub deployment %d of %s to %s (found after a failed answer)", found.dp.ID, r.ref, r.env))
		r.known = created(found.dp)
		return found.dp, nil
	}
	if err != nil {
		return nil, err
	}
	switch a.status {
	case http.StatusCreated:
		var dp deployment
		if err := json.Unmarshal(a.body, &dp); err != nil || dp.ID == 0 {
			return nil, r.fail(fmt.Sprintf("GitHub answered 201 with no deployment: %q", truncate(string(a.body), 200)), err)
		}
		r.say(fmt.Sprintf("created GitHub deployment %d of %s to %s", dp.ID, r.ref, r.env))
		r.known = created(&dp)
		return &dp, nil
	case http.StatusAccepted:
		// GitHub merged the default branch into the ref instead of
		// deploying it; auto_merge is false, so this is unexpected.
		return nil, engine.Errorf(engine.Conflict, "GitHub did not deploy %s to %s: %s", r.ref, r.env, r.redact(a.apiError().Message))
	case http.StatusConflict:
		e := a.apiError()
		msg := fmt.Sprintf("GitHub refused to deploy %s to %s: %s", r.ref, r.env, r.redact(e.Message))
		if f := e.failing(); len(f) > 0 {
			msg += " (failing: " + strings.Join(f, ", ") + ")"
		}
		switch {
		case dep.Force:
		case dep.Action == "release":
			// release has no forced form.
			msg += "; make the checks pass and release again, or deploy it with deploy! if you may force"
		default:
			msg += fmt.Sprintf("; %q forces it past failing checks, if you may", dep.Action+"!")
		}
		return nil, engine.Errorf(engine.Conflict, "%s", msg)
	}
	return nil, r.failed("creating the deployment", a)
}

// follow polls the deployment's statuses until the newest is final.
func (r *run) follow(ctx context.Context, dp *deployment) (*engine.Deployed, error) {
	path := "/deployments/" + strconv.FormatInt(dp.ID, 10) + "/statuses"
	q := url.Values{"per_page": {"30"}}
	after := r.d.After
	if after == nil {
		after = time.After
	}
	poll := or(r.d.PollInterval, DefaultPollInterval)
	var last int64
	for {
		a, err := r.c.do(ctx, http.MethodGet, path, q, nil)
		if err != nil {
			return nil, err
		}
		if a.status != http.StatusOK {
			return nil, r.failed(fmt.Sprintf("reading the statuses of deployment %d", dp.ID), a)
		}
		var list []deploymentStatus
		if err := json.Unmarshal(a.body, &list); err != nil {
			return nil, r.fail(fmt.Sprintf("GitHub's statuses of deployment %d are not JSON: %v", dp.ID, err), err)
		}
		// Newest first: say the new ones oldest first.
		for i := len(list) - 1; i >= 0; i-- {
			if s := &list[i]; s.ID > last {
				last = s.ID
				r.say(r.line(s))
				r.known = fmt.Sprintf("GitHub deployment %d was %s", dp.ID, r.stateText(s))
			}
		}
		if len(list) > 0 {
			s := &list[0]
			switch s.State {
			case "success":
				return &engine.Deployed{
					Ref:     strconv.FormatInt(dp.ID, 10),
					URL:     or(s.EnvironmentURL, or(s.LogURL, or(s.TargetURL, dp.URL))),
					Message: fmt.Sprintf("GitHub deployment %d of %s to %s: %s", dp.ID, r.ref, r.env, r.stateText(s)),
				}, nil
			case "failure", "error", "inactive":
				return nil, &engine.DriverError{
					Driver: "github",
					Msg:    fmt.Sprintf("deployment %d of %s to %s ended in %s", dp.ID, r.ref, r.env, r.stateText(s)),
					Log:    r.tail,
				}
			}
		}
		if err := waitFor(ctx, after, poll); err != nil {
			return nil, err
		}
	}
}

// created is what is known of a deployment with no status yet: whoever
// deploys has not picked it up.
func created(dp *deployment) string {
	return fmt.Sprintf("GitHub deployment %d was created but has no status yet: does a workflow (or another integration) run on its deployment event?", dp.ID)
}

// stateText is "failure: <description>", or the state alone.
func (r *run) stateText(s *deploymentStatus) string {
	if s.Description == "" {
		return s.State
	}
	return s.State + ": " + r.redact(s.Description)
}

// line is the progress line of a status, with its links.
func (r *run) line(s *deploymentStatus) string {
	line := r.stateText(s)
	for _, u := range []string{s.LogURL, s.EnvironmentURL} {
		if u != "" {
			line += " " + r.redact(u)
		}
	}
	return line
}

func (r *run) say(line string) {
	r.tail = append(r.tail, line)
	if len(r.tail) > logTail {
		r.tail = r.tail[len(r.tail)-logTail:]
	}
	r.progress(line)
}

// failed is the error of an answer that is neither success nor a passing
// failure: what was being done, GitHub's status and message, and a hint.
func (r *run) failed(doing string, a *answer) error {
	msg := fmt.Sprintf("%s in %s: GitHub answered %s: %s", doing, r.d.Repo, statusText(a.status), r.redact(a.apiError().detail()))
	switch a.status {
	case http.StatusUnauthorized:
		msg += fmt.Sprintf("; check the token in $%s", or(r.d.TokenEnv, "the token's variable"))
	case http.StatusForbidden, http.StatusNotFound:
		msg += fmt.Sprintf("; check that the repository exists and that the token in $%s may write its deployments", or(r.d.TokenEnv, "the token's variable"))
	}
	if a.status >= 500 || a.status == http.StatusTooManyRequests {
		msg += " (after retries)"
	}
	return r.fail(msg, nil)
}

func (r *run) fail(msg string, err error) error {
	return &engine.DriverError{Driver: "github", Msg: msg, Log: r.tail, Err: err}
}

// redact removes the token from text GitHub or the network sent back, in
// case an answer echoes it.
func (r *run) redact(s string) string {
	if r.d.Token == "" {
		return s
	}
	return strings.ReplaceAll(s, r.d.Token, "[redacted]")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
