package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chatops/chatops/engine"
	"github.com/hashicorp/go-retryablehttp"
	"github.com/slack-go/slack"
)

// Routes an answer can take, as Deliverer.Delivered names them.
const (
	RouteResponseURL   = "response_url"
	RoutePostEphemeral = "chat.postEphemeral"
	RoutePostMessage   = "chat.postMessage"
	// RouteDM is conversations.open with the requester, then chat.postMessage
	// there: the bot is not in the channel.
	RouteDM = "dm"
)

// Defaults of a Deliverer.
const (
	// DefaultMaxAge is how long an answer is tried before it is undelivered.
	DefaultMaxAge = time.Hour
	// DefaultBackoffMin and DefaultBackoffMax bound DefaultBackoff's
	// exponential part; a Retry-After may ask for longer.
	DefaultBackoffMin = time.Second
	DefaultBackoffMax = 5 * time.Minute
	// deliveryTimeout bounds one HTTP call of one attempt.
	deliveryTimeout = 10 * time.Second
)

// ErrNotAllowed is a response_url or redirect on a host answers are not sent
// to: no retry makes it allowed.
var ErrNotAllowed = errors.New("not on an allowed host")

// Backoff says how long a delivery waits after its failed attempt (from 1)
// before the next; retryAfter is what the server asked (zero when it did not
// say) and is the least the wait may be.
type Backoff func(attempt int, retryAfter time.Duration) time.Duration

// DefaultBackoff doubles from DefaultBackoffMin up to DefaultBackoffMax, with
// equal jitter (half fixed, half random) so answers that failed together do
// not retry together, and waits at least retryAfter plus up to a tenth more.
func DefaultBackoff(attempt int, retryAfter time.Duration) time.Duration {
	d := DefaultBackoffMax
	if attempt < 1 {
		attempt = 1
	}
	if attempt <= 20 {
		d = min(DefaultBackoffMin<<(attempt-1), DefaultBackoffMax)
	}
	d = d/2 + rand.N(d/2+1)
	if retryAfter > 0 {
		return max(d, retryAfter+rand.N(retryAfter/10+1))
	}
	return d
}

// CheckRetry says whether a route's failure is worth another attempt later
// (a rate limit, a server error, the network) or final for that route, and
// the least wait the server asked for.
type CheckRetry func(err error) (retry bool, retryAfter time.Duration)

// transientAPIErrors are Web API error codes that may pass by themselves.
var transientAPIErrors = map[string]bool{
	"ratelimited": true, "rate_limited": true, "internal_error": true, "fatal_error": true,
	"service_unavailable": true, "request_timeout": true,
}

// DefaultCheckRetry retries rate limits (honouring their Retry-After), 5xx,
// Slack's transient error codes, an unavailable token store and network
// failures; other 4xx, Web API errors such as not_in_channel or invalid_auth,
// other engine errors and refused hosts are final.
func DefaultCheckRetry(err error) (bool, time.Duration) {
	var rl *slack.RateLimitedError
	var re *ResponseError
	var sc slack.StatusCodeError
	var se slack.SlackErrorResponse
	var ee *engine.Error
	switch {
	case err == nil, errors.Is(err, ErrNotAllowed):
		return false, 0
	case errors.As(err, &rl):
		return true, rl.RetryAfter
	case errors.As(err, &re):
		return re.Status == http.StatusTooManyRequests || re.Status >= 500, re.RetryAfter
	case errors.As(err, &sc):
		return sc.Code == http.StatusTooManyRequests || sc.Code >= 500, 0
	case errors.As(err, &se):
		return transientAPIErrors[se.Err], 0
	case errors.As(err, &ee): // reading the bot token
		return ee.Code == engine.Unavailable, 0
	}
	// The network, a timeout, or an answer cut short.
	return true, 0
}

// ResponseError is a response_url's refusal: its HTTP status, Slack's error
// code (expired_url, used_url, …) and any Retry-After.
type ResponseError struct {
	Status     int
	Code       string
	RetryAfter time.Duration
}

