package webhook

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/chatops/chatops/adapters/internal/signature"
	"github.com/chatops/chatops/engine"
	"github.com/chatops/chatops/grammar"
)

// SourceWebhook is the Source of the events the generic endpoint reports.
const SourceWebhook = "webhook"

// ActionReport is the Action of a generic report's event: the sender says
// how something stands, which may be a deployment, a test run or anything
// else.
const ActionReport = "report"

// Report is the body of a generic report; the Receiver's doc says what
// each field may hold.
type Report struct {
	Pipeline string `json:"pipeline"`
	Stage    string `json:"stage,omitempty"`
	Version  string `json:"version,omitempty"`
	State    string `json:"state"`
	Title    string `json:"title,omitempty"`
	URL      string `json:"url,omitempty"`
	Text     string `json:"text,omitempty"`
}

// reportFields are Report's fields, in order, as the JSON names them.
var reportFields = []string{"pipeline", "stage", "version", "state", "title", "url", "text"}

func (r *Receiver) generic(req *http.Request) reply {
	if len(r.Secret) == 0 {
		return notConfigured("generic", SecretEnv)
	}
	maxBody := r.MaxGenericBody
	if maxBody <= 0 {
		maxBody = DefaultMaxGenericBody
	}
	body, rep := readBody(req, maxBody)
	if rep != nil {
		r.log().Warn("webhook: generic: body refused", "reason", rep.body.(errorBody).Error)
		return *rep
	}
	if err := signature.Verify(r.Secret, req.Header, body, r.now(), r.window()); err != nil {
		r.log().Warn("webhook: generic: signature refused", "reason", err)
		return refuse(http.StatusUnauthorized, "signature refused: %v", err)
	}
	rp, err := decodeReport(body)
	if err != nil {
		return refuse(http.StatusBadRequest, "%v", err)
	}
	ev, msgs := r.reportEvent(rp)
	if len(msgs) > 0 {
		return refuseAll(http.StatusUnprocessableEntity, msgs)
	}
	sum := sha256.Sum256(body)
	ev.ID = "webhook/" + hex.EncodeToString(sum[:])[:24]
	return r.publish(req.Context(), "generic", []engine.Event{*ev})
}

// decodeReport reads body strictly: one JSON object of Report's fields.
// Its errors name the field, or the line and column.
func decodeReport(body []byte) (*Report, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var rp Report
	err := dec.Decode(&rp)
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		return nil, errors.New(`body is empty: send a JSON object such as {"pipeline": "shop", "state": "success"}`)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("body is not JSON: it ends inside a value, at %s", position(body, len(body)+1))
	case errors.As(err, &syntax):
		return nil, fmt.Errorf("body is not JSON: %s, at %s", strings.TrimPrefix(err.Error(), "json: "), position(body, int(syntax.Offset)))
	case errors.As(err, &typ) && typ.Field == "":
		return nil, fmt.Errorf("body is a JSON %s: send an object", typ.Value)
	case errors.As(err, &typ):
		return nil, fmt.Errorf("field %q is a JSON %s: it must be a string", typ.Field, typ.Value)
	default:
		if msg := unknownFields(body); msg != "" {
			return nil, errors.New(msg)
		}
		return nil, fmt.Errorf("body: %w", err)
	}
	rest := int(dec.InputOffset())
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		rest += len(body[rest:]) - len(bytes.TrimLeft(body[rest:], " \t\r\n"))
		return nil, fmt.Errorf("body goes on after its object, at %s: send one object", position(body, rest+1))
	}
	return &rp, nil
}

// position says where the byte before offset is, as line and column (in
// characters), both from 1: a decoder's offset counts the bytes it read,
// the offending one included.
func position(body []byte, offset int) string {
	at := min(max(offset-1, 0), len(body))
	start := bytes.LastIndexByte(body[:at], '\n') + 1
	line := bytes.Count(body[:start], []byte("\n")) + 1
	return fmt.Sprintf("line %d, column %d", line, utf8.RuneCount(body[start:at])+1)
}

