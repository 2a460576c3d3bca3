package slack

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/chatops/chatops/engine"
	"github.com/chatops/chatops/grammar"
	"github.com/slack-go/slack"
)

// ActionHomeRun is the App Home's button that opens the run modal with its
// pipeline chosen.
const ActionHomeRun = "chatops_home_run"

// homeJobs is how many of the person's last jobs the Home tab lists.
const homeJobs = 5

// HomePipeline is one pipeline as the Home tab shows it.
type HomePipeline struct {
	Config *engine.PipelineConfig
	State  *engine.PipelineState
}

// HomeView is the App Home tab of a person: each pipeline with what runs in
// each stage (version, who, when), its locks and a button that opens the run
// modal on it (the pipelines they may see: whoever may run info), then the
// person's last jobs. It keeps to a Home tab's 100
// blocks: pipelines past them are counted, not shown.
func HomeView(pipelines []HomePipeline, jobs []engine.Job) slack.HomeTabViewRequest {
	blocks := []slack.Block{section("*Pipelines*")}
	if len(pipelines) == 0 {
		blocks = append(blocks, contextLine("None you may see here: the policy lets you run no `info`, or none are configured."))
	}
	// Each pipeline takes two blocks; the jobs' part and the note of
	// pipelines left out take four at most.
	room := (MaxViewBlocks - len(blocks) - 4) / 2
	for i, p := range pipelines {
		if i == room {
			blocks = append(blocks, contextLine(fmt.Sprintf("…and %d more pipelines: `/h pipelines` lists them all.", len(pipelines)-room)))
			break
		}
		name := p.Config.Name
		title := "*" + escape(name) + "*"
		if l := p.State.Lock; l != nil {
			title += "  :lock: locked by " + escape(l.By) + reason(l.Reason)
		}
		run := slack.NewButtonBlockElement(ActionHomeRun, name, plain("Run a command"))
		blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, cutShort(title, MaxSectionText), false, false), nil,
			slack.NewAccessory(run)))
		var lines []string
		for _, stage := range p.Config.Stages {
			line := "*" + escape(stage) + "*: "
			slot := p.State.Slots[stage]
			switch {
			case slot == nil || slot.Current == nil:
				line += "nothing yet"
			default:
				r := slot.Current
				line += "`" + escape(r.Version) + "` · " + escape(r.By)
				if !r.At.IsZero() {
					line += " · " + slackDate(r.At)
				}
			}
			if slot != nil && slot.Lock != nil {
				line += " · :lock: " + escape(slot.Lock.By) + reason(slot.Lock.Reason)
			}
			if slot != nil && slot.Deploying != nil {
				line += " · :hourglass_flowing_sand: deploying"
			}
			lines = append(lines, line)
		}
		blocks = append(blocks, contextLine(strings.Join(lines, "\n")))
	}
	blocks = append(blocks, slack.NewDividerBlock(), section("*Your last jobs*"))
	if len(jobs) == 0 {
		blocks = append(blocks, contextLine("None yet: run `/h help` in a channel, or a command from the buttons above."))
	} else {
		var lines []string
		for _, j := range jobs {
			line := "`" + escape(j.Command) + "` · " + escape(j.State)
			if at := lastChange(j); !at.IsZero() {
				line += " · " + slackDate(at)
			}
			lines = append(lines, line+" · job "+escape(j.ID))
		}
		blocks = append(blocks, contextLine(strings.Join(lines, "\n")))
	}
	return slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: blocks}}
}

func reason(r string) string {
	if r == "" {
		return ""
	}
	return " (" + escape(r) + ")"
}

// lastChange is when a job last moved.
func lastChange(j engine.Job) time.Time {
	for _, t := range []time.Time{j.Finished, j.Started, j.Queued} {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// publishHome publishes the Home tab of the person who opened it.
func (s *Server) publishHome(ctx context.Context, team, user string) {
	api := s.api(ctx, team)
	if api == nil {
		return
	}
	actor := s.Engine.Identify(engine.SourceSlack, user)
	// What info would show, to whom policy lets run it.
	var pipelines []HomePipeline
	shown := s.Engine.Config.Pipelines
	if !s.Engine.Allowed(engine.Context{Actor: actor}, "info") {
		shown = nil
	}
	for i := range shown {
		pc := &shown[i]
		st, err := s.Engine.State(ctx, pc.Name)
		if err != nil {
			s.Log.Warn("App Home: reading a pipeline", "pipeline", pc.Name, "err", err)
			return
		}
		pipelines = append(pipelines, HomePipeline{Config: pc, State: st})
	}
	var mine []engine.Job
	if list, err := s.Engine.Jobs.List(ctx, 50); err == nil {
		for _, j := range list {
			if j.Actor == actor.ID && len(mine) < homeJobs {
				mine = append(mine, j)
			}
		}
	}
	view := HomeView(pipelines, mine)
	if err := CheckView(view); err != nil {
		s.Log.Error("App Home: the view breaks Slack's limits", "err", err)
		return
	}
	if _, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: user, View: view}); err != nil {
		s.Log.Warn("App Home: views.publish", "user", user, "err", err)
	}
}

// openRunModal opens the run modal on trigger for a person who came from
// the Home tab or a shortcut, where there is no channel: the answer goes to
// their direct messages with the app.
func (s *Server) openRunModal(ctx context.Context, team, user, trigger, pipeline string) {
	api := s.api(ctx, team)
	if api == nil || trigger == "" {
		return
	}
	c := engine.Context{Actor: s.Engine.Identify(engine.SourceSlack, user), Channel: user}
	view := RunModalFor(s.Engine.Grammar, func(sp *grammar.Spec) bool { return s.Engine.Allowed(c, sp.Name) }, user, pipeline)
	ctx, cancel := context.WithTimeout(ctx, ModalWithin)
	defer cancel()
	if _, err := api.OpenViewContext(ctx, trigger, view); err != nil {
		s.Log.Warn("opening the run modal", "err", err)
	}
}
