package slack

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/chatops/chatops/engine"
	"github.com/chatops/chatops/grammar"
	"github.com/hashicorp/go-retryablehttp"
	"github.com/slack-go/slack"
)

// Defaults of a Notifier.
const (
	// DefaultPace is the least time between two posts in one channel:
	// chat.postMessage allows about one message per second per channel.
	DefaultPace = time.Second
	// DefaultNoticeMaxAge is how long after its event a notice is still
	// worth posting; an older one is dropped.
	DefaultNoticeMaxAge = 24 * time.Hour
)

// Notifier posts pipeline notices to Slack: one thread per release per
// channel, whose parent states the release stage by stage and is updated as
// events arrive, each later event a reply in it. Lock, unlock and route
// notices are plain channel messages.
//
// The notices queue hands a channel's notices over one at a time and in
// order, across every process, and a notice that asks for a Retry comes back
// ahead of the channel's later ones: Deliver makes one attempt, never sleeps
// on a Retry-After, and returns only once Pace has passed since its post, so
// the channel's rate holds whichever process delivers the next notice.
type Notifier struct {
	// Threads keeps each release's thread per channel; required.
	Threads engine.Threads
	// Token returns a workspace's bot token: "" (or a NotFound error) when
	// there is none, and the notice is dropped; another error when it
	// cannot be read now, retried as CheckRetry says.
	Token func(ctx context.Context, team string) (string, error)
	// APIURL is Slack's Web API unless a test gives its own.
	APIURL string
	// HTTP makes every Web API call: NewDeliveryHTTPClient when nil. It
	// must not retry: the queue does, after the Retry Deliver returns.
	HTTP *retryablehttp.Client
	// Now is the clock and After its timer; time.Now and time.After when nil.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
	// Pace is the least time between two posts in a channel; DefaultPace
	// when zero. chat.update is not paced: it has a rate tier of its own.
	Pace time.Duration
	// MaxAge is how long after its event a notice is tried;
	// DefaultNoticeMaxAge when zero.
	MaxAge time.Duration
	// Backoff and CheckRetry are the retry policies; DefaultBackoff and
	// DefaultCheckRetry when nil.
	Backoff    Backoff
	CheckRetry CheckRetry
	// Log gets every failure, redacted; slog.Default when nil.
	Log *slog.Logger

	once sync.Once
	apis *webAPIs
}

func (n *Notifier) init() {
	n.once.Do(func() {
		if n.HTTP == nil {
			n.HTTP = NewDeliveryHTTPClient()
		}
		if n.Now == nil {
			n.Now = time.Now
		}
		if n.After == nil {
			n.After = time.After
		}
		if n.Pace == 0 {
			n.Pace = DefaultPace
		}
		if n.MaxAge == 0 {
			n.MaxAge = DefaultNoticeMaxAge
		}
		if n.Backoff == nil {
			n.Backoff = DefaultBackoff
		}
		if n.CheckRetry == nil {
			n.CheckRetry = DefaultCheckRetry
		}
		if n.Log == nil {
			n.Log = slog.Default()
		}
		n.apis = newWebAPIs(n.HTTP)
	})
}

// Deliver makes one attempt at a notice and says when to try again, if ever.
// Its signature is the one engine.Notices.Deliver calls.
func (n *Notifier) Deliver(ctx context.Context, nt *engine.Notice) engine.Retry {
	n.init()
	d := &notice{n: n, nt: nt, ev: &nt.Event}
	r := d.deliver(ctx)
	d.pace(ctx, r.After)
	return r
}

// notice is one attempt at one notice.
type notice struct {
	n   *Notifier
	nt  *engine.Notice
	ev  *engine.Event
	api *slack.Client
	// posted is when this attempt's last chat.postMessage started; zero
	// before the first.
	posted time.Time
}

