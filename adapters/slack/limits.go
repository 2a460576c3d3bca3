package slack

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

// Limits of Block Kit and of messages, as Slack documents them. Lengths are
// in characters (runes), which is how Slack counts them, never in bytes.
// Every renderer keeps to them and Check and CheckView hold a message or a
// view to them; notify.go's maxHeaderText is MaxHeaderText.
const (
	// MaxMessageBlocks is how many blocks a message may hold.
	// https://docs.slack.dev/reference/block-kit/blocks
	MaxMessageBlocks = 50
	// MaxViewBlocks is how many blocks a modal or a Home tab may hold.
	// https://docs.slack.dev/reference/block-kit/blocks
	MaxViewBlocks = 100
	// MaxSectionText is the length of a section's text.
	// https://docs.slack.dev/reference/block-kit/blocks/section-block
	MaxSectionText = 3000
	// MaxFields is how many fields a section may hold.
	// https://docs.slack.dev/reference/block-kit/blocks/section-block
	MaxFields = 10
	// MaxFieldText is the length of each of a section's fields.
	// https://docs.slack.dev/reference/block-kit/blocks/section-block
	MaxFieldText = 2000
	// MaxContextElements is how many elements a context block may hold.
	// https://docs.slack.dev/reference/block-kit/blocks/context-block
	MaxContextElements = 10
	// MaxContextText is the length of a context block's text element. A text
	// object may hold 3000 characters
	// (https://docs.slack.dev/reference/block-kit/composition-objects/text-object);
	// a context line is a footnote, and we keep it to a field's 2000.
	MaxContextText = 2000
	// MaxHeaderText is the length of a header block's plain text.
	// https://docs.slack.dev/reference/block-kit/blocks/header-block
	MaxHeaderText = 150
	// MaxActionElements is how many elements an actions block may hold.
	// https://docs.slack.dev/reference/block-kit/blocks/actions-block
	MaxActionElements = 25
	// MaxButtonText is the length of a button's plain text.
	// https://docs.slack.dev/reference/block-kit/block-elements/button-element
	MaxButtonText = 75
	// MaxOptionText is the length of an option's text and of its
	// description. https://docs.slack.dev/reference/block-kit/composition-objects/option-object
	MaxOptionText = 75
	// MaxOptions is how many options a static select may hold.
	// https://docs.slack.dev/reference/block-kit/block-elements/select-menu-element
	MaxOptions = 100
	// MaxPlaceholder is the length of an element's placeholder.
	// https://docs.slack.dev/reference/block-kit/block-elements/select-menu-element
	MaxPlaceholder = 150
	// MaxInputLabel is the length of an input block's label and of its hint.
	// https://docs.slack.dev/reference/block-kit/blocks/input-block
	MaxInputLabel = 2000
	// MaxViewTitle is the length of a modal's title, submit and close texts.
	// https://docs.slack.dev/reference/views/modal-views
	MaxViewTitle = 24
	// MaxPrivateMetadata is the length of a view's private_metadata.
	// https://docs.slack.dev/reference/views/modal-views
	MaxPrivateMetadata = 3000
	// MaxCallbackID is the length of a view's callback_id.
	// https://docs.slack.dev/reference/views/modal-views
	MaxCallbackID = 255
	// MaxMessageText is the length of a message's top-level text, which
	// notifications show: Slack truncates it past 40,000 characters and
	// advises 4,000 (https://docs.slack.dev/reference/methods/chat.postMessage).
	MaxMessageText = 4000
	// MaxMessageBlockText is the characters all the blocks of a message may
	// hold together. Slack does not document it, but refuses messages whose
	// blocks hold about 13,200 with msg_blocks_too_long
	// (https://github.com/slackapi/bolt-js/issues/2509): we stay well under.
	MaxMessageBlockText = 12000
	// MaxContinued is how many continuations an answer may have: a
	// response_url takes five posts in 30 minutes
	// (https://docs.slack.dev/interactivity/handling-user-interaction), the
	// first and four more.
	MaxContinued = 4
)

