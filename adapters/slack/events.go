package slack

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chatops/chatops/engine"
	"github.com/slack-go/slack/slackevents"
)

// DefaultMaxEventAge is how late an event may come and its command still run
// at once; a later one asks first: a command typed a while ago may no
// longer be wanted.
const DefaultMaxEventAge = 30 * time.Second

// innerEvent holds the fields chatops reads of app_mention and message events.
type innerEvent struct {
	Type        string `json:"type"`
	SubType     string `json:"subtype"`
	User        string `json:"user"`
	BotID       string `json:"bot_id"`
	Text        string `json:"text"`
	Channel     string `json:"channel"`
	ChannelType string `json:"channel_type"`
	TS          string `json:"ts"`
	ThreadTS    string `json:"thread_ts"`
	// Tab is an app_home_opened event's: home or messages.
	Tab string `json:"tab"`
	// Tokens are a tokens_revoked event's: the user ids whose tokens went.
	Tokens struct {
		OAuth []string `json:"oauth"`
		Bot   []string `json:"bot"`
	} `json:"tokens"`
}

// eventID is what Slack's event ids are made of (Ev08MFMKH6N0): the job
// takes its id from it.
var eventID = regexp.MustCompile(`^[A-Za-z0-9]{1,60}$`)

// leadingMention is the bot's mention that starts an app_mention's text.
var leadingMention = regexp.MustCompile(`^\s*<@[A-Z0-9]+(?:\|[^>]*)?>[\s,:]*`)

// events handles the Events API: url_verification, then app mentions and direct
// messages, which run the same grammar as the slash command.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	w = noRetryWriter{w}
	body, ok := s.readVerified(w, r)
	if !ok {
		return
	}
	var outer struct {
		Type      string `json:"type"`
		Challenge string `json:"challenge"`
	}
	if err := json.Unmarshal(body, &outer); err != nil {
		http.Error(w, "malformed JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	switch outer.Type {
	case slackevents.URLVerification:
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(outer.Challenge))
		return
	case slackevents.CallbackEvent:
	default:
		return // app_rate_limited and the like: nothing to do
	}
	var cb slackevents.EventsAPICallbackEvent
	if err := json.Unmarshal(body, &cb); err != nil || cb.InnerEvent == nil || cb.EventID == "" {
		http.Error(w, "malformed event callback", http.StatusBadRequest)
		return
	}
	if !eventID.MatchString(cb.EventID) {
		http.Error(w, "malformed event callback: event_id "+strconv.Quote(cb.EventID)+" is not letters and digits", http.StatusBadRequest)
		return
	}
	var ev innerEvent
	if err := json.Unmarshal(*cb.InnerEvent, &ev); err != nil {
		http.Error(w, "malformed event: "+err.Error(), http.StatusBadRequest)
		return
	}
	now := s.now()
	switch {
	case ev.Type == "app_uninstalled", ev.Type == "tokens_revoked" && len(ev.Tokens.Bot) > 0:
		s.uninstalled(w, r, cb, ev.Type, now)
		return
	case ev.Type == "app_home_opened":
		if ev.Tab == "home" && ev.User != "" {
			// Published beside the 200: Slack wants the event acked now.
			ctx, team := context.WithoutCancel(r.Context()), cb.TeamID
			s.background.Go(func() {
				ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				s.publishHome(ctx, team, ev.User)
			})
		}
		return
	}
	maxAge := s.MaxEventAge
	if maxAge == 0 {
		maxAge = DefaultMaxEventAge
	}
	// Slack retries an event about 1 and 5 minutes later: a late one is
	// taken (the queue still runs each event id once), and a command in it
	// waits for the person to say it should still run.
	var late time.Duration
	if age := now.Sub(time.Unix(int64(cb.EventTime), 0)); age > maxAge {
		late = age
		s.Log.Info("slack event arrived late: asking before it runs", "event", cb.EventID, "age", age.Round(time.Second),
			"retry", r.Header.Get("X-Slack-Retry-Num"))
	}
	// Bots, including this one, and edits or joins are not commands.
	if ev.BotID != "" || ev.SubType != "" || ev.User == "" || ev.User == s.BotUserID {
		return
	}
	for _, a := range cb.Authorizations {
		if a.IsBot && a.UserID == ev.User {
			return // this app, installed in that workspace
		}
	}
	var text string
	switch {
	case ev.Type == "app_mention":
		text = StripMentions(ev.Text, s.botIDs(cb))
	case ev.Type == "message" && ev.ChannelType == "im":
		text = ev.Text
	default:
		return
	}
	text = strings.TrimSpace(text)
	if text == "" {
		text = "help"
	}
	thread := ev.ThreadTS
	if thread == "" {
		thread = ev.TS
	}
	reply := map[string]string{"channel": ev.Channel, "thread_ts": thread, "team": cb.TeamID, "user": ev.User}
	c := engine.Context{Actor: s.Engine.Identify(engine.SourceSlack, ev.User), Channel: ev.Channel}
	// Slack retries an event up to 5 minutes later: its event_id is the job id,
	// so the queue runs it once.
	job := &engine.QueuedJob{ID: "e" + cb.EventID, Command: text, Actor: c.Actor, Channel: ev.Channel, Enqueued: now, Reply: reply, Late: late}
	cmd, err := s.Engine.Admit(r.Context(), c, text)
	if err != nil {
		// The refusal is answered in the thread too, by a worker.
		job.Command, reply["refusal"] = text, refusal(err)
	} else {
		job.Command = cmd.Canonical()
	}
	if _, err := s.enqueue(r.Context(), job); err != nil {
		// Slack will retry the event: answer 5xx so it does.
		s.Log.Error("enqueue failed", "event", cb.EventID, "err", err)
		http.Error(w, "cannot take commands right now", http.StatusServiceUnavailable)
	}
}

