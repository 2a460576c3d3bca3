package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/chatops/chatops/engine"
)

// The headers of a GitHub delivery.
const (
	GitHubEventHeader     = "X-GitHub-Event"
	GitHubDeliveryHeader  = "X-GitHub-Delivery"
	GitHubSignatureHeader = "X-Hub-Signature-256"
)

// SourceGitHub is the Source of the events GitHub reports.
const SourceGitHub = "github"

// githubEvents are the events reported, for the reason another is ignored.
const githubEvents = "deployment, deployment_status, workflow_run and check_suite"

var errGitHubSignature = errors.New(GitHubSignatureHeader + " does not match the body: another secret, or a body changed on the way")

// verifyGitHub checks GitHub's signature of body: "sha256=" and the hex
// HMAC-SHA256 of the body with secret. Its errors never quote the header.
func verifyGitHub(secret []byte, header http.Header, body []byte) error {
	sig := header.Get(GitHubSignatureHeader)
	if sig == "" {
		if header.Get("X-Hub-Signature") != "" {
			return fmt.Errorf("no %s header; the SHA-1 X-Hub-Signature is not accepted", GitHubSignatureHeader)
		}
		return fmt.Errorf("no %s header: set a secret in the webhook's settings", GitHubSignatureHeader)
	}
	hexed, ok := strings.CutPrefix(sig, "sha256=")
	if !ok {
		return fmt.Errorf("%s does not start with %q", GitHubSignatureHeader, "sha256=")
	}
	got, err := hex.DecodeString(hexed)
	if err != nil {
		return fmt.Errorf("%s is not hex", GitHubSignatureHeader)
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	if !hmac.Equal(got, m.Sum(nil)) {
		return errGitHubSignature
	}
	return nil
}

// ghPayload holds the few fields read of the events reported.
type ghPayload struct {
	Action           string              `json:"action"`
	Repository       ghRepository        `json:"repository"`
	Sender           ghUser              `json:"sender"`
	Deployment       *ghDeployment       `json:"deployment"`
	DeploymentStatus *ghDeploymentStatus `json:"deployment_status"`
	Workflow         *struct {
		Name string `json:"name"`
	} `json:"workflow"`
	WorkflowRun *ghWorkflowRun `json:"workflow_run"`
	CheckSuite  *ghCheckSuite  `json:"check_suite"`
}

type ghUser struct {
	Login string `json:"login"`
}

type ghRepository struct {
	FullName      string `json:"full_name"`
	HTMLURL       string `json:"html_url"`
	DefaultBranch string `json:"default_branch"`
}

type ghDeployment struct {
	SHA         string `json:"sha"`
	Ref         string `json:"ref"`
	Environment string `json:"environment"`
	Description string `json:"description"`
	Creator     ghUser `json:"creator"`
	// Payload is an object or a string, whatever the deployment was
	// created with.
	Payload json.RawMessage `json:"payload"`
}

type ghDeploymentStatus struct {
	State          string `json:"state"`
	Environment    string `json:"environment"`
	Description    string `json:"description"`
	LogURL         string `json:"log_url"`
	TargetURL      string `json:"target_url"`
	EnvironmentURL string `json:"environment_url"`
	Creator        ghUser `json:"creator"`
}

type ghWorkflowRun struct {
	Name       string `json:"name"`
	HeadSHA    string `json:"head_sha"`
	Conclusion string `json:"conclusion"`
	HTMLURL    string `json:"html_url"`
	Actor      ghUser `json:"actor"`
}

type ghCheckSuite struct {
	ID         int64  `json:"id"`
	HeadSHA    string `json:"head_sha"`
	Conclusion string `json:"conclusion"`
	App        struct {
		Name string `json:"name"`
	} `json:"app"`
}

// deploymentStates maps a deployment status's state to the event's;
// inactive, a deployment superseded by a later one, is not reported.
var deploymentStates = map[string]string{
	"pending":     engine.EventPending,
	"queued":      engine.EventPending,
	"in_progress": engine.EventInProgress,
	"success":     engine.EventSuccess,
	"failure":     engine.EventFailure,
	"error":       engine.EventFailure,
}

// report is what a GitHub event says, before it is fitted to each pipeline
// of the repository.
type report struct {
	ev engine.Event
	// env is the deployment's environment, the stage to find in each
	// pipeline; "" for CI, which is about no stage.
	env string
}

func (r *Receiver) github(req *http.Request) reply {
	if len(r.GitHubSecret) == 0 {
		return notConfigured("GitHub", GitHubSecretEnv)
	}
	delivery := req.Header.Get(GitHubDeliveryHeader)
	maxBody := r.MaxBody
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	body, rep := readBody(req, maxBody)
	if rep != nil {
		r.log().Warn("webhook: github: body refused", "delivery", delivery, "reason", rep.body.(errorBody).Error)
		return *rep
	}
	if err := verifyGitHub(r.GitHubSecret, req.Header, body); err != nil {
		r.log().Warn("webhook: github: signature refused", "delivery", delivery, "reason", err)
		return refuse(http.StatusUnauthorized, "signature refused: %v", err)
	}
	event := req.Header.Get(GitHubEventHeader)
	switch event {
	case "":
		return refuse(http.StatusBadRequest, "no %s header", GitHubEventHeader)
	case "ping":
		return reply{http.StatusOK, map[string]string{"ping": "ok"}}
	case "deployment", "deployment_status", "workflow_run", "check_suite":
	default:
		return ignore("event %q is not reported; only %s are", event, githubEvents)
	}
	if !validDelivery(delivery) {
		return refuse(http.StatusBadRequest, "%s %q is not a delivery id", GitHubDeliveryHeader, delivery)
	}
	var p ghPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return refuse(http.StatusBadRequest, "%s payload: %v", event, err)
	}
	rp, rep := githubReport(event, &p)
	if rep != nil {
		return *rep
	}
	evs, rep := r.fit(req.Context(), delivery, &p, rp)
	if rep != nil {
		return *rep
	}
	return r.publish(req.Context(), "github", evs)
}