// maxSectionText is the name the renderers knew MaxSectionText by.
const maxSectionText = MaxSectionText

// fence opens and closes a preformatted block in mrkdwn.
const fence = "```"

// cutNote ends a text that was cut short and does not continue.
const cutNote = " … (cut short)"

// runes is the length of s as Slack counts it.
func runes(s string) int { return utf8.RuneCountInString(s) }

// runeOffset is the byte offset of s's n-th rune, or len(s).
func runeOffset(s string, n int) int {
	for i := range s {
		if n == 0 {
			return i
		}
		n--
	}
	return len(s)
}

// cutText cuts mrkdwn into a head of at most max characters and the rest.
// It cuts on a character boundary, at the last newline (or else space) of
// the second half of the head when there is one; never inside an entity the
// escaping produced (&amp;, &lt;, &gt;), a run of backticks or a short
// <link>; and when the cut falls inside a preformatted block, head closes
// its fence and rest opens it again. rest is "" when s fits.
func cutText(s string, max int) (head, rest string) {
	if runes(s) <= max {
		return s, ""
	}
	i, skip := cutAt(s, runeOffset(s, max))
	if open := strings.Count(s[:i], fence)%2 == 1; !open {
		return s[:i], s[i+skip:]
	}
	i, skip = cutAt(s, runeOffset(s, max-len(fence)))
	if strings.Count(s[:i], fence)%2 == 0 { // the shorter head ends before the fence opened
		return s[:i], s[i+skip:]
	}
	return strings.TrimRight(s[:i], "\n") + fence, fence + s[i+skip:]
}

// cutAt moves a cut at byte n of s back to where cutText may cut, and says
// how many bytes the cut drops (a newline ending the head).
func cutAt(s string, n int) (i, skip int) {
	i = n
	if nl := strings.LastIndexByte(s[:n], '\n'); nl > n/2 {
		i, skip = nl, 1
	} else if sp := strings.LastIndexByte(s[:n], ' '); sp > n/2 {
		i = sp + 1 // the space stays: in a preformatted block it is output
	}
	if amp := strings.LastIndexByte(s[:i], '&'); amp >= 0 && i-amp < len("&amp;") && !strings.Contains(s[amp:i], ";") {
		i, skip = amp, 0
	}
	if lt := strings.LastIndexByte(s[:i], '<'); lt > 0 && i-lt < 200 && !strings.Contains(s[lt:i], ">") {
		i, skip = lt, 0
	}
	for i > 0 && i < len(s) && s[i] == '`' && s[i-1] == '`' {
		i, skip = i-1, 0
	}
	if i == 0 { // nothing safe to keep: cut on the character boundary
		return n, 0
	}
	return i, skip
}

// cutShort is mrkdwn cut to at most max characters, saying it was cut.
func cutShort(s string, max int) string {
	if runes(s) <= max {
		return s
	}
	head, _ := cutText(s, max-runes(cutNote))
	return head + cutNote
}

// cutPlainText is plain text cut to at most max characters on a character
// boundary, saying it was cut.
func cutPlainText(s string, max int) string {
	if runes(s) <= max {
		return s
	}
	return s[:runeOffset(s, max-1)] + "…"
}

// splitText is mrkdwn cut into pieces of at most max characters each.
func splitText(s string, max int) []string {
	var out []string
	for s != "" {
		head, rest := cutText(s, max)
		if head == "" || head == fence+fence { // cannot shorten safely: cut hard
			head, rest = s[:runeOffset(s, max)], s[runeOffset(s, max):]
		}
		out = append(out, head)
		s = rest
	}
	return out
}

// texts is every text a block shows, for the message's total.
func texts(b slack.Block) []string {
	var out []string
	add := func(t *slack.TextBlockObject) {
		if t != nil {
			out = append(out, t.Text)
		}
	}
	switch b := b.(type) {
	case *slack.SectionBlock:
		add(b.Text)
		for _, f := range b.Fields {
			add(f)
		}
	case *slack.ContextBlock:
		for _, e := range b.ContextElements.Elements {
			if t, ok := e.(*slack.TextBlockObject); ok {
				add(t)
			}
		}
	case *slack.HeaderBlock:
		add(b.Text)
	}
	return out
}