// uninstalled forgets a workspace that removed the app, or whose bot token
// was revoked: its sealed token is deleted, and the audit says so. With a
// single bot token there is nothing to delete; the log says the token no
// longer works.
func (s *Server) uninstalled(w http.ResponseWriter, r *http.Request, cb slackevents.EventsAPICallbackEvent, kind string, now time.Time) {
	rec := engine.AuditRecord{At: now, JobID: "e" + cb.EventID, Actor: "slack", Source: engine.SourceSlack,
		Command: kind + " " + cb.TeamID, Decision: "allowed", Outcome: "ok"}
	if s.OAuth == nil {
		rec.Message = "Slack says workspace " + cb.TeamID + " removed chatops or revoked its bot token: SLACK_BOT_TOKEN no longer works"
		s.Log.Error("the bot token no longer works", "event", kind, "team", cb.TeamID)
	} else {
		if err := s.OAuth.Uninstall(r.Context(), cb.TeamID); err != nil {
			s.Log.Error("forgetting an uninstalled workspace", "team", cb.TeamID, "err", err)
			http.Error(w, "cannot forget the workspace right now", http.StatusServiceUnavailable) // Slack retries
			return
		}
		rec.Message = "workspace " + cb.TeamID + " removed chatops or revoked its bot token: its sealed token was deleted"
		s.Log.Info("workspace forgotten", "event", kind, "team", cb.TeamID)
	}
	if err := s.Engine.Audit.Append(r.Context(), &rec); err != nil {
		s.Log.Warn("auditing an uninstall", "team", cb.TeamID, "err", err)
	}
}

// botIDs are the user ids this app's bot has in the event's workspace.
func (s *Server) botIDs(cb slackevents.EventsAPICallbackEvent) []string {
	var ids []string
	if s.BotUserID != "" {
		ids = append(ids, s.BotUserID)
	}
	for _, a := range cb.Authorizations {
		if a.IsBot && a.UserID != "" {
			ids = append(ids, a.UserID)
		}
	}
	return ids
}

// mention is a user mention, <@U123> or <@U123|name>.
var mention = regexp.MustCompile(`<@([A-Z0-9]+)(?:\|[^>]*)?>[,:]?`)

// StripMentions removes the bot's own mentions from an app_mention's text,
// wherever they stand ("promote demo @chatops" is a command too); other
// people's mentions stay, as arguments. Without the bot's id, only a
// leading mention is taken for it.
func StripMentions(text string, bots []string) string {
	if len(bots) == 0 {
		return leadingMention.ReplaceAllString(text, "")
	}
	return mention.ReplaceAllStringFunc(text, func(m string) string {
		if id := mention.FindStringSubmatch(m)[1]; slices.Contains(bots, id) {
			return " "
		}
		return m
	})
}

// noRetryWriter marks a permanent refusal (4xx) of an event with
// X-Slack-No-Retry: 1: Slack would otherwise send the same event again,
// to be refused again. A 5xx (the queue unreachable) keeps Slack's retries.
type noRetryWriter struct{ http.ResponseWriter }

func (w noRetryWriter) WriteHeader(code int) {
	if code >= 400 && code < 500 {
		w.Header().Set("X-Slack-No-Retry", "1")
	}
	w.ResponseWriter.WriteHeader(code)
}