// unknownFields names the fields of body Report does not have, which the
// decoder refused: encoding/json says so in text only, and names one.
func unknownFields(body []byte) string {
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil {
		return ""
	}
	var unknown []string
	for name := range fields {
		if !slices.ContainsFunc(reportFields, func(f string) bool { return strings.EqualFold(f, name) }) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return ""
	}
	slices.Sort(unknown)
	known := "; fields: " + strings.Join(reportFields, ", ")
	if len(unknown) > 1 {
		return "unknown fields " + quoteAll(unknown) + known
	}
	return "unknown field " + quoteAll(unknown) + known + didYouMean(unknown[0], reportFields)
}

func quoteAll(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}

// reportEvent checks rp against the config and makes its event, without
// an ID. The messages are in the order of Report's fields.
func (r *Receiver) reportEvent(rp *Report) (*engine.Event, []string) {
	var msgs []string
	fail := func(format string, args ...any) { msgs = append(msgs, fmt.Sprintf(format, args...)) }
	clean := map[string]bool{}
	for i, v := range []string{rp.Pipeline, rp.Stage, rp.Version, rp.State, rp.Title, rp.URL, rp.Text} {
		field := reportFields[i]
		c, ok := firstControl(v, field == "text")
		clean[field] = !ok
		if ok {
			hint := ""
			if field == "text" {
				hint = " (tabs and line breaks are fine)"
			}
			fail("control character %s in %s: remove it%s", runeName(c), field, hint)
		}
	}
	ev := &engine.Event{At: r.now(), Version: rp.Version, Action: ActionReport, State: rp.State,
		Title: rp.Title, URL: rp.URL, Text: rp.Text, Source: SourceWebhook}
	names := make([]string, 0, len(r.pipelines()))
	for _, pc := range r.pipelines() {
		names = append(names, pc.Name)
	}
	var pc *engine.PipelineConfig
	switch {
	case !clean["pipeline"]:
	case rp.Pipeline == "":
		fail("pipeline is required; pipelines: %s", strings.Join(names, ", "))
	default:
		i := slices.Index(names, rp.Pipeline)
		if i < 0 {
			fail("unknown pipeline %q; pipelines: %s%s", rp.Pipeline, strings.Join(names, ", "), didYouMean(rp.Pipeline, names))
			break
		}
		pc = &r.Config.Pipelines[i]
		ev.Pipeline = pc.Name
	}
	if pc != nil && rp.Stage != "" && clean["stage"] {
		stage, ok := engine.ResolveStage(pc, rp.Stage)
		if !ok {
			fail("unknown stage %q of pipeline %s; stages: %s%s", rp.Stage, pc.Name, strings.Join(pc.Stages, ", "), didYouMean(rp.Stage, pc.Stages))
		}
		ev.Stage = stage
	}
	switch states := strings.Join(engine.ReportStates, ", "); {
	case !clean["state"]:
	case rp.State == "":
		fail("state is required; states: %s", states)
	case !slices.Contains(engine.ReportStates, rp.State):
		fail("unknown state %q; states: %s%s", rp.State, states, didYouMean(rp.State, engine.ReportStates))
	}
	if rp.URL != "" && clean["url"] {
		if u, err := url.Parse(rp.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			fail("url %q is not an http or https URL", rp.URL)
		}
	}
	return ev, msgs
}

// firstControl returns the first control character of s, but for the tab
// and the newline where text allows them.
func firstControl(s string, text bool) (rune, bool) {
	for _, c := range s {
		if grammar.IsControl(c) && !(text && (c == '\t' || c == '\n')) {
			return c, true
		}
	}
	return 0, false
}

// runeName writes c as U+001B.
func runeName(c rune) string { return fmt.Sprintf("U+%04X", c) }