// blockRunes is the characters a block shows.
func blockRunes(b slack.Block) int {
	n := 0
	for _, t := range texts(b) {
		n += runes(t)
	}
	return n
}

// Check reports every way m, and each of its continuations, breaks a limit
// of Slack's: the count of blocks, the length of the top-level text, of each
// section's text and fields, context element, header and button, and what
// all the blocks hold together. Slack refuses such a message (invalid_blocks,
// msg_blocks_too_long) or cuts it where it likes.
func Check(m Message) error {
	var c checker
	c.message("", m)
	return c.err()
}

// CheckView reports every way a modal or a Home tab breaks a limit of
// Slack's: its blocks as Check checks them, at most MaxViewBlocks of them, a
// modal's title, submit and close, and the view's metadata.
func CheckView[V slack.ModalViewRequest | slack.HomeTabViewRequest](v V) error {
	var c checker
	switch v := any(v).(type) {
	case slack.ModalViewRequest:
		c.text("title", v.Title, MaxViewTitle, true, true)
		c.text("submit", v.Submit, MaxViewTitle, true, false)
		c.text("close", v.Close, MaxViewTitle, true, false)
		c.view(v.Blocks.BlockSet, v.PrivateMetadata, v.CallbackID)
	case slack.HomeTabViewRequest:
		c.view(v.Blocks.BlockSet, v.PrivateMetadata, v.CallbackID)
	}
	return c.err()
}

// checker gathers the limits a message or a view breaks, in the order of
// their places.
type checker struct{ problems []string }

func (c *checker) addf(path, format string, args ...any) {
	c.problems = append(c.problems, path+": "+fmt.Sprintf(format, args...))
}

func (c *checker) err() error {
	if len(c.problems) == 0 {
		return nil
	}
	const shown = 10
	msg := strings.Join(c.problems[:min(shown, len(c.problems))], "\n")
	if n := len(c.problems) - shown; n > 0 {
		msg += fmt.Sprintf("\n(and %d more errors)", n)
	}
	return &LimitError{Problems: c.problems, msg: msg}
}

// LimitError is what Check and CheckView return: each limit broken, as
// "blocks[2].fields[0]: 2137 characters, at most 2000".
type LimitError struct {
	Problems []string
	msg      string
}

func (e *LimitError) Error() string { return "over Slack's limits:\n" + e.msg }

func (c *checker) message(path string, m Message) {
	if n := runes(m.Text); n > MaxMessageText {
		c.addf(path+"text", "%d characters, at most %d", n, MaxMessageText)
	}
	if m.Text == "" && len(m.Blocks) == 0 {
		c.addf(path+"text", "empty, and no blocks")
	}
	if len(m.Blocks) > MaxMessageBlocks {
		c.addf(path+"blocks", "%d blocks, at most %d", len(m.Blocks), MaxMessageBlocks)
	}
	total := 0
	for i, b := range m.Blocks {
		c.block(fmt.Sprintf("%sblocks[%d]", path, i), b)
		total += blockRunes(b)
	}
	if total > MaxMessageBlockText {
		c.addf(path+"blocks", "%d characters in all, at most %d", total, MaxMessageBlockText)
	}
	for i, k := range m.Continued {
		c.message(fmt.Sprintf("%scontinued[%d].", path, i), k)
	}
}

func (c *checker) view(blocks []slack.Block, metadata, callback string) {
	if len(blocks) > MaxViewBlocks {
		c.addf("blocks", "%d blocks, at most %d", len(blocks), MaxViewBlocks)
	}
	for i, b := range blocks {
		c.block(fmt.Sprintf("blocks[%d]", i), b)
	}
	if n := runes(metadata); n > MaxPrivateMetadata {
		c.addf("private_metadata", "%d characters, at most %d", n, MaxPrivateMetadata)
	}
	if n := runes(callback); n > MaxCallbackID {
		c.addf("callback_id", "%d characters, at most %d", n, MaxCallbackID)
	}
}

