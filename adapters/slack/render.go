package slack

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/chatops/chatops/engine"
	"github.com/chatops/chatops/grammar"
	"github.com/slack-go/slack"
)

// Message is what chatops sends to a response_url or returns as an ack.
type Message struct {
	ResponseType    string        `json:"response_type,omitempty"` // in_channel or ephemeral
	ReplaceOriginal bool          `json:"replace_original,omitempty"`
	Text            string        `json:"text"` // the notification's plain text
	Blocks          []slack.Block `json:"blocks,omitempty"`
}

// maxSectionText is Slack's limit on a section's text.
const maxSectionText = 3000

func section(text string) slack.Block {
	if len(text) > maxSectionText {
		text = text[:maxSectionText-20] + "\n… (cut short)"
	}
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil)
}

func contextLine(text string) slack.Block {
	return slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, text, false, false))
}

// escape makes text safe in mrkdwn: Slack's three entities.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func code(s string) string { return "```" + escape(strings.TrimRight(s, "\n")) + "```" }

// RenderResult turns a result into Block Kit: a title, the text, the fields as
// a section's fields, a table as preformatted text (Slack has no tables).
func RenderResult(res *engine.Result, command, jobID string) Message {
	m := Message{ResponseType: "in_channel", Text: res.Title}
	if res.Text != "" && len(res.Rows) == 0 && len(res.Fields) == 0 {
		m.Text = res.Text
	}
	if len(res.Rows) > 0 || len(res.Fields) > 0 {
		m.Blocks = append(m.Blocks, section("*"+escape(res.Title)+"*"))
	}
	if len(res.Fields) > 0 {
		var fields []*slack.TextBlockObject
		for _, f := range res.Fields {
			if f.Value != "" && len(fields) < 10 {
				fields = append(fields, slack.NewTextBlockObject(slack.MarkdownType, "*"+escape(f.Name)+"*\n"+escape(f.Value), false, false))
			}
		}
		m.Blocks = append(m.Blocks, slack.NewSectionBlock(nil, fields, nil))
	}
	if len(res.Rows) > 0 {
		var b strings.Builder
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		tw.Write([]byte(strings.Join(res.Columns, "\t") + "\n"))
		for _, r := range res.Rows {
			tw.Write([]byte(strings.Join(r, "\t") + "\n"))
		}
		tw.Flush()
		var lines []string
		for _, l := range strings.Split(b.String(), "\n") {
			lines = append(lines, strings.TrimRight(l, " "))
		}
		m.Blocks = append(m.Blocks, section(code(strings.Join(lines, "\n"))))
	}
	if res.Text != "" {
		if strings.Contains(res.Text, "\n") {
			m.Blocks = append(m.Blocks, section(code(res.Text)))
		} else {
			m.Blocks = append(m.Blocks, section(escape(res.Text)))
		}
	}
	m.Blocks = append(m.Blocks, contextLine("`"+escape(command)+"` · job "+jobID))
	return m
}

// RenderError turns an error into an ephemeral message: the diagnostic and the
// usage for bad input, the rule for a denial, only a reference for an internal
// error (the detail is in the log).
func RenderError(err error, command string) Message {
	var ge *grammar.Error
	if errors.As(err, &ge) {
		return Message{ResponseType: "ephemeral", Text: ge.Msg, Blocks: []slack.Block{
			section(":warning: " + escape(ge.Msg)),
			section(code(ge.Detail())),
		}}
	}
	icon := ":x:"
	switch engine.ErrorCode(err) {
	case engine.Denied:
		icon = ":no_entry:"
	case engine.Conflict:
		icon = ":lock:"
	case engine.Invalid, engine.NotFound:
		icon = ":warning:"
	}
	msg := engine.ErrorMessage(err)
	m := Message{ResponseType: "ephemeral", Text: msg, Blocks: []slack.Block{section(icon + " " + escape(msg))}}
	if command != "" {
		m.Blocks = append(m.Blocks, contextLine("`"+escape(command)+"`"))
	}
	return m
}

// refusal is the text of a refused command for a later answer: the diagnostic
// with its caret line for bad input, else the message.
func refusal(err error) string {
	var ge *grammar.Error
	if errors.As(err, &ge) {
		return ge.Detail()
	}
	return engine.ErrorMessage(err)
}

// RenderRefusal is a refusal as a worker posts it in a thread.
func RenderRefusal(text, command string) Message {
	icon, body := ":no_entry:", section(":no_entry: "+escape(text))
	if strings.Contains(text, "\n") {
		icon, body = ":warning:", section(code(text))
	}
	return Message{Text: icon + " " + strings.SplitN(text, "\n", 2)[0], Blocks: []slack.Block{body, contextLine("`" + escape(command) + "`")}}
}

// Button action ids.
const (
	ActionApprove = "chatops_approve"
	ActionCancel  = "chatops_cancel"
)

// RenderQuestion asks to confirm or approve a command, with buttons bound to the
// stored question.
func RenderQuestion(i *engine.Interaction, ttl time.Duration) Message {
	who := "Only <@" + escape(i.Requester.Identity) + "> can confirm."
	label := "Confirm"
	if len(i.Approvers) > 0 {
		who = "Needs approval by someone else of " + escape(strings.Join(i.Approvers, " or ")) + "."
		label = "Approve"
	}
	approve := slack.NewButtonBlockElement(ActionApprove, i.ID, slack.NewTextBlockObject(slack.PlainTextType, label, false, false))
	approve.Style = slack.StylePrimary
	cancel := slack.NewButtonBlockElement(ActionCancel, i.ID, slack.NewTextBlockObject(slack.PlainTextType, "Cancel", false, false))
	cancel.Style = slack.StyleDanger
	return Message{ResponseType: "in_channel", Text: i.Question, Blocks: []slack.Block{
		section(":raised_hand: *" + escape(i.Question) + "*\n`" + escape(i.Command) + "`"),
		slack.NewActionBlock("chatops_question", approve, cancel),
		contextLine(fmt.Sprintf("%s Expires in %d minutes.", who, int(ttl.Round(time.Minute).Minutes()))),
	}}
}

// RenderHelp is help as Slack shows it: ephemeral, one line per command the
// asker may run.
func RenderHelp(g *grammar.Grammar, allowed func(*grammar.Spec) bool, slash string) Message {
	var b strings.Builder
	for _, name := range g.Commands() {
		s := g.Forms(name)[0]
		if allowed != nil && !allowed(s) {
			continue
		}
		b.WriteString("`" + escape(slash+" "+s.Usage()) + "`\n" + escape(s.Summary) + "\n")
	}
	return Message{ResponseType: "ephemeral", Text: "chatops commands", Blocks: []slack.Block{
		section("*What you can run here*"),
		section(strings.TrimRight(b.String(), "\n")),
		contextLine("`" + slash + " help <command>` explains one."),
	}}
}

// errAs is errors.As, for the one place a short name reads better.
func errAs(err error, target any) bool { return errors.As(err, target) }