func (d *notice) deliver(ctx context.Context) engine.Retry {
	if at := d.ev.At; !at.IsZero() && d.n.Now().Sub(at) > d.n.MaxAge {
		return d.drop(fmt.Sprintf("older than %v", d.n.MaxAge))
	}
	api, err := d.n.apis.client(ctx, d.n.Token, d.n.APIURL, d.nt.Route.Workspace)
	if err != nil {
		return d.failed(ctx, "bot token", err)
	}
	if api == nil {
		return d.drop("no bot token for workspace " + orNone(d.nt.Route.Workspace))
	}
	d.api = api
	if d.ev.Version == "" {
		_, err := d.post(ctx, RenderNotice(d.ev), "")
		return d.failed(ctx, RoutePostMessage, err)
	}

	key := engine.ThreadKey(d.nt.Route, d.ev.Pipeline, d.ev.Version)
	t, rev, err := d.n.Threads.Get(ctx, key)
	switch {
	case engine.ErrorCode(err) == engine.NotFound:
		t, rev = nil, 0
	case err != nil:
		return d.retry("reading the thread", err)
	}
	if t == nil || t.TS == "" {
		return d.start(ctx, key, t, rev)
	}
	if t.Replied != d.nt.ID {
		if t.Repeat(d.ev) {
			d.n.Log.Debug("notice collapsed: its thread shows it already", d.attrs()...)
			return engine.Retry{}
		}
		var r engine.Retry
		if t, rev, r = d.reply(ctx, key, t, rev); t == nil {
			return r
		}
	}
	return d.refresh(ctx, key, t, rev)
}

// start posts the parent of a new thread, showing the first event, and
// stores the thread under it. The first event has no reply of its own.
func (d *notice) start(ctx context.Context, key string, t *engine.Thread, rev uint64) engine.Retry {
	if t == nil {
		t = &engine.Thread{Pipeline: d.ev.Pipeline, Version: d.ev.Version, Route: d.nt.Route}
	}
	t.Apply(d.ev) // again in save, should the thread have to be reloaded
	ts, err := d.post(ctx, RenderThreadParent(t, d.nt.Stages), "")
	if err != nil {
		return d.failed(ctx, RoutePostMessage+" (thread parent)", err)
	}
	_, _, err = d.save(ctx, key, t, rev, func(t *engine.Thread) {
		if t.TS == "" {
			t.TS = ts
		}
		t.Apply(d.ev)
		t.Replied = d.nt.ID
		t.Stale = t.TS != ts // another writer's parent, which does not show it
	})
	if err != nil {
		// Tried again, the notice posts a second parent: better than a
		// thread no later event can find.
		return d.retry("storing the new thread", err)
	}
	return engine.Retry{}
}

// reply posts the event in the thread and records it; t is nil when the
// attempt ends there, with r.
func (d *notice) reply(ctx context.Context, key string, t *engine.Thread, rev uint64) (*engine.Thread, uint64, engine.Retry) {
	if _, err := d.post(ctx, RenderNoticeReply(d.ev), t.TS); err != nil {
		return nil, 0, d.failed(ctx, RoutePostMessage+" (reply)", err)
	}
	t, rev, err := d.save(ctx, key, t, rev, func(t *engine.Thread) {
		t.Apply(d.ev)
		t.Replied = d.nt.ID
		t.Stale = true
	})
	if err != nil {
		// Tried again, the notice replies a second time: better than a
		// parent that never shows it.
		return nil, 0, d.retry("storing the thread after its reply", err)
	}
	return t, rev, engine.Retry{}
}

// refresh updates the parent to the thread's state and records that it shows
// it.
func (d *notice) refresh(ctx context.Context, key string, t *engine.Thread, rev uint64) engine.Retry {
	m := RenderThreadParent(t, d.nt.Stages)
	if _, _, _, err := d.api.UpdateMessageContext(ctx, d.nt.Route.Channel, t.TS, messageOptions(m)...); err != nil {
		return d.failed(ctx, "chat.update", err)
	}
	if !t.Stale {
		return engine.Retry{}
	}
	if _, _, err := d.save(ctx, key, t, rev, func(t *engine.Thread) {
		if t.Replied == d.nt.ID { // no later notice made it stale again
			t.Stale = false
		}
	}); err != nil {
		// The parent is right; the flag left set costs one update later.
		d.n.Log.Warn("thread parent updated but not recorded", append(d.attrs(), "err", RedactError(err))...)
	}
	return engine.Retry{}
}

