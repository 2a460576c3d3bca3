package slack

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/chatops/chatops/engine"
	"github.com/slack-go/slack"
)

// progressInterval spaces out thread replies, within chat.postMessage's rate.
const progressInterval = time.Second

// threadProgress posts a job's progress lines as replies in a thread under one
// message of its own, batching lines so a chatty program does not hit Slack's
// rate limits. Without a bot token or a channel it keeps nothing.
type threadProgress struct {
	api     *slack.Client
	channel string
	thread  string // the thread's ts, once there is one
	command string

	mu      sync.Mutex
	pending []string
	last    time.Time
	log     func(err error)
}

func newThreadProgress(api *slack.Client, j *engine.QueuedJob, log func(error)) *threadProgress {
	channel := j.Reply["channel"]
	if channel == "" {
		channel = j.Channel
	}
	return &threadProgress{api: api, channel: channel, thread: j.Reply["thread_ts"], command: j.Command, log: log}
}

// add takes one line; it posts when the last post is old enough.
func (p *threadProgress) add(ctx context.Context, line string) {
	if p.api == nil || p.channel == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending = append(p.pending, line)
	if time.Since(p.last) >= progressInterval {
		p.flushLocked(ctx)
	}
}

// flush posts what is pending.
func (p *threadProgress) flush(ctx context.Context) {
	if p.api == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.flushLocked(ctx)
}

func (p *threadProgress) flushLocked(ctx context.Context) {
	if len(p.pending) == 0 {
		return
	}
	if p.thread == "" {
		_, ts, err := p.api.PostMessageContext(ctx, p.channel,
			slack.MsgOptionText(":hourglass_flowing_sand: Running `"+escape(p.command)+"`; progress in the thread.", false))
		if err != nil {
			p.log(err)
			return
		}
		p.thread = ts
	}
	text := code(strings.Join(p.pending, "\n"))
	if _, _, err := p.api.PostMessageContext(ctx, p.channel, slack.MsgOptionText(text, false), slack.MsgOptionTS(p.thread)); err != nil {
		p.log(err)
	}
	p.pending, p.last = nil, time.Now()
}
