package slack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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

// HomeViewers remembers whose Home tab to keep up to date (who opened it
// lately, in which workspace) and what it shows, as a sum of its view.
type HomeViewers interface {
	// Opened records that user of team opened their Home tab at at, and
	// was shown shown.
	Opened(ctx context.Context, team, user string, at time.Time, shown string) error
	// Shown records that the tab opened at opened now shows shown.
	Shown(ctx context.Context, team, user string, opened time.Time, shown string) error
	// Recent calls f with each Home tab opened lately, as of now, up to a
	// bound; it returns how many more there were.
	Recent(ctx context.Context, now time.Time, f func(team, user string, opened time.Time, shown string)) (int, error)
}

// homeData is what every Home tab is made of, read once for all of them.
type homeData struct {
	pipelines []HomePipeline
	jobs      []engine.Job
}

func (s *Server) readHomeData(ctx context.Context) (*homeData, error) {
	d := &homeData{}
	for i := range s.Engine.Config.Pipelines {
		pc := &s.Engine.Config.Pipelines[i]
		st, err := s.Engine.State(ctx, pc.Name)
		if err != nil {
			return nil, fmt.Errorf("reading pipeline %s: %w", pc.Name, err)
		}
		d.pipelines = append(d.pipelines, HomePipeline{Config: pc, State: st})
	}
	if list, err := s.Engine.Jobs.List(ctx, 50); err == nil {
		d.jobs = list
	}
	return d, nil
}

// homeView is user's Home tab: the pipelines if policy lets them run info,
// and their last jobs.
func (s *Server) homeView(d *homeData, user string) slack.HomeTabViewRequest {
	actor := s.Engine.Identify(engine.SourceSlack, user)
	var pipelines []HomePipeline
	if s.Engine.Allowed(engine.Context{Actor: actor}, "info") {
		pipelines = d.pipelines
	}
	var mine []engine.Job
	for _, j := range d.jobs {
		if j.Actor == actor.ID && len(mine) < homeJobs {
			mine = append(mine, j)
		}
	}
	return HomeView(pipelines, mine)
}

// publishHome publishes the Home tab of the person who opened it, and
// remembers it in Homes, so that RefreshHomes keeps it up to date.
func (s *Server) publishHome(ctx context.Context, team, user string) {
	api := s.api(ctx, team)
	if api == nil {
		return
	}
	d, err := s.readHomeData(ctx)
	if err != nil {
		s.Log.Warn("App Home", "err", err)
		return
	}
	view := s.homeView(d, user)
	shown := ""
	if s.publishView(ctx, api, user, view) {
		shown = homeSum(view)
	}
	if s.Homes != nil {
		if err := s.Homes.Opened(ctx, team, user, s.now(), shown); err != nil {
			s.Log.Warn("App Home: remembering an opened Home tab", "user", user, "err", err)
		}
	}
}

// publishView publishes view as user's Home tab, within Slack's limits.
func (s *Server) publishView(ctx context.Context, api *slack.Client, user string, view slack.HomeTabViewRequest) bool {
	if err := CheckView(view); err != nil {
		s.logger().Error("App Home: the view breaks Slack's limits", "err", err)
		return false
	}
	if _, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: user, View: view}); err != nil {
		s.logger().Warn("App Home: views.publish", "user", user, "err", err)
		return false
	}
	return true
}

// homeSum is what Homes keeps of a view: enough to tell a change.
func homeSum(view slack.HomeTabViewRequest) string {
	b, _ := json.Marshal(view)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// RefreshHomes publishes again each Home tab opened lately (Homes) whose
// content changed since it was last published, by any process: a release,
// a lock, a job of theirs. The one process doing periodic work calls it,
// with a deadline: the tabs it had no time for wait for the next call. It
// returns how many it published.
func (s *Server) RefreshHomes(ctx context.Context) (int, error) {
	if s.Homes == nil {
		return 0, nil
	}
	type viewer struct {
		team, user, shown string
		opened            time.Time
	}
	var viewers []viewer
	more, err := s.Homes.Recent(ctx, s.now(), func(team, user string, opened time.Time, shown string) {
		viewers = append(viewers, viewer{team, user, shown, opened})
	})
	if err != nil {
		return 0, err
	}
	if more > 0 {
		s.logger().Warn("App Home: more Home tabs opened lately than are refreshed", "refreshed", len(viewers), "not", more)
	}
	if len(viewers) == 0 {
		return 0, nil
	}
	d, err := s.readHomeData(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, v := range viewers {
		view := s.homeView(d, v.user)
		sum := homeSum(view)
		if ctx.Err() != nil || sum == v.shown {
			continue
		}
		api := s.api(ctx, v.team)
		if api == nil {
			continue
		}
		if s.publishView(ctx, api, v.user, view) {
			n++
		} else if ctx.Err() != nil {
			break // out of time: the next refresh goes on
		}
		// A view Slack refused (logged) is not tried again until what it
		// shows changes, or the person opens the tab again.
		if err := s.Homes.Shown(ctx, v.team, v.user, v.opened, sum); err != nil {
			return n, err
		}
	}
	return n, nil
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
