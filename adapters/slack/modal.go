package slack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/chatops/chatops/engine"
	"github.com/chatops/chatops/grammar"
	"github.com/slack-go/slack"
)

// The run modal's ids.
const (
	modalCallback = "chatops_run"
	blockCommand  = "command"
	blockPipeline = "pipeline"
	blockArgs     = "args"
	actionValue   = "value"
)

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
}

// RunModal is the form "/h" with no text opens: a command of those the person
// may run, a pipeline completed by the options endpoint, and the rest of the
// line. Its submission goes through the grammar like any other line.
func RunModal(g *grammar.Grammar, allowed func(*grammar.Spec) bool, channel string) slack.ModalViewRequest {
	return RunModalFor(g, allowed, channel, "")
}

// RunModalFor is RunModal with a pipeline chosen already, when not empty.
func RunModalFor(g *grammar.Grammar, allowed func(*grammar.Spec) bool, channel, chosen string) slack.ModalViewRequest {
	var opts []*slack.OptionBlockObject
	for _, name := range g.Commands() {
		spec := g.Forms(name)[0]
		if name == "help" || allowed != nil && !allowed(spec) {
			continue
		}
		// An option's description holds 75 characters.
		opts = append(opts, slack.NewOptionBlockObject(name, plain(name), plain(cutShort(spec.Summary, 75))))
	}
	command := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("Choose a command"), actionValue, opts...)
	pipeline := slack.NewOptionsSelectBlockElement(slack.OptTypeExternal, plain("Choose a pipeline"), actionValue)
	zero := 0
	pipeline.MinQueryLength = &zero
	if chosen != "" {
		pipeline.InitialOption = slack.NewOptionBlockObject(chosen, plain(chosen), nil)
	}
	args := slack.NewPlainTextInputBlockElement(plain("from staging to production"), actionValue)
	pipelineBlock := slack.NewInputBlock(blockPipeline, plain("Pipeline"), nil, pipeline)
	pipelineBlock.Optional = true
	argsBlock := slack.NewInputBlock(blockArgs, plain("The rest of the command"), plain("Stages, versions and flags, as you would type them after the pipeline."), args)
	argsBlock.Optional = true
	return slack.ModalViewRequest{
		Type: slack.VTModal, CallbackID: modalCallback, PrivateMetadata: channel,
		Title: plain("Run a command"), Submit: plain("Run"), Close: plain("Cancel"),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewInputBlock(blockCommand, plain("Command"), nil, command),
			pipelineBlock, argsBlock,
		}},
	}
}

// openModal opens the run modal for a slash command with no text.
func (s *Server) openModal(ctx context.Context, api *slack.Client, c engine.Context, triggerID, channel string) error {
	view := RunModal(s.Engine.Grammar, func(sp *grammar.Spec) bool { return s.Engine.Allowed(c, sp.Name) }, channel)
	_, err := api.OpenViewContext(ctx, triggerID, view)
	return err
}

// options serves the pipeline select's choices, filtered by what is typed.
func (s *Server) options(w http.ResponseWriter, r *http.Request) {
	cb, ok := s.readPayload(w, r)
	if !ok {
		return
	}
	// Not slack.OptionsResponse: its omitempty drops an empty list.
	var resp struct {
		Options []*slack.OptionBlockObject `json:"options"`
	}
	resp.Options = []*slack.OptionBlockObject{}
	if cb.BlockID == blockPipeline || cb.ActionID == actionValue {
		typed := strings.ToLower(strings.TrimSpace(cb.Value))
		var names []string
		for _, p := range s.Engine.Config.Pipelines {
			if strings.Contains(strings.ToLower(p.Name), typed) {
				names = append(names, p.Name)
			}
		}
		sort.Strings(names)
		for _, n := range names[:min(len(names), 100)] {
			resp.Options = append(resp.Options, slack.NewOptionBlockObject(n, plain(n), nil))
		}
	}
	writeJSON(w, resp)
}

// submitModal reads the run modal: the line is the command, the pipeline and
// the rest; grammar errors go back to the field they are in.
func (s *Server) submitModal(w http.ResponseWriter, r *http.Request, cb *slack.InteractionCallback) {
	if cb.View.State == nil {
		http.Error(w, "malformed view submission: no state", http.StatusBadRequest)
		return
	}
	vals := cb.View.State.Values
	command := vals[blockCommand][actionValue].SelectedOption.Value
	pipeline := vals[blockPipeline][actionValue].SelectedOption.Value
	rest := strings.TrimSpace(vals[blockArgs][actionValue].Value)
	if command == "" {
		writeJSON(w, slack.NewErrorsViewSubmissionResponse(map[string]string{blockCommand: "Choose a command."}))
		return
	}
	// Where each field starts in the line, to blame the right one.
	line, starts := command, []int{0}
	for _, part := range []string{pipeline, rest} {
		if part != "" {
			line += " "
		}
		starts = append(starts, len(line))
		line += part
	}
	c := engine.Context{Actor: s.Engine.Identify(engine.SourceSlack, cb.User.ID), Channel: cb.View.PrivateMetadata}
	cmd, err := s.Engine.Admit(r.Context(), c, line)
	if err != nil {
		field, msg := blame(err, line, starts, pipeline, rest), fieldError(err)
		if field == blockPipeline && pipeline == "" {
			msg = "Choose a pipeline."
		}
		writeJSON(w, slack.NewErrorsViewSubmissionResponse(map[string]string{field: msg}))
		return
	}
	// The view and its hash name one submission; Slack's retry repeats them.
	sum := sha256.Sum256([]byte(cb.View.ID + "\x00" + cb.View.Hash))
	job := &engine.QueuedJob{
		ID: "v" + hex.EncodeToString(sum[:12]), Command: cmd.Canonical(), Actor: c.Actor, Channel: c.Channel,
		Enqueued: time.Now(), Reply: map[string]string{"channel": c.Channel, "team": cb.Team.ID, "user": cb.User.ID},
	}
	if _, err := s.enqueue(r.Context(), job); err != nil {
		writeJSON(w, slack.NewErrorsViewSubmissionResponse(map[string]string{blockCommand: "chatops cannot take commands right now; try again in a moment."}))
		return
	}
	w.WriteHeader(http.StatusOK) // an empty 200 closes the modal
}

// blame picks the field a grammar error is in; other errors go to the command.
func blame(err error, line string, starts []int, pipeline, rest string) string {
	var ge *grammar.Error
	if !errAs(err, &ge) {
		return blockCommand
	}
	switch {
	case rest != "" && ge.Pos >= starts[2]:
		return blockArgs
	case pipeline != "" && ge.Pos >= starts[1]:
		return blockPipeline
	case ge.Pos >= len(line) && pipeline == "" && ge.Param != nil && ge.Param.Name == "pipeline":
		return blockPipeline
	case ge.Pos >= len(line):
		return blockArgs
	}
	return blockCommand
}

// fieldError is an error short enough for a field (Slack shows 150 characters).
func fieldError(err error) string {
	msg := err.Error()
	var ge *grammar.Error
	if errAs(err, &ge) {
		msg = ge.Msg
		if len(ge.Suggest) > 0 {
			msg += `; did you mean "` + strings.Join(ge.Suggest, `" or "`) + `"?`
		}
	} else {
		msg = engine.ErrorMessage(err)
	}
	if len(msg) > 150 {
		msg = msg[:147] + "..."
	}
	return msg
}
