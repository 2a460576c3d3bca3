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

// Text reaches Slack from the ledger, the audit stream, webhooks and programs'
// output, some of it older than the grammar's refusal of control characters.
// Slack would pass them on to whoever copies the text into a terminal, and a
// newline in a table cell breaks the table, so every renderer writes them as
// the terminal does (grammar.Visible: ESC as \x1b), which mrkdwn shows as it is.

// entities is Slack's three entities, which mrkdwn needs escaped.
var entities = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// escape makes text safe on one line of mrkdwn: Slack's three entities, and
// control characters, newlines included, escaped.
func escape(s string) string { return entities.Replace(grammar.Visible(s)) }

// code is s as a preformatted block: its lines kept, other control characters
// escaped.
func code(s string) string {
	return "```" + entities.Replace(grammar.VisibleLines(strings.TrimRight(s, "\n"))) + "```"
}

// plainText is a message's plain text, which Slack shows in notifications: its
// lines kept, other control characters escaped.
func plainText(s string) string { return grammar.VisibleLines(s) }

// RenderResult turns a result into Block Kit: a title, the text, the fields as
// a section's fields, a table as preformatted text (Slack has no tables).
func RenderResult(res *engine.Result, command, jobID string) Message {
	m := Message{ResponseType: "in_channel", Text: plainText(res.Title)}
	if res.Text != "" && len(res.Rows) == 0 && len(res.Fields) == 0 {
		m.Text = plainText(res.Text)
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
		tw.Write([]byte(cells(res.Columns) + "\n"))
		for _, r := range res.Rows {
			tw.Write([]byte(cells(r) + "\n"))
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

// cells joins a table row for tabwriter, each cell on one line and without a
// tab, which would start a column of its own.
func cells(row []string) string {
	out := make([]string, len(row))
	for i, c := range row {
		out[i] = grammar.Visible(c)
	}
	return strings.Join(out, "\t")
}

// RenderError turns an error into an ephemeral message: the diagnostic and the
// usage for bad input, the rule for a denial, only a reference for an internal
// error (the detail is in the log).
func RenderError(err error, command string) Message {
	var ge *grammar.Error
	if errors.As(err, &ge) {
		return Message{ResponseType: "ephemeral", Text: plainText(ge.Msg), Blocks: []slack.Block{
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
	m := Message{ResponseType: "ephemeral", Text: plainText(msg), Blocks: []slack.Block{section(icon + " " + escape(msg))}}
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
	return Message{Text: icon + " " + plainText(strings.SplitN(text, "\n", 2)[0]), Blocks: []slack.Block{body, contextLine("`" + escape(command) + "`")}}
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
	return Message{ResponseType: "in_channel", Text: plainText(i.Question), Blocks: []slack.Block{
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

// RenderExpired replaces a question nobody answered in time: it says the
// command did not run.
func RenderExpired(q *engine.Interaction) Message {
	text := fmt.Sprintf(":hourglass: This question expired at %s unanswered: `%s` was not run. Run it again to be asked again.",
		q.Expires.UTC().Format("15:04 UTC"), escape(q.Command))
	return Message{ReplaceOriginal: true, Text: "expired: " + q.Command + " was not run", Blocks: []slack.Block{section(text)}}
}
