package heroku

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/chatops/chatops/adapters/internal/netx"
	"github.com/chatops/chatops/engine"
)

// uuid matches a Heroku id, which needs no lookup.
var uuid = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// run is one deployment under way: what it learned so far.
type run struct {
	d        *Driver
	c        *client
	dep      *engine.Deployment
	progress func(string)
	tail     []string
	// known says what was last known, for a deadline's message.
	known string
}

// nothingYet is what is known before any request that could start a change.
const nothingYet = "nothing was started on Heroku"

// Deploy implements engine.Driver: it promotes into the stage's app, or
// rolls it back to dep.Ref, and follows the change to its end.
func (d *Driver) Deploy(ctx context.Context, dep *engine.Deployment, progress func(string)) (*engine.Deployed, error) {
	switch dep.Action {
	case "promote", "rollback":
	case "release", "deploy":
		return nil, engine.Errorf(engine.Invalid, "the heroku driver of %s %s promotes and rolls back; release or deploy into %s is not supported: promote into it", d.Pipeline, dep.Stage, dep.Stage)
	default:
		return nil, engine.Errorf(engine.Invalid, "the heroku driver of %s %s cannot %s: it promotes and rolls back", d.Pipeline, dep.Stage, dep.Action)
	}
	if progress == nil {
		progress = func(string) {}
	}
	timeout := or(d.Timeout, DefaultTimeout)
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r := &run{d: d, c: d.newClient(dep.JobID), dep: dep, progress: progress, known: nothingYet}
	var out *engine.Deployed
	var err error
	if dep.Action == "promote" {
		out, err = r.promote(rctx)
	} else {
		out, err = r.rollback(rctx)
	}
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
		return nil, &engine.DriverError{Driver: "heroku", Msg: "canceled; " + r.known, Log: r.tail, Err: ctx.Err(), Unknown: started}
	case rctx.Err() != nil:
		return nil, &engine.DriverError{Driver: "heroku", Msg: fmt.Sprintf("timed out after %s; %s", timeout, r.known), Log: r.tail, Err: rctx.Err(), Unknown: started}
	case errors.As(err, &de):
		return nil, de
	}
	return nil, &engine.DriverError{Driver: "heroku", Msg: r.redact("Heroku could not be reached: " + err.Error() + "; " + r.known), Log: r.tail, Err: err, Unknown: started && !netx.NotSent(err)}
}