// Error says what the response_url answered; never the URL.
func (e *ResponseError) Error() string {
	s := fmt.Sprintf("response_url answered %d %s", e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		s += ": " + e.Code
	}
	return s
}

// Deliverer sends answers where their jobs came from. One attempt tries, in
// order: the response_url (while younger than 30 minutes and not refused as
// expired or used up); then the Web API, chat.postEphemeral to the requester
// for an ephemeral answer or chat.postMessage in the channel (and thread)
// otherwise; and when the bot is not in the channel, a DM to the requester.
// A transient failure asks the outbox for a later attempt; a final one moves
// to the next route; when none is left, the answer is undelivered.
//
// Each attempt makes one HTTP call per route it tries: retries are the
// outbox's delayed redeliveries, so no goroutine sleeps on a Retry-After.
type Deliverer struct {
	// ResponseHosts are the host[:port]s a response_url may name;
	// DefaultResponseHosts when nil. https only, plain http on loopback.
	ResponseHosts []string
	// Token returns a workspace's bot token: "" when there is none (no Web
	// API route), an error when it cannot be read now (retried unless the
	// error's code is NotFound).
	Token func(ctx context.Context, team string) (string, error)
	// APIURL is Slack's Web API unless a test gives its own.
	APIURL string
	// HTTP makes every call, response_url and Web API: NewDeliveryHTTPClient
	// when nil. It must neither retry nor follow redirects.
	HTTP *retryablehttp.Client
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Backoff and CheckRetry are the retry policies; DefaultBackoff and
	// DefaultCheckRetry when nil.
	Backoff    Backoff
	CheckRetry CheckRetry
	// MaxAge is how long after its Created an answer is tried; DefaultMaxAge
	// when zero.
	MaxAge time.Duration
	// Delivered is called once an answer is posted, with the route it took.
	Delivered func(ctx context.Context, d *engine.Delivery, route string)
	// Undelivered is called when no route is left, with why (redacted: it
	// may go to the audit).
	Undelivered func(ctx context.Context, d *engine.Delivery, reason string)
	// Post puts a delivery in the outbox: an answer's continuations go
	// there once the part before them is delivered.
	Post func(ctx context.Context, d *engine.Delivery) error
	// AlreadyDelivered, when set, reports whether an answer reached someone
	// before: a delivery that comes back because its process died between
	// delivering and acknowledging it is then dropped, not posted again.
	AlreadyDelivered func(ctx context.Context, d *engine.Delivery) bool
	// Log gets every failure, redacted; slog.Default when nil.
	Log *slog.Logger

	once sync.Once
	apis *webAPIs
}

// NewDeliverer returns a Deliverer with its defaults filled in.
func NewDeliverer(log *slog.Logger) *Deliverer {
	d := &Deliverer{Log: log}
	d.init()
	return d
}

func (d *Deliverer) init() {
	d.once.Do(func() {
		if d.HTTP == nil {
			d.HTTP = NewDeliveryHTTPClient()
		}
		if d.Now == nil {
			d.Now = time.Now
		}
		if d.Backoff == nil {
			d.Backoff = DefaultBackoff
		}
		if d.CheckRetry == nil {
			d.CheckRetry = DefaultCheckRetry
		}
		if d.MaxAge == 0 {
			d.MaxAge = DefaultMaxAge
		}
		if d.Log == nil {
			d.Log = slog.Default()
		}
		d.apis = newWebAPIs(d.HTTP)
	})
}

// NewDeliveryHTTPClient returns the client answers go through: one attempt
// per call (the outbox schedules retries), no redirects, no logger (its debug
// lines name the URL), a 10 s timeout.
func NewDeliveryHTTPClient() *retryablehttp.Client {
	c := retryablehttp.NewClient()
	c.RetryMax = 0
	c.CheckRetry = SingleAttempt
	c.ErrorHandler = retryablehttp.PassthroughErrorHandler
	c.Logger = nil
	c.HTTPClient.Timeout = deliveryTimeout
	c.HTTPClient.CheckRedirect = noRedirect
	return c
}