// maxSaves bounds how often save reloads a thread another writer changed.
const maxSaves = 3

// save applies change to t and stores it by compare-and-set on rev; when
// another writer got there first it reloads the thread and applies change to
// that.
func (d *notice) save(ctx context.Context, key string, t *engine.Thread, rev uint64, change func(*engine.Thread)) (*engine.Thread, uint64, error) {
	for i := 1; ; i++ {
		change(t)
		next, err := d.n.Threads.Put(ctx, key, t, rev)
		if err == nil {
			return t, next, nil
		}
		if engine.ErrorCode(err) != engine.Conflict || i == maxSaves {
			return nil, 0, err
		}
		if t, rev, err = d.n.Threads.Get(ctx, key); err != nil {
			return nil, 0, err
		}
	}
}

// post waits for the channel's pace, then posts m (in a thread when
// threadTS is set) and returns its ts.
func (d *notice) post(ctx context.Context, m Message, threadTS string) (string, error) {
	d.pace(ctx, 0)
	if err := ctx.Err(); err != nil {
		return "", err
	}
	d.posted = d.n.Now()
	opts := messageOptions(m)
	if threadTS != "" {
		opts = append(opts, slack.MsgOptionTS(threadTS))
	}
	_, ts, err := d.api.PostMessageContext(ctx, d.nt.Route.Channel, opts...)
	return ts, err
}

// pace waits until Pace has passed since the last post started, less
// covered: the delay the queue adds before the channel's next delivery.
func (d *notice) pace(ctx context.Context, covered time.Duration) {
	if d.posted.IsZero() {
		return
	}
	wait := d.n.Pace - d.n.Now().Sub(d.posted) - covered
	if wait <= 0 {
		return
	}
	select {
	case <-d.n.After(wait):
	case <-ctx.Done():
	}
}

// failed settles a call: done when it worked, a later attempt when it may
// work then (at least the Retry-After Slack asked for), dropped otherwise.
func (d *notice) failed(ctx context.Context, call string, err error) engine.Retry {
	if err == nil {
		d.n.Log.Debug("notice posted", d.attrs()...)
		return engine.Retry{}
	}
	err = RedactError(err)
	retry, after := d.n.CheckRetry(err)
	if !retry {
		return d.drop(call + ": " + err.Error())
	}
	wait := max(d.n.Backoff(max(d.nt.Attempt, 1), after), after, time.Millisecond)
	if ctx.Err() == nil {
		d.n.Log.Warn("notice not posted yet; will retry", append(d.attrs(), "call", call, "retry_in", wait.Round(time.Millisecond), "err", err)...)
	}
	return engine.Retry{After: wait}
}

// retry asks for a later attempt after a failure of the thread store.
func (d *notice) retry(what string, err error) engine.Retry {
	err = RedactError(err)
	wait := max(d.n.Backoff(max(d.nt.Attempt, 1), 0), time.Millisecond)
	d.n.Log.Warn("notice held: "+what+" failed; will retry", append(d.attrs(), "retry_in", wait.Round(time.Millisecond), "err", err)...)
	return engine.Retry{After: wait}
}

// drop gives up on the notice for good: nothing will make it work.
func (d *notice) drop(why string) engine.Retry {
	d.n.Log.Error("notice dropped", append(d.attrs(), "reason", Redact(why))...)
	return engine.Retry{}
}

func (d *notice) attrs() []any {
	return []any{"notice", d.nt.ID, "channel", d.nt.Route.Channel, "pipeline", d.ev.Pipeline,
		"version", d.ev.Version, "attempt", d.nt.Attempt}
}

