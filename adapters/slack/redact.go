package slack

import (
	"regexp"
	"strings"
)

// A response_url lets anyone who holds it post to its channel for 30 minutes,
// and a token does more: neither may reach a log. Web API method URLs
// (https://slack.com/api/chat.postMessage) say which call failed and carry no
// secret, so they are kept, without their query.
var (
	urlPattern    = regexp.MustCompile(`(?i)\b(https?://[^/\s"'<>]+)(/[^\s"'<>]*)?`)
	apiPath       = regexp.MustCompile(`^/api/[A-Za-z]+(\.[A-Za-z]+)*$`)
	tokenPattern  = regexp.MustCompile(`\b(xox[a-z](?:\.xox[a-z])?|xapp)-[A-Za-z0-9-]+`)
	formTokenPair = regexp.MustCompile(`(?i)\b(token|client_secret)=[^&\s"']+`)
)

// Redact removes secrets from s: the path and query of every URL but a Web API
// method's (a response_url keeps only its scheme and host), Slack tokens
// (xoxb-, xoxp-, xoxe-, xapp- …) and token= form values.
func Redact(s string) string {
	s = urlPattern.ReplaceAllStringFunc(s, func(u string) string {
		m := urlPattern.FindStringSubmatch(u)
		path, _, _ := strings.Cut(m[2], "?")
		path, _, _ = strings.Cut(path, "#")
		if path == "" || path == "/" {
			return m[1] + path
		}
		if apiPath.MatchString(path) {
			return m[1] + path
		}
		return m[1] + "/…"
	})
	s = tokenPattern.ReplaceAllString(s, "$1-…")
	return formTokenPair.ReplaceAllString(s, "$1=…")
}

// RedactError returns err with its message redacted; errors.Is and errors.As
// still see the error underneath. It returns nil for nil.
func RedactError(err error) error {
	if err == nil {
		return nil
	}
	return &redactedError{msg: Redact(err.Error()), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