// SingleAttempt is a retryablehttp.CheckRetry that never retries: a delivery
// that should be tried again goes back to the outbox with its delay.
func SingleAttempt(ctx context.Context, _ *http.Response, _ error) (bool, error) {
	return false, ctx.Err()
}

// noRedirect hands back a redirect as it is, rather than follow it even to
// an allowed host: Slack's response_url and Web API have no reason to
// redirect, a redirected POST arrives as a GET without its body anyway, and a
// redirect can only send the answer, or the token with it, somewhere else.
// The 3xx then fails that route.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Deliver makes one attempt at an answer and says when to try again, if ever.
// Its signature is the one engine.Outbox.Deliver calls.
func (d *Deliverer) Deliver(ctx context.Context, del *engine.Delivery) engine.Retry {
	d.init()
	a := &attempt{d: d, del: del}
	if del.Attempt > 1 && del.Part <= 1 && d.AlreadyDelivered != nil && d.AlreadyDelivered(ctx, del) {
		return engine.Retry{}
	}
	r := a.deliver(ctx)
	if a.delivered {
		if next := continuation(del, a.channel, a.ts); next != nil {
			d.postNext(ctx, next)
		}
	}
	return r
}

// postNext puts an answer's next part in the outbox, trying a few times: the
// part before it is delivered, so going back for another attempt at it
// would post it twice.
func (d *Deliverer) postNext(ctx context.Context, next *engine.Delivery) {
	if d.Post == nil {
		d.Log.Error("answer cut short: no outbox for its continuations", "job", next.JobID, "part", next.Part)
		return
	}
	var err error
	for attempt := 1; attempt <= 5; attempt++ {
		if err = d.Post(context.WithoutCancel(ctx), next); err == nil {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		}
	}
	d.Log.Error("answer cut short: its next part could not be queued", "job", next.JobID, "part", next.Part, "err", err)
}

func (a *attempt) deliver(ctx context.Context) engine.Retry {
	d, del := a.d, a.del
	now := d.Now()
	if !del.Created.IsZero() && now.Sub(del.Created) > d.MaxAge {
		return a.undelivered(ctx, fmt.Sprintf("no route worked within %v (%d attempts)", d.MaxAge, max(del.Attempt-1, 0)))
	}
	if u := del.Reply["response_url"]; u != "" {
		if spent := d.spent(del, now); spent != "" {
			a.skip(RouteResponseURL, spent)
		} else if r, done := a.result(ctx, RouteResponseURL, d.respond(ctx, u, del.Message)); done {
			return r
		}
	}

	api, err := d.api(ctx, del.Reply["team"])
	if err != nil {
		if r, done := a.result(ctx, "bot token", err); done {
			return r
		}
	} else if api == nil {
		a.skip("Web API", "no bot token for workspace "+orNone(del.Reply["team"]))
	}
	if api == nil {
		return a.undelivered(ctx, "")
	}

	// The response_url takes the answer as it is; the Web API takes it apart.
	var msg outgoing
	if err := json.Unmarshal(del.Message, &msg); err != nil {
		a.skip("Web API", "the answer is unreadable: "+err.Error())
	} else if r, done := a.webAPI(ctx, api, &msg); done {
		return r
	}
	return a.undelivered(ctx, "")
}