// messageOptions are m's text and blocks as the Web API takes them.
func messageOptions(m Message) []slack.MsgOption {
	opts := []slack.MsgOption{slack.MsgOptionText(m.Text, false)}
	if len(m.Blocks) > 0 {
		opts = append(opts, slack.MsgOptionBlocks(m.Blocks...))
	}
	return opts
}

// Limits of Block Kit the renderers keep to.
const (
	maxHeaderText = 150 // a header block's plain text
	maxStageText  = 200 // runes of a stage's note on the parent
	maxLinkURL    = 1000
)

// RenderThreadParent is the parent of a release's thread: the release named
// in a header, its state in each stage (in the order of stages, then any
// other stage the thread knows), and the latest event. It has at most three
// blocks.
func RenderThreadParent(t *engine.Thread, stages []string) Message {
	title := t.Pipeline + " " + t.Version
	var lines []string
	listed := map[string]bool{}
	for _, s := range stages {
		listed[s] = true
		lines = append(lines, stageLine(s, t.Stages[s], t.Stages[s].State != ""))
	}
	var others []string
	for s := range t.Stages {
		if !listed[s] {
			others = append(others, s)
		}
	}
	sort.Strings(others)
	for _, s := range others {
		lines = append(lines, stageLine(s, t.Stages[s], true))
	}
	m := Message{Text: cutPlainText(plainText(title), maxSectionText)}
	m.Blocks = append(m.Blocks, slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType,
		cutPlainText(grammar.Visible(title), maxHeaderText), false, false)))
	if len(lines) > 0 {
		m.Blocks = append(m.Blocks, mrkdwnSection(joinLines(lines, maxSectionText)))
	}
	if ev := t.Latest; ev != nil {
		m.Text = cutPlainText(plainText(title+": "+ev.Describe()), maxSectionText)
		m.Blocks = append(m.Blocks, contextLine(cutShort("Latest: "+escape(ev.Describe())+eventWhen(ev), MaxContextText)))
	}
	return m
}

// stageLine is one stage of a thread's parent.
func stageLine(stage string, st engine.StageStatus, known bool) string {
	if !known {
		return "⚪ *" + escape(stage) + "*: not yet"
	}
	var b strings.Builder
	b.WriteString(stateEmoji(st.State) + " *" + escape(stage) + "*: ")
	if st.Action != "" {
		b.WriteString(escape(st.Action) + " ")
	}
	b.WriteString(stateWords(st.State))
	if st.By != "" {
		b.WriteString(" by " + escape(st.By))
	}
	if !st.At.IsZero() {
		b.WriteString(" · " + slackDate(st.At))
	}
	if st.Text != "" {
		b.WriteString(" · " + escape(cutPlainText(st.Text, maxStageText)))
	}
	if l := link(st.URL); l != "" {
		b.WriteString(" · " + l)
	}
	return b.String()
}

// RenderNoticeReply is an event as a reply in its release's thread: what
// happened, its text, a link to its details, where it came from and when.
func RenderNoticeReply(ev *engine.Event) Message {
	describe := ev.Describe()
	m := Message{Text: cutPlainText(plainText(describe), maxSectionText), Blocks: []slack.Block{
		mrkdwnSection(cutShort(stateEmoji(ev.State)+" "+escape(describe), maxSectionText)),
	}}
	if _, rest, ok := strings.Cut(strings.TrimRight(ev.Text, "\n"), "\n"); ok {
		// Describe quotes the first line; the others follow as they are.
		m.Blocks = append(m.Blocks, mrkdwnSection(codeBlock(rest)))
	}
	m.Blocks = append(m.Blocks, contextLine(eventContext(ev)))
	return m
}