// promote creates the pipeline promotion and follows its target.
func (r *run) promote(ctx context.Context) (*engine.Deployed, error) {
	d, dep := r.d, r.dep
	if dep.From == "" {
		return nil, engine.Errorf(engine.Invalid, "the heroku driver of %s %s needs the stage to promote from", d.Pipeline, dep.Stage)
	}
	srcApp := d.Apps[dep.From]
	if srcApp == "" {
		return nil, engine.Errorf(engine.Invalid, "cannot promote %s %s to %s through Heroku: stage %q has no heroku app (deploy.%s.heroku.app)", d.Pipeline, dep.From, dep.Stage, dep.From, dep.From)
	}
	if d.App == "" || d.HerokuPipeline == "" {
		return nil, engine.Errorf(engine.Invalid, "the heroku driver of %s %s needs its app and the Heroku pipeline's id", d.Pipeline, dep.Stage)
	}
	srcID, err := r.appID(ctx, srcApp)
	if err != nil {
		return nil, err
	}
	dstID, err := r.appID(ctx, d.App)
	if err != nil {
		return nil, err
	}
	body := promotionRequest{
		Pipeline: idRef{ID: d.HerokuPipeline},
		Source:   appRef{App: idRef{ID: srcID}},
		Targets:  []appRef{{App: idRef{ID: dstID}}},
	}
	r.known = "the promotion was being asked for; Heroku's answer did not come"
	a, err := r.c.do(ctx, http.MethodPost, "/pipeline-promotions", body)
	if err != nil {
		return nil, err
	}
	if !a.ok() {
		return nil, r.refused(a, fmt.Sprintf("promote %s to %s", srcApp, d.App))
	}
	var p promotion
	if err := a.decode("the promotion", &p); err != nil {
		return nil, r.failed(err.Error(), err)
	}
	label := d.App // the engine names the stage
	r.say(fmt.Sprintf("promoting %s to %s: promotion %s %s", srcApp, d.App, p.ID, p.Status))
	r.known = fmt.Sprintf("promotion %s was %s", p.ID, p.Status)

	seen := make(map[string]string) // target id → status last told
	for {
		a, err := r.c.do(ctx, http.MethodGet, "/pipeline-promotions/"+url.PathEscape(p.ID)+"/promotion-targets", nil)
		if err != nil {
			return nil, err
		}
		if !a.ok() {
			return nil, r.refused(a, "read promotion "+p.ID)
		}
		var targets []promotionTarget
		if err := a.decode("the promotion's targets", &targets); err != nil {
			return nil, r.failed(err.Error(), err)
		}
		done := len(targets) > 0
		var failed, succeeded *promotionTarget
		for i := range targets {
			t := &targets[i]
			name := t.App.ID
			if t.App.ID == dstID {
				name = label
			}
			if seen[t.ID] != t.Status {
				seen[t.ID] = t.Status
				r.say(name + ": " + t.Status)
				r.known = fmt.Sprintf("promotion %s: %s was %s", p.ID, name, t.Status)
			}
			switch t.Status {
			case "failed":
				failed = t
			case "succeeded":
				if t.App.ID == dstID || succeeded == nil {
					succeeded = t
				}
			default:
				done = false
			}
		}
		if done && failed != nil {
			msg := failed.ErrorMessage
			if msg == "" {
				msg = fmt.Sprintf("promotion %s to %s failed", p.ID, d.App)
			}
			return nil, r.failed(msg, nil)
		}
		if done {
			ref := p.ID
			if succeeded.Release != nil && succeeded.Release.ID != "" {
				ref = succeeded.Release.ID
			}
			return &engine.Deployed{
				Ref:     ref,
				URL:     dashboard(d.App),
				Message: fmt.Sprintf("promoted %s to %s", srcApp, d.App),
			}, nil
		}
		if err := r.wait(ctx); err != nil {
			return nil, err
		}
	}
}

// rollback asks Heroku to roll the app back to dep.Ref and follows the new
// release.
func (r *run) rollback(ctx context.Context) (*engine.Deployed, error) {
	d, dep := r.d, r.dep
	if dep.Ref == "" {
		what := dep.Version
		if what == "" {
			what = "that version"
		}
		return nil, engine.Errorf(engine.Invalid, "cannot roll %s %s back to %s through Heroku: chatops does not know Heroku's release for %s (it keeps one only for releases the heroku driver made); roll back with \"heroku releases:rollback\" instead", d.Pipeline, dep.Stage, what, what)
	}
	if d.App == "" {
		return nil, engine.Errorf(engine.Invalid, "the heroku driver of %s %s needs its app", d.Pipeline, dep.Stage)
	}
	base := "/apps/" + url.PathEscape(d.App) + "/releases"
	r.known = "the rollback was being asked for; Heroku's answer did not come"
	a, err := r.c.do(ctx, http.MethodPost, base, rollbackRequest{Release: dep.Ref})
	if err != nil {
		return nil, err
	}
	if !a.ok() {
		return nil, r.refused(a, fmt.Sprintf("roll %s back to release %s", d.App, dep.Ref))
	}
	var rel release
	if err := a.decode("the release", &rel); err != nil {
		return nil, r.failed(err.Error(), err)
	}
	last := ""
	for {
		if rel.Status != last {
			last = rel.Status
			r.say(fmt.Sprintf("%s: release v%d %s: %s", d.App, rel.Version, rel.Description, or(rel.Status, "pending")))
			r.known = fmt.Sprintf("release v%d of %s was %s", rel.Version, d.App, or(rel.Status, "pending"))
		}
		switch rel.Status {
		case "succeeded":
			return &engine.Deployed{Ref: rel.ID, URL: dashboard(d.App), Message: rel.Description}, nil
		case "failed":
			return nil, r.failed(fmt.Sprintf("release v%d of %s (%s) failed", rel.Version, d.App, rel.Description), nil)
		}
		if err := r.wait(ctx); err != nil {
			return nil, err
		}
		a, err := r.c.do(ctx, http.MethodGet, base+"/"+url.PathEscape(rel.ID), nil)
		if err != nil {
			return nil, err
		}
		if !a.ok() {
			return nil, r.refused(a, fmt.Sprintf("read release %s of %s", rel.ID, d.App))
		}
		if err := a.decode("the release", &rel); err != nil {
			return nil, r.failed(err.Error(), err)
		}
	}
}