// webAPI posts the answer through the Web API: to the requester alone for an
// ephemeral answer, in the channel and thread otherwise, and by DM when the
// bot cannot post in the channel. Done as result says.
func (a *attempt) webAPI(ctx context.Context, api *slack.Client, msg *outgoing) (engine.Retry, bool) {
	channel, user := a.del.Reply["channel"], a.del.Reply["user"]
	opts := []slack.MsgOption{slack.MsgOptionText(msg.Text, false)}
	if len(msg.Blocks.BlockSet) > 0 {
		opts = append(opts, slack.MsgOptionBlocks(msg.Blocks.BlockSet...))
	}
	if channel != "" {
		inThread := opts
		if ts := a.del.Reply["thread_ts"]; ts != "" {
			inThread = append(opts[:len(opts):len(opts)], slack.MsgOptionTS(ts))
		}
		var err error
		route := RoutePostMessage
		// Without a requester, an ephemeral answer is said in the channel
		// rather than not at all.
		if msg.ResponseType != "in_channel" && user != "" {
			route = RoutePostEphemeral
			_, err = api.PostEphemeralContext(ctx, channel, user, inThread...)
		} else {
			a.channel, a.ts, err = api.PostMessageContext(ctx, channel, inThread...)
		}
		if r, done := a.result(ctx, route, err); done || !botOutside(err) {
			return r, done
		}
	}
	if user == "" {
		a.skip(RouteDM, "no requester to write to")
		return engine.Retry{}, false
	}
	ch, _, _, err := api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{user}, ReturnIM: true})
	if err == nil {
		a.channel, a.ts, err = api.PostMessageContext(ctx, ch.ID, opts...)
	}
	return a.result(ctx, RouteDM, err)
}

// outgoing is a Message as it comes out of the outbox: Blocks decodes by
// block type.
type outgoing struct {
	ResponseType string       `json:"response_type"`
	Text         string       `json:"text"`
	Blocks       slack.Blocks `json:"blocks"`
}

// botOutside reports whether the Web API refused because the bot cannot
// post in the channel, so a DM is the way left.
func botOutside(err error) bool {
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) {
		return false
	}
	switch se.Err {
	case "not_in_channel", "channel_not_found", "user_not_in_channel", "is_archived":
		return true
	}
	return false
}

// spent says why a response_url cannot serve any more: older than Slack's 30
// minutes, counted from the job's enqueue time (Reply["enqueued"], RFC 3339),
// or from the delivery's creation without it. Its five uses are not counted:
// chatops uses one per answer, and a used-up URL is refused with used_url.
func (d *Deliverer) spent(del *engine.Delivery, now time.Time) string {
	since := del.Created
	if t, err := time.Parse(time.RFC3339Nano, del.Reply["enqueued"]); err == nil {
		since = t
	}
	if !since.IsZero() && now.Sub(since) >= responseURLLife {
		return fmt.Sprintf("expired (%v old, Slack honours %v)", now.Sub(since).Round(time.Second), responseURLLife)
	}
	return ""
}

// respond posts the answer to a response_url on an allowed host.
func (d *Deliverer) respond(ctx context.Context, raw string, body []byte) error {
	return postResponse(ctx, d.HTTP, d.ResponseHosts, raw, body)
}

// postResponse posts body to a response_url on one of hosts, and reads
// Slack's answer.
func postResponse(ctx context.Context, httpc *retryablehttp.Client, hosts []string, raw string, body []byte) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("response_url unreadable: %w", ErrNotAllowed)
	}
	if !allowedHost(u, hosts) {
		return fmt.Errorf("response_url on %s://%s: %w", u.Scheme, u.Host, ErrNotAllowed)
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, raw, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if err != nil {
		return err
	}
	return responseStatus(resp, data)
}

// slackCode is what a response_url's plain-text error body looks like.
var slackCode = regexp.MustCompile(`^[a-z][a-z_]{0,63}$`)