// validDelivery reports whether id can be a delivery's GUID, which every
// event's ID holds.
func validDelivery(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// githubReport reads what event says, or the answer when it is not
// reported or cannot be read.
func githubReport(event string, p *ghPayload) (*report, *reply) {
	who := func(users ...ghUser) string {
		for _, u := range append(users, p.Sender) {
			if u.Login != "" {
				return u.Login
			}
		}
		return ""
	}
	missing := func(field string) *reply {
		rep := refuse(http.StatusBadRequest, "%s payload has no %s", event, field)
		return &rep
	}
	ignored := func(format string, args ...any) *reply {
		rep := ignore(format, args...)
		return &rep
	}
	switch event {
	case "deployment":
		d := p.Deployment
		switch {
		case p.Action != "created":
			return nil, ignored("deployment action %q is not reported; only created is", p.Action)
		case d == nil:
			return nil, missing("deployment")
		}
		return &report{env: d.Environment, ev: engine.Event{
			Version: deploymentVersion(d, p.Repository.DefaultBranch), Commit: d.SHA,
			Action: "deployment", State: engine.EventPending, Title: "GitHub deployment",
			Text: d.Description, By: who(d.Creator),
		}}, nil
	case "deployment_status":
		d, s := p.Deployment, p.DeploymentStatus
		switch {
		case p.Action != "" && p.Action != "created":
			return nil, ignored("deployment_status action %q is not reported; only created is", p.Action)
		case d == nil:
			return nil, missing("deployment")
		case s == nil:
			return nil, missing("deployment_status")
		}
		state, ok := deploymentStates[s.State]
		if !ok {
			if s.State == "inactive" {
				return nil, ignored("deployment_status state %q is not reported: a later deployment replaced this one", s.State)
			}
			return nil, ignored("deployment_status state %q is not reported", s.State)
		}
		env := s.Environment
		if env == "" {
			env = d.Environment
		}
		return &report{env: env, ev: engine.Event{
			Version: deploymentVersion(d, p.Repository.DefaultBranch), Commit: d.SHA,
			Action: "deployment", State: state, Title: "GitHub deployment",
			Text: s.Description, URL: firstOf(s.LogURL, s.TargetURL, s.EnvironmentURL), By: who(s.Creator, d.Creator),
		}}, nil
	case "workflow_run":
		w := p.WorkflowRun
		switch {
		case p.Action != "completed":
			return nil, ignored("workflow_run action %q is not reported; only completed is", p.Action)
		case w == nil:
			return nil, missing("workflow_run")
		}
		title := w.Name
		if title == "" && p.Workflow != nil {
			title = p.Workflow.Name
		}
		state, text := conclusion(w.Conclusion)
		return &report{ev: engine.Event{
			Commit: w.HeadSHA, Action: "ci", State: state, Title: title, Text: text, URL: w.HTMLURL, By: who(w.Actor),
		}}, nil
	default: // check_suite
		c := p.CheckSuite
		switch {
		case p.Action != "completed":
			return nil, ignored("check_suite action %q is not reported; only completed is", p.Action)
		case c == nil:
			return nil, missing("check_suite")
		}
		state, text := conclusion(c.Conclusion)
		url := ""
		if p.Repository.HTMLURL != "" && c.HeadSHA != "" {
			url = p.Repository.HTMLURL + "/commit/" + c.HeadSHA + "/checks?check_suite_id=" + strconv.FormatInt(c.ID, 10)
		}
		return &report{ev: engine.Event{
			Commit: c.HeadSHA, Action: "ci", State: state, Title: c.App.Name, Text: text, URL: url, By: who(),
		}}, nil
	}
}

// conclusion maps a finished run's conclusion to a state, and says in
// text what the state does not: a skipped or neutral run is no failure but
// did not pass either.
func conclusion(c string) (state, text string) {
	switch c {
	case "success":
		return engine.EventSuccess, ""
	case "neutral", "skipped":
		return engine.EventSuccess, c
	case "":
		return engine.EventFailure, "no conclusion"
	}
	return engine.EventFailure, strings.ReplaceAll(c, "_", " ")
}

// deploymentVersion is the release a deployment is of: the payload's
// version, else a ref that names something (a tag, a branch other than
// the default), else the short sha.
func deploymentVersion(d *ghDeployment, defaultBranch string) string {
	if v := payloadVersion(d.Payload); v != "" {
		return v
	}
	if d.Ref != "" && d.Ref != defaultBranch && d.Ref != d.SHA {
		return d.Ref
	}
	return short(d.SHA)
}

// payloadVersion returns the string "version" of a deployment's payload,
// which is an object or a string holding one.
func payloadVersion(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = json.RawMessage(s)
	}
	var p struct {
		Version any `json:"version"`
	}
	if json.Unmarshal(raw, &p) != nil {
		return ""
	}
	v, _ := p.Version.(string)
	return v
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// fit makes rp an event of each pipeline of the repository: with its
// stage, for a deployment, and its version, for CI. A deployment goes to
// the pipelines that have its environment, and is refused when none has.
func (r *Receiver) fit(ctx context.Context, delivery string, p *ghPayload, rp *report) ([]engine.Event, *reply) {
	repo := p.Repository.FullName
	if repo == "" {
		rep := refuse(http.StatusBadRequest, "payload has no repository.full_name")
		return nil, &rep
	}
	var pcs []*engine.PipelineConfig
	if r.Config != nil {
		pcs = r.Config.PipelinesOfRepo(repo)
	}
	if len(pcs) == 0 {
		rep := refuse(http.StatusUnprocessableEntity, "no pipeline has repo %s: add \"repo: %s\" to its pipeline in the config", repo, repo)
		return nil, &rep
	}
	var evs []engine.Event
	var missed []string
	for _, pc := range pcs {
		ev := rp.ev
		ev.ID = "github/" + delivery + "/" + pc.Name
		ev.At, ev.Pipeline, ev.Source = r.now(), pc.Name, SourceGitHub
		if rp.ev.Action == "deployment" {
			stage, ok := engine.ResolveStage(pc, rp.env)
			if !ok {
				missed = append(missed, fmt.Sprintf("%s (%s)", pc.Name, strings.Join(pc.Stages, ", ")))
				continue
			}
			ev.Stage = stage
		}
		if ev.Version == "" {
			v, err := r.ciVersion(ctx, pc.Name, ev.Commit)
			if err != nil {
				rep := r.failed("github", ev.ID, err)
				return nil, &rep
			}
			ev.Version = v
		}
		evs = append(evs, ev)
	}
	if len(evs) == 0 {
		var rep reply
		if len(pcs) == 1 {
			rep = refuse(http.StatusUnprocessableEntity, "unknown environment %q: pipeline %s has stages %s",
				rp.env, pcs[0].Name, strings.Join(pcs[0].Stages, ", "))
		} else {
			rep = refuse(http.StatusUnprocessableEntity, "unknown environment %q: no pipeline of %s has that stage: %s",
				rp.env, repo, strings.Join(missed, "; "))
		}
		return nil, &rep
	}
	return evs, nil
}

// ciVersion asks VersionOf which release holds commit. Only an unavailable
// ledger is an error: not knowing, or failing otherwise, names the release
// by its short sha, so that the report is shown all the same.
func (r *Receiver) ciVersion(ctx context.Context, pipeline, commit string) (string, error) {
	if r.VersionOf == nil {
		return short(commit), nil
	}
	v, err := r.VersionOf(ctx, pipeline, commit)
	switch {
	case engine.ErrorCode(err) == engine.Unavailable:
		return "", err
	case err != nil && engine.ErrorCode(err) != engine.NotFound:
		r.log().Warn("webhook: github: version of a commit", "pipeline", pipeline, "commit", commit, "err", err)
	}
	if err != nil || v == "" {
		return short(commit), nil
	}
	return v, nil
}