// text checks a text object: present when required, plain text where Slack
// takes only that, not empty, and at most max characters.
func (c *checker) text(path string, t *slack.TextBlockObject, max int, plainOnly, required bool) {
	if t == nil {
		if required {
			c.addf(path, "missing")
		}
		return
	}
	switch {
	case t.Type != slack.PlainTextType && t.Type != slack.MarkdownType:
		c.addf(path, "type %q, want plain_text or mrkdwn", t.Type)
	case plainOnly && t.Type != slack.PlainTextType:
		c.addf(path, "type %q, want plain_text", t.Type)
	}
	if t.Text == "" {
		c.addf(path, "empty")
	}
	if n := runes(t.Text); n > max {
		c.addf(path, "%d characters, at most %d", n, max)
	}
}

func (c *checker) block(path string, b slack.Block) {
	switch b := b.(type) {
	case *slack.SectionBlock:
		if b.Text == nil && len(b.Fields) == 0 {
			c.addf(path, "a section with neither text nor fields")
		}
		c.text(path+".text", b.Text, MaxSectionText, false, false)
		if len(b.Fields) > MaxFields {
			c.addf(path+".fields", "%d fields, at most %d", len(b.Fields), MaxFields)
		}
		for i, f := range b.Fields {
			c.text(fmt.Sprintf("%s.fields[%d]", path, i), f, MaxFieldText, false, true)
		}
		if a := b.Accessory; a != nil {
			if a.ButtonElement != nil {
				c.element(path+".accessory", a.ButtonElement)
			}
			if a.SelectElement != nil {
				c.element(path+".accessory", a.SelectElement)
			}
		}
	case *slack.ContextBlock:
		els := b.ContextElements.Elements
		if len(els) == 0 || len(els) > MaxContextElements {
			c.addf(path+".elements", "%d elements, want 1 to %d", len(els), MaxContextElements)
		}
		for i, e := range els {
			if t, ok := e.(*slack.TextBlockObject); ok {
				c.text(fmt.Sprintf("%s.elements[%d]", path, i), t, MaxContextText, false, true)
			}
		}
	case *slack.HeaderBlock:
		c.text(path+".text", b.Text, MaxHeaderText, true, true)
	case *slack.ActionBlock:
		if b.Elements == nil || len(b.Elements.ElementSet) == 0 || len(b.Elements.ElementSet) > MaxActionElements {
			n := 0
			if b.Elements != nil {
				n = len(b.Elements.ElementSet)
			}
			c.addf(path+".elements", "%d elements, want 1 to %d", n, MaxActionElements)
			if b.Elements == nil {
				return
			}
		}
		for i, e := range b.Elements.ElementSet {
			c.element(fmt.Sprintf("%s.elements[%d]", path, i), e)
		}
	case *slack.InputBlock:
		c.text(path+".label", b.Label, MaxInputLabel, true, true)
		c.text(path+".hint", b.Hint, MaxInputLabel, true, false)
		if b.Element != nil {
			c.element(path+".element", b.Element)
		}
	}
}

// element checks the interactive elements chatops uses.
func (c *checker) element(path string, e slack.BlockElement) {
	switch e := e.(type) {
	case *slack.ButtonBlockElement:
		c.text(path+".text", e.Text, MaxButtonText, true, true)
	case *slack.SelectBlockElement:
		c.text(path+".placeholder", e.Placeholder, MaxPlaceholder, true, false)
		if len(e.Options) > MaxOptions {
			c.addf(path+".options", "%d options, at most %d", len(e.Options), MaxOptions)
		}
		for i, o := range e.Options {
			p := fmt.Sprintf("%s.options[%d]", path, i)
			c.text(p+".text", o.Text, MaxOptionText, false, true)
			c.text(p+".description", o.Description, MaxOptionText, false, false)
		}
	case *slack.PlainTextInputBlockElement:
		c.text(path+".placeholder", e.Placeholder, MaxPlaceholder, true, false)
	}
}
