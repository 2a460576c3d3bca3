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
	// Continued is the rest of an answer too long for one message, each
	// part within Slack's limits, in order; at most MaxContinued of them.
	// They are not part of the message's JSON: whoever posts the message
	// posts each of them after it, as replies in its thread or, where there
	// is no thread, to the same response_url.
	Continued []Message `json:"-"`
}

// section is a section of mrkdwn, cut short to fit.
func section(text string) slack.Block {
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, cutShort(text, MaxSectionText), false, false), nil, nil)
}

// sections is mrkdwn as as many sections as it takes, each within the limit,
// a preformatted block closed at the end of one and opened again in the next.
func sections(text string) []slack.Block {
	var out []slack.Block
	for _, t := range splitText(text, MaxSectionText) {
		out = append(out, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, t, false, false), nil, nil))
	}
	return out
}

// codeSections is lines of preformatted text, already escaped, as sections
// of whole lines where a line fits, each one starting with header (a
// table's column names) when there is one.
func codeSections(header string, lines []string) []slack.Block {
	var out []slack.Block
	var cur []string
	n := 0 // the characters of cur's lines and newlines
	flush := func() {
		if len(cur) > 0 {
			out = append(out, sections(fence+strings.Join(cur, "\n")+fence)...)
		}
		cur, n = nil, 0
	}
	start := func() {
		if header != "" {
			cur, n = []string{header}, runes(header)
		}
	}
	start()
	body := false // cur holds a line past the header
	for _, l := range lines {
		add := runes(l)
		if len(cur) > 0 {
			add++
		}
		if body && 2*len(fence)+n+add > MaxSectionText {
			flush()
			start()
			add = runes(l)
			if len(cur) > 0 {
				add++
			}
		}
		cur, n, body = append(cur, l), n+add, true
	}
	flush()
	return out
}

func contextLine(text string) slack.Block {
	return slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, cutShort(text, MaxContextText), false, false))
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
// a section's fields, a table as preformatted text (Slack has no tables). A
// field too long for a field becomes a section of its own; a table or a text
// too long for a section goes on in the next ones, a table's column names
// repeated in each; an answer too long for one message goes on in
// Continued, each part ending with the context line and its number.
func RenderResult(res *engine.Result, command, jobID string) Message {
	m := Message{ResponseType: "in_channel", Text: cutPlainText(plainText(res.Title), MaxMessageText)}
	if res.Text != "" && len(res.Rows) == 0 && len(res.Fields) == 0 {
		m.Text = cutPlainText(plainText(res.Text), MaxMessageText)
	}
	var blocks []slack.Block
	if len(res.Rows) > 0 || len(res.Fields) > 0 {
		blocks = append(blocks, section("*"+escape(res.Title)+"*"))
	}
	if len(res.Fields) > 0 {
		blocks = append(blocks, fieldBlocks(res.Fields)...)
	}
	if len(res.Rows) > 0 {
		var b strings.Builder
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		tw.Write([]byte(cells(res.Columns) + "\n"))
		for _, r := range res.Rows {
			tw.Write([]byte(cells(r) + "\n"))
		}
		tw.Flush()
		lines := codeLines(b.String())
		for i, l := range lines {
			lines[i] = strings.TrimRight(l, " ")
		}
		blocks = append(blocks, codeSections(lines[0], lines[1:])...)
	}
	if res.Text != "" {
		if strings.Contains(res.Text, "\n") {
			blocks = append(blocks, codeSections("", codeLines(res.Text))...)
		} else {
			blocks = append(blocks, sections(escape(res.Text))...)
		}
	}
	footer := "`" + escape(command) + "` · job " + jobID
	return paginate(m, res.Title, blocks, func(part, parts int) slack.Block {
		if parts == 1 {
			return contextLine(footer)
		}
		// The note is short: the command is cut to leave it room.
		note := fmt.Sprintf(" · %d/%d", part, parts)
		return contextLine(cutShort(footer, MaxContextText-runes(note)) + note)
	})
}

// codeLines is s as the escaped lines of a preformatted block: its lines
// kept, other control characters and Slack's entities escaped.
func codeLines(s string) []string {
	return strings.Split(entities.Replace(grammar.VisibleLines(strings.TrimRight(s, "\n"))), "\n")
}

// fieldBlocks is fields with a value as sections of at most MaxFields
// fields; a field longer than MaxFieldText is a section of its own (or
// several), after the fields before it.
func fieldBlocks(fs []engine.Field) []slack.Block {
	var out []slack.Block
	var fields []*slack.TextBlockObject
	flush := func() {
		if len(fields) > 0 {
			out = append(out, slack.NewSectionBlock(nil, fields, nil))
		}
		fields = nil
	}
	for _, f := range fs {
		if f.Value == "" {
			continue
		}
		text := "*" + escape(f.Name) + "*\n" + escape(f.Value)
		if runes(text) > MaxFieldText {
			flush()
			out = append(out, sections(text)...)
			continue
		}
		if len(fields) == MaxFields {
			flush()
		}
		fields = append(fields, slack.NewTextBlockObject(slack.MarkdownType, text, false, false))
	}
	flush()
	return out
}