// RenderNotice is an event about a pipeline rather than a release (a lock,
// an unlock, a route) as a message of its own in the channel.
func RenderNotice(ev *engine.Event) Message {
	describe := ev.Describe()
	text := stateEmoji(ev.State) + " " + escape(describe)
	if ev.Action == "lock" && ev.Text != "" { // Describe leaves a lock's reason out
		text += "\n> " + escape(ev.Text)
	}
	return Message{Text: cutPlainText(plainText(describe), maxSectionText), Blocks: []slack.Block{
		mrkdwnSection(cutShort(text, maxSectionText)),
		contextLine(eventContext(ev)),
	}}
}

// eventContext is an event's link, its reporter and its time, for a
// context line.
func eventContext(ev *engine.Event) string {
	var parts []string
	if l := link(ev.URL); l != "" {
		parts = append(parts, l)
	}
	// Describe names who and where of a command; a report's come here.
	if ev.Source != "" && ev.Source != engine.SourceTerminal && ev.Source != engine.SourceSlack {
		via := "via " + escape(ev.Source)
		if ev.By != "" {
			via = "by " + escape(ev.By) + " " + via
		}
		parts = append(parts, via)
	}
	if !ev.At.IsZero() {
		parts = append(parts, slackDate(ev.At))
	}
	if len(parts) == 0 {
		return escape(ev.Pipeline)
	}
	return cutShort(strings.Join(parts, " · "), MaxContextText)
}

func eventWhen(ev *engine.Event) string {
	if ev.At.IsZero() {
		return ""
	}
	return " · " + slackDate(ev.At)
}

// stateEmoji shows an event's state at a glance.
func stateEmoji(state string) string {
	switch state {
	case engine.EventSuccess:
		return "✅"
	case engine.EventInProgress:
		return "⏳"
	case engine.EventPending:
		return "🕓"
	case engine.EventFailure:
		return "❌"
	case engine.EventUnknown:
		return "❓"
	case engine.EventLocked:
		return "🔒"
	case engine.EventUnlocked:
		return "🔓"
	case engine.EventRouted:
		return "📣"
	}
	return "•"
}

func stateWords(state string) string {
	switch state {
	case engine.EventSuccess:
		return "succeeded"
	case engine.EventFailure:
		return "failed"
	case engine.EventUnknown:
		return "state unknown"
	}
	return escape(strings.ReplaceAll(state, "_", " "))
}

// slackDate shows t in each reader's time zone, with UTC as the fallback of
// clients that cannot.
func slackDate(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04 UTC"))
}

// link is a mrkdwn link to an http(s) URL, labelled with its host and path;
// "" for anything else, which Slack would not open anyway.
func link(raw string) string {
	u, err := url.Parse(raw)
	if raw == "" || len(raw) > maxLinkURL || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	label := strings.TrimSuffix(u.Host+u.EscapedPath(), "/")
	// '|' ends a link's URL and '>' the link: neither may stay raw.
	target := strings.NewReplacer("|", "%7C", ">", "%3E", "<", "%3C").Replace(u.String())
	return "<" + strings.ReplaceAll(target, "&", "&amp;") + "|" + escape(cutPlainText(label, 80)) + ">"
}

// mrkdwnSection is a section of mrkdwn already within Slack's limit.
func mrkdwnSection(text string) slack.Block {
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil)
}

// codeBlock is s preformatted, cut to fit a section with its fences.
func codeBlock(s string) string {
	return "```" + cutShort(entities.Replace(grammar.VisibleLines(s)), maxSectionText-6) + "```"
}

// joinLines joins lines of mrkdwn within max bytes, cutting between lines
// (never inside a link) and saying how many were left out.
func joinLines(lines []string, max int) string {
	const note = 40 // room for the "… and N more stages" line
	var b strings.Builder
	for i, l := range lines {
		sep := ""
		if i > 0 {
			sep = "\n"
		}
		need := b.Len() + len(sep) + len(l)
		if i < len(lines)-1 {
			need += note
		}
		if need > max {
			if i == 0 {
				return cutShort(l, max)
			}
			fmt.Fprintf(&b, "\n… and %d more stages", len(lines)-i)
			return b.String()
		}
		b.WriteString(sep + l)
	}
	return b.String()
}
