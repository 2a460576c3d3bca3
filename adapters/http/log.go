package http

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
)

// urlPattern finds the URLs inside a log line or an error.
var urlPattern = regexp.MustCompile(`https?://[^\s"'<>]+`)

// safeURL returns u without user info, query and fragment: where a
// webhook's token would sit.
func safeURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "<unparsable URL>"
	}
	hidden := p.RawQuery != "" || p.ForceQuery
	p.User, p.RawQuery, p.ForceQuery, p.Fragment, p.RawFragment = nil, "", false, "", ""
	if hidden {
		return p.String() + "?…"
	}
	return p.String()
}

// redact rewrites every URL inside s as safeURL does.
func redact(s string) string {
	return urlPattern.ReplaceAllStringFunc(s, safeURL)
}

// leveled adapts a *slog.Logger to retryablehttp.LeveledLogger, redacting
// the URLs of every value it is given.
type leveled struct{ l *slog.Logger }

func (l leveled) log(level slog.Level, msg string, kv []any) {
	ctx := context.Background()
	if !l.l.Enabled(ctx, level) {
		return
	}
	for i := 1; i < len(kv); i += 2 {
		switch v := kv[i].(type) {
		case string:
			kv[i] = redact(v)
		case error, fmt.Stringer:
			kv[i] = redact(fmt.Sprint(v))
		}
	}
	l.l.Log(ctx, level, "http driver: "+msg, kv...)
}

func (l leveled) Error(msg string, kv ...any) { l.log(slog.LevelError, msg, kv) }
func (l leveled) Info(msg string, kv ...any)  { l.log(slog.LevelInfo, msg, kv) }
func (l leveled) Debug(msg string, kv ...any) { l.log(slog.LevelDebug, msg, kv) }
func (l leveled) Warn(msg string, kv ...any)  { l.log(slog.LevelWarn, msg, kv) }