// responseStatus reads a response_url's answer: 200 "ok" (or {"ok":true}) is
// success; Slack refuses with a status and a code in the body, plain
// ("expired_url") or JSON ({"ok":false,"error":"used_url"}).
func responseStatus(resp *http.Response, body []byte) error {
	body = bytes.TrimSpace(body)
	code := ""
	var j struct {
		OK    *bool  `json:"ok"`
		Error string `json:"error"`
	}
	if len(body) > 0 && body[0] == '{' && json.Unmarshal(body, &j) == nil {
		if resp.StatusCode/100 == 2 && (j.OK == nil || *j.OK) {
			return nil
		}
		code = j.Error
	} else if slackCode.Match(body) {
		code = string(body)
	}
	switch {
	case resp.StatusCode/100 == 2 && (code == "" || code == "ok"):
		return nil
	case resp.StatusCode/100 == 2:
		return &ResponseError{Status: resp.StatusCode, Code: code} // a refusal in a 200: final
	case resp.StatusCode/100 == 3:
		return &ResponseError{Status: resp.StatusCode, Code: "redirect not followed"}
	}
	return &ResponseError{Status: resp.StatusCode, Code: code, RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// api returns the Web API client of a workspace, over the delivery client;
// nil when it has no bot token.
func (d *Deliverer) api(ctx context.Context, team string) (*slack.Client, error) {
	return d.apis.client(ctx, d.Token, d.APIURL, team)
}

// attempt is one try at one delivery: what failed so far, for the log and
// for the reason an undelivered answer gives.
type attempt struct {
	d        *Deliverer
	del      *engine.Delivery
	failures []string
	// delivered is set once a route took the answer; channel and ts say
	// where a Web API post put it.
	delivered   bool
	channel, ts string
}

// result settles one route: done with Retry zero when it delivered, done with
// a delay when it failed for now; not done when it failed for good, so the
// next route is tried.
func (a *attempt) result(ctx context.Context, route string, err error) (engine.Retry, bool) {
	if err == nil {
		level := slog.LevelInfo
		if route == RouteResponseURL {
			level = slog.LevelDebug
		}
		a.d.Log.Log(ctx, level, "answer delivered", "job", a.del.JobID, "route", route, "attempt", a.del.Attempt, "part", max(a.del.Part, 1))
		a.delivered = true
		if a.d.Delivered != nil && a.del.Part <= 1 {
			a.d.Delivered(context.WithoutCancel(ctx), a.del, route)
		}
		return engine.Retry{}, true
	}
	err = RedactError(err)
	if retry, after := a.d.CheckRetry(err); retry {
		wait := a.d.Backoff(max(a.del.Attempt, 1), after)
		if ctx.Err() == nil {
			a.d.Log.Warn("answer not delivered yet; will retry", "job", a.del.JobID, "route", route,
				"attempt", a.del.Attempt, "retry_in", wait.Round(time.Millisecond), "err", err)
		}
		return engine.Retry{After: max(wait, time.Millisecond)}, true
	}
	a.skip(route, err.Error())
	return engine.Retry{}, false
}

// skip records a route that cannot serve.
func (a *attempt) skip(route, why string) {
	why = Redact(why)
	a.failures = append(a.failures, route+": "+why)
	a.d.Log.Warn("answer route failed; trying the next", "job", a.del.JobID, "route", route, "attempt", a.del.Attempt, "err", why)
}

// undelivered gives up on the answer for good.
func (a *attempt) undelivered(ctx context.Context, why string) engine.Retry {
	if why == "" {
		why = "no route left"
		if len(a.failures) > 0 {
			why += ": " + strings.Join(a.failures, "; ")
		}
	}
	why = Redact(why)
	a.d.Log.Error("answer undelivered", "job", a.del.JobID, "attempt", a.del.Attempt, "part", max(a.del.Part, 1), "reason", why)
	if a.d.Undelivered != nil && a.del.Part <= 1 {
		a.d.Undelivered(context.WithoutCancel(ctx), a.del, why)
	}
	return engine.Retry{}
}

// responseURLLife is how long Slack honours a response_url (it also allows only
// five uses; chatops uses one per answer).
const responseURLLife = 30 * time.Minute

// DefaultResponseHosts are the hosts a response_url may point at.
var DefaultResponseHosts = []string{"hooks.slack.com"}

// allowedHost accepts https URLs on hosts (DefaultResponseHosts when nil),
// and plain http only on loopback (for tests).
func allowedHost(u *url.URL, hosts []string) bool {
	if hosts == nil {
		hosts = DefaultResponseHosts
	}
	h := u.Hostname()
	loopback := h == "127.0.0.1" || h == "localhost" || h == "::1"
	if u.Scheme != "https" && !(u.Scheme == "http" && loopback) {
		return false
	}
	for _, allowed := range hosts {
		if strings.EqualFold(u.Host, allowed) {
			return true
		}
	}
	return false
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// NewDelivery returns the delivery of msg, the answer to job j, posted at
// now: its routes are j.Reply, completed with the job's channel, its
// requester's Slack user id and its enqueue time when Reply lacks them.
func NewDelivery(j *engine.QueuedJob, msg Message, now time.Time) (*engine.Delivery, error) {
	body, err := json.Marshal(msg)
	if err != nil {
		return nil, &engine.Error{Code: engine.Internal, Msg: "encoding an answer", Err: err}
	}
	reply := make(map[string]string, len(j.Reply)+3)
	for k, v := range j.Reply {
		reply[k] = v
	}
	if reply["channel"] == "" && j.Channel != "" {
		reply["channel"] = j.Channel
	}
	if reply["user"] == "" && j.Actor.Source == engine.SourceSlack && slackUserID.MatchString(j.Actor.Identity) {
		reply["user"] = j.Actor.Identity
	}
	if reply["enqueued"] == "" && !j.Enqueued.IsZero() {
		reply["enqueued"] = j.Enqueued.UTC().Format(time.RFC3339Nano)
	}
	d := &engine.Delivery{ID: j.ID + "/answer", JobID: j.ID, Reply: reply, Message: body, Created: now}
	for _, m := range msg.Continued {
		part, err := json.Marshal(m)
		if err != nil {
			return nil, &engine.Error{Code: engine.Internal, Msg: "encoding an answer", Err: err}
		}
		d.Next = append(d.Next, part)
	}
	return d, nil
}

// continuation is the delivery of the part after del, which was delivered
// (in the channel's thread ts, when a Web API post gave one), or nil.
func continuation(del *engine.Delivery, channel, ts string) *engine.Delivery {
	if len(del.Next) == 0 {
		return nil
	}
	part := max(del.Part, 1) + 1
	reply := make(map[string]string, len(del.Reply)+1)
	for k, v := range del.Reply {
		reply[k] = v
	}
	if channel != "" {
		reply["channel"] = channel
	}
	if reply["thread_ts"] == "" && ts != "" {
		reply["thread_ts"] = ts
	}
	return &engine.Delivery{ID: fmt.Sprintf("%s/answer/%d", del.JobID, part), JobID: del.JobID, Reply: reply,
		Message: del.Next[0], Part: part, Next: del.Next[1:], Created: del.Created}
}

var slackUserID = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)

// Responder posts to response_urls on allowed hosts: the gateway's immediate
// answers to clicks. Answers to jobs go through the outbox.
type Responder struct {
	// HTTP makes the posts; one attempt, no redirects
	// (NewDeliveryHTTPClient) when nil.
	HTTP *retryablehttp.Client
	// ResponseHosts are the host[:port]s a response_url may name;
	// DefaultResponseHosts when nil. Anything else is refused, so a forged
	// request cannot make chatops post elsewhere.
	ResponseHosts []string
}

// responderHTTP is the client of a Responder that names none.
var responderHTTP = sync.OnceValue(NewDeliveryHTTPClient)

// Respond posts msg to a response_url on an allowed host. Its errors never
// hold the URL: it is a credential.
func (w *Responder) Respond(ctx context.Context, responseURL string, msg Message) error {
	httpc := w.HTTP
	if httpc == nil {
		httpc = responderHTTP()
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	return RedactError(postResponse(ctx, httpc, w.ResponseHosts, responseURL, body))
}
