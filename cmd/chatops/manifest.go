package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/chatops/chatops/engine"
	"github.com/chatops/chatops/grammar"
)

// SlackCmd groups the Slack app tools.
type SlackCmd struct {
	Manifest ManifestCmd `cmd:"" help:"Print a Slack app manifest to paste into \"Create an app → From a manifest\"."`
}

// ManifestCmd prints the app manifest.
type ManifestCmd struct {
	URL     string `help:"The public base URL chatops serve answers on; optional with --socket, where it only sets the OAuth redirect URL." placeholder:"URL"`
	Name    string `help:"The app's name in Slack, also the bot's display name: at most 35 characters from a-z, 0-9, -, _ and ." default:"chatops"`
	Command string `help:"The slash command: / and at most 31 lowercase characters." default:"/h"`
	Socket  bool   `help:"Receive commands, clicks and events over Socket Mode (chatops serve with SLACK_APP_TOKEN), so no request URL is needed."`
}

// Limits of the app manifest, from Slack's manifest reference.
const (
	maxAppName = 35 // display_information.name
	maxCommand = 32 // features.slash_commands[].command, with its /
)

// Run prints the manifest as JSON, which Slack accepts as it does YAML.
func (m *ManifestCmd) Run(e *env) error {
	base, err := m.baseURL()
	if err != nil {
		return err
	}
	if err := checkAppName(m.Name); err != nil {
		return err
	}
	if err := checkCommand(m.Command); err != nil {
		return err
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(m.manifest(base))
}

// baseURL is --url without its trailing slash, or "" when Socket Mode goes without.
func (m *ManifestCmd) baseURL() (string, error) {
	if m.URL == "" {
		if m.Socket {
			return "", nil
		}
		return "", &engine.Error{Code: engine.Invalid, Msg: "--url is missing: give the https URL chatops serve answers on, such as https://chatops.example.com"}
	}
	u, err := url.Parse(m.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", &engine.Error{Code: engine.Invalid, Msg: "--url must be an https URL such as https://chatops.example.com: Slack only calls https"}
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// manifest builds the manifest. With Socket Mode Slack delivers commands,
// interactions and events over the WebSocket chatops opens, so no request URL
// is set; the OAuth redirect stays with --url, as installs go through a browser.
func (m *ManifestCmd) manifest(base string) map[string]any {
	command := map[string]any{
		"command":     m.Command,
		"description": "Run a chatops command",
		"usage_hint":  "promote my-pipeline from staging to production",
		// Slack then sends mentions as <@U123|name>, which the grammar reads.
		"should_escape": true,
	}
	interactivity := map[string]any{"is_enabled": true}
	events := map[string]any{
		// app_home_opened publishes the Home tab; message.im brings DMs from the Messages tab.
		"bot_events": []string{"app_mention", "app_home_opened", "app_uninstalled", "message.im", "tokens_revoked"},
	}
	if !m.Socket {
		command["url"] = base + "/slack/commands"
		interactivity["request_url"] = base + "/slack/interactivity"
		interactivity["message_menu_options_url"] = base + "/slack/options"
		events["request_url"] = base + "/slack/events"
	}
	oauth := map[string]any{
		// message.im needs im:history; app_home_opened needs no scope, only the bot user.
		"scopes": map[string]any{"bot": []string{"commands", "chat:write", "app_mentions:read", "im:history", "channels:read"}},
	}
	if base != "" {
		oauth["redirect_urls"] = []string{base + "/slack/oauth/callback"}
	}
	return map[string]any{
		"_metadata": map[string]any{"major_version": 1, "minor_version": 1},
		"display_information": map[string]any{
			"name":        m.Name,
			"description": "Run releases from chat: promote, deploy, rollback, lock.",
		},
		"features": map[string]any{
			// The Messages tab lets people DM the bot; the Home tab shows pipelines.
			"app_home": map[string]any{
				"home_tab_enabled":               true,
				"messages_tab_enabled":           true,
				"messages_tab_read_only_enabled": false,
			},
			"bot_user":       map[string]any{"display_name": m.Name, "always_online": true},
			"slash_commands": []any{command},
			"shortcuts": []any{map[string]any{
				"name":        "Run a chatops command",
				"type":        "global",
				"callback_id": "chatops_run",
				"description": "Open the chatops command form",
			}},
		},
		"oauth_config": oauth,
		"settings": map[string]any{
			"interactivity":          interactivity,
			"event_subscriptions":    events,
			"org_deploy_enabled":     false,
			"socket_mode_enabled":    m.Socket,
			"token_rotation_enabled": false,
		},
	}
}

// botNameChar reports whether Slack takes r in a bot user's display name.
func botNameChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
}

// checkAppName checks --name, which is both the app's name and its bot's
// display name, so it keeps to the stricter rules of each.
func checkAppName(name string) error {
	if name == "" {
		return &engine.Error{Code: engine.Invalid, Msg: "--name is empty: give the app a name such as chatops"}
	}
	for i, r := range name {
		if !botNameChar(r) {
			return flagError("--name", name, i, i+utf8.RuneLen(r),
				fmt.Sprintf(`%q is not allowed: the bot's display name takes only a-z, 0-9, "-", "_" and "."`, string(r)),
				botName(name))
		}
	}
	if n := utf8.RuneCountInString(name); n > maxAppName {
		return flagError("--name", name, runeOffset(name, maxAppName), len(name),
			fmt.Sprintf("%d characters is too long: Slack takes at most %d in an app's name", n, maxAppName),
			strings.TrimRight(name[:runeOffset(name, maxAppName)], "-_."))
	}
	return nil
}

// checkCommand checks the slash command against Slack's rules: a / then a
// lowercase word, at most 32 characters in all.
func checkCommand(cmd string) error {
	if !strings.HasPrefix(cmd, "/") {
		return flagError("--command", cmd, 0, 0, `a slash command starts with "/"`, commandName("/"+cmd))
	}
	if cmd == "/" {
		return flagError("--command", cmd, 1, 1, `a slash command needs a name after the "/", such as /h`, "")
	}
	for i, r := range cmd[1:] {
		i++
		switch {
		case unicode.IsSpace(r):
			return flagError("--command", cmd, i, len(cmd), "a slash command is one word: Slack passes what follows it as the command's text", cmd[:i])
		case r == '/' || unicode.IsControl(r):
			return flagError("--command", cmd, i, i+utf8.RuneLen(r), fmt.Sprintf("%q is not allowed in a slash command", string(r)), commandName(cmd))
		case unicode.IsUpper(r):
			return flagError("--command", cmd, i, i+utf8.RuneLen(r), "a slash command is lowercase", commandName(cmd))
		}
	}
	if n := utf8.RuneCountInString(cmd); n > maxCommand {
		return flagError("--command", cmd, runeOffset(cmd, maxCommand), len(cmd),
			fmt.Sprintf("%d characters is too long: Slack takes at most %d in a slash command, with its /", n, maxCommand),
			cmd[:runeOffset(cmd, maxCommand)])
	}
	return nil
}

// flagError is an Invalid error positioned in a flag's value: pos and end are
// byte offsets of the fault, and suggest, unless empty, a value that passes.
func flagError(flag, value string, pos, end int, msg, suggest string) error {
	ge := &grammar.Error{Source: value, Pos: pos, End: end, Msg: flag + ": " + msg}
	if suggest != "" && suggest != value {
		ge.Suggest = []string{suggest}
	}
	return &engine.Error{Code: engine.Invalid, Msg: ge.Error(), Err: ge}
}

// botName is name as a bot display name Slack takes: lowercase, each run of
// other characters one "-", cut to the app name's limit; "" when nothing is left.
func botName(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if botNameChar(r) {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	s := b.String()
	s = s[:runeOffset(s, maxAppName)]
	return strings.TrimRight(s, "-")
}

// commandName is cmd lowercased, without the characters Slack refuses.
func commandName(cmd string) string {
	var b strings.Builder
	b.WriteByte('/')
	for _, r := range strings.ToLower(strings.TrimLeft(cmd, "/")) {
		if r != '/' && !unicode.IsSpace(r) && !unicode.IsControl(r) {
			b.WriteRune(r)
		}
	}
	s := b.String()
	if s == "/" {
		return ""
	}
	return s[:runeOffset(s, maxCommand)]
}

// runeOffset is the byte offset of the n-th character of s, or len(s).
func runeOffset(s string, n int) int {
	for i := range s {
		if n == 0 {
			return i
		}
		n--
	}
	return len(s)
}