// appID returns the id of app, given by name or id, asking Heroku once per
// name for the Driver's life.
func (r *run) appID(ctx context.Context, name string) (string, error) {
	if uuid.MatchString(name) {
		return name, nil
	}
	d := r.d
	d.mu.Lock()
	id, ok := d.ids[name]
	d.mu.Unlock()
	if ok {
		return id, nil
	}
	a, err := r.c.do(ctx, http.MethodGet, "/apps/"+url.PathEscape(name), nil)
	if err != nil {
		return "", err
	}
	if !a.ok() {
		return "", r.refused(a, "find app "+name)
	}
	var ap app
	if err := a.decode("app "+name, &ap); err != nil {
		return "", r.failed(err.Error(), err)
	}
	if ap.ID == "" {
		return "", r.failed("Heroku's answer for app "+name+" has no id", nil)
	}
	d.mu.Lock()
	if d.ids == nil {
		d.ids = make(map[string]string)
	}
	d.ids[name] = ap.ID
	d.mu.Unlock()
	return ap.ID, nil
}

// refused turns an error answer into the outcome it is.
func (r *run) refused(a *answer, what string) error {
	msg := r.redact(a.message())
	status := fmt.Sprintf("%d %s", a.status, http.StatusText(a.status))
	switch {
	case a.status == http.StatusConflict:
		return engine.Errorf(engine.Conflict, "Heroku refused to %s (%s): %s", what, status, msg)
	case a.status == http.StatusUnauthorized:
		return r.failed(fmt.Sprintf("Heroku rejected the API token in $%s (%s): %s", or(r.d.TokenEnv, DefaultTokenEnv), status, msg), nil)
	case a.status == http.StatusForbidden:
		return r.failed(fmt.Sprintf("the API token in $%s may not %s (%s): %s", or(r.d.TokenEnv, DefaultTokenEnv), what, status, msg), nil)
	case a.status >= 500 || a.status == http.StatusTooManyRequests:
		return r.failed(fmt.Sprintf("could not %s: Heroku still answered %s after retries: %s", what, status, msg), nil)
	}
	return r.failed(fmt.Sprintf("could not %s: Heroku answered %s: %s", what, status, msg), nil)
}

// failed is the deployment's failure with msg, quoting the lines seen.
func (r *run) failed(msg string, err error) error {
	return &engine.DriverError{Driver: "heroku", Msg: r.redact(msg), Log: r.tail, Err: err}
}

// say sends line to progress and keeps it for a failure's log.
func (r *run) say(line string) {
	line = r.redact(line)
	r.progress(line)
	r.tail = append(r.tail, line)
	if len(r.tail) > logTail {
		r.tail = append(r.tail[:0:0], r.tail[len(r.tail)-logTail:]...)
	}
}

// wait waits one poll interval, or until ctx is done.
func (r *run) wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-r.d.after(or(r.d.PollInterval, DefaultPollInterval)):
		return nil
	}
}

// redact removes the token from s, should anything ever echo it.
func (r *run) redact(s string) string {
	if r.d.Token == "" {
		return s
	}
	return strings.ReplaceAll(s, r.d.Token, "[token]")
}

// dashboard is the app's activity page, where its releases are listed.
func dashboard(app string) string {
	return "https://dashboard.heroku.com/apps/" + url.PathEscape(app) + "/activity"
}