// paginate puts blocks in m and, past what one message holds (MaxMessageBlocks
// blocks, MaxMessageBlockText characters), in its continuations, whose text
// is title and their number. footer, when not nil, ends each part it returns a block for. Past
// MaxContinued continuations the rest is left out, and the last part says
// how many lines that was.
func paginate(m Message, title string, blocks []slack.Block, footer func(part, parts int) slack.Block) Message {
	const noteRoom = 80 // the left-out note
	reserve := noteRoom
	if footer != nil {
		if f := footer(MaxContinued+1, MaxContinued+1); f != nil {
			reserve += blockRunes(f)
		}
	}
	var parts [][]slack.Block
	var cur []slack.Block
	n := 0
	for _, b := range blocks {
		k := blockRunes(b)
		if len(cur) > 0 && (len(cur)+2 > MaxMessageBlocks || n+k > MaxMessageBlockText-reserve) {
			parts, cur, n = append(parts, cur), nil, 0
		}
		cur, n = append(cur, b), n+k
	}
	if len(cur) > 0 || len(parts) == 0 {
		parts = append(parts, cur)
	}
	if len(parts) > MaxContinued+1 {
		left := 0
		for _, p := range parts[MaxContinued+1:] {
			for _, b := range p {
				left += shownLines(b)
			}
		}
		parts = parts[:MaxContinued+1]
		last := len(parts) - 1
		parts[last] = append(parts[last], section(fmt.Sprintf(":scissors: %d more lines not shown: an answer has at most %d messages.", left, MaxContinued+1)))
	}
	total := len(parts)
	for i, p := range parts {
		if footer != nil {
			if f := footer(i+1, total); f != nil {
				p = append(p, f)
			}
		}
		if i == 0 {
			m.Blocks = p
			continue
		}
		m.Continued = append(m.Continued, Message{
			ResponseType: m.ResponseType,
			Text:         fmt.Sprintf("%s (%d/%d)", cutPlainText(plainText(title), MaxHeaderText), i+1, total),
			Blocks:       p,
		})
	}
	return m
}

// shownLines is how many lines of text a block shows.
func shownLines(b slack.Block) int {
	n := 0
	for _, t := range texts(b) {
		t = strings.TrimSuffix(strings.TrimPrefix(t, fence), fence)
		n += strings.Count(t, "\n") + 1
	}
	return n
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
		return Message{ResponseType: "ephemeral", Text: cutPlainText(plainText(ge.Msg), MaxMessageText), Blocks: []slack.Block{
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
	msg := engine.ChatMessage(err)
	m := Message{ResponseType: "ephemeral", Text: cutPlainText(plainText(msg), MaxMessageText), Blocks: []slack.Block{section(icon + " " + escape(msg))}}
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
	return engine.ChatMessage(err)
}

// RenderRefusal is a refusal as a worker posts it in a thread.
func RenderRefusal(text, command string) Message {
	icon, body := ":no_entry:", section(":no_entry: "+escape(text))
	if strings.Contains(text, "\n") {
		icon, body = ":warning:", section(code(text))
	}
	return Message{Text: cutPlainText(icon+" "+plainText(strings.SplitN(text, "\n", 2)[0]), MaxMessageText), Blocks: []slack.Block{body, contextLine("`" + escape(command) + "`")}}
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
	return Message{ResponseType: "in_channel", Text: cutPlainText(plainText(i.Question), MaxMessageText), Blocks: []slack.Block{
		section(":raised_hand: *" + escape(i.Question) + "*\n`" + escape(i.Command) + "`"),
		slack.NewActionBlock("chatops_question", approve, cancel),
		contextLine(fmt.Sprintf("%s Expires in %d minutes.", who, int(ttl.Round(time.Minute).Minutes()))),
	}}
}

// RenderHelp is help as Slack shows it: ephemeral, one line per command the
// asker may run, in as many sections (and continuations) as it takes, a
// command's usage and summary never apart.
func RenderHelp(g *grammar.Grammar, allowed func(*grammar.Spec) bool, slash string) Message {
	var entries []string
	for _, name := range g.Commands() {
		s := g.Forms(name)[0]
		if allowed != nil && !allowed(s) {
			continue
		}
		entries = append(entries, "`"+escape(slash+" "+s.Usage())+"`\n"+escape(s.Summary))
	}
	blocks := append([]slack.Block{section("*What you can run here*")}, joinSections(entries)...)
	m := Message{ResponseType: "ephemeral", Text: "chatops commands"}
	return paginate(m, m.Text, blocks, func(part, parts int) slack.Block {
		if part < parts {
			return nil
		}
		return contextLine("`" + slash + " help <command>` explains one.")
	})
}

// joinSections is entries of mrkdwn joined by newlines into as few sections
// as hold them, an entry split only when it is longer than a section.
func joinSections(entries []string) []slack.Block {
	var out []slack.Block
	var b strings.Builder
	n := 0
	flush := func() {
		if b.Len() > 0 {
			out = append(out, sections(b.String())...)
		}
		b.Reset()
		n = 0
	}
	for _, e := range entries {
		k := runes(e)
		if n > 0 && n+1+k > MaxSectionText {
			flush()
		}
		if n > 0 {
			b.WriteString("\n")
			n++
		}
		b.WriteString(e)
		n += k
	}
	flush()
	return out
}

// errAs is errors.As, for the one place a short name reads better.
func errAs(err error, target any) bool { return errors.As(err, target) }

// RenderExpired replaces a question nobody answered in time: it says the
// command did not run.
func RenderExpired(q *engine.Interaction) Message {
	text := fmt.Sprintf(":hourglass: This question expired at %s unanswered: `%s` was not run. Run it again to be asked again.",
		q.Expires.UTC().Format("15:04 UTC"), escape(q.Command))
	return Message{ReplaceOriginal: true, Text: cutPlainText(plainText("expired: "+q.Command+" was not run"), MaxMessageText), Blocks: []slack.Block{section(text)}}
}
