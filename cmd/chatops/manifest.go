package main

import (
	"encoding/json"
	"net/url"
	"strings"

	"github.com/chatops/chatops/engine"
)

// SlackCmd groups the Slack app tools.
type SlackCmd struct {
	Manifest ManifestCmd `cmd:"" help:"Print a Slack app manifest to paste into \"Create an app → From a manifest\"."`
}

// ManifestCmd prints the app manifest.
type ManifestCmd struct {
	URL     string `help:"The public base URL chatops serve answers on." required:"" placeholder:"URL"`
	Name    string `help:"The app's name in Slack." default:"chatops"`
	Command string `help:"The slash command." default:"/h"`
}

// Run prints the manifest as JSON, which Slack accepts as it does YAML.
func (m *ManifestCmd) Run(e *env) error {
	u, err := url.Parse(m.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return &engine.Error{Code: engine.Invalid, Msg: "--url must be an https URL such as https://chatops.example.com: Slack only calls https"}
	}
	if !strings.HasPrefix(m.Command, "/") || strings.ContainsAny(m.Command, " \t") {
		return &engine.Error{Code: engine.Invalid, Msg: "--command must be one word starting with /, such as /h"}
	}
	base := strings.TrimRight(u.String(), "/")
	manifest := map[string]any{
		"_metadata": map[string]any{"major_version": 1, "minor_version": 1},
		"display_information": map[string]any{
			"name":        m.Name,
			"description": "Run releases from chat: promote, deploy, rollback, lock.",
		},
		"features": map[string]any{
			"bot_user": map[string]any{"display_name": m.Name, "always_online": true},
			"slash_commands": []any{map[string]any{
				"command":     m.Command,
				"url":         base + "/slack/commands",
				"description": "Run a chatops command",
				"usage_hint":  "promote my-pipeline from staging to production",
				// Slack then sends mentions as <@U123|name>, which the grammar reads.
				"should_escape": true,
			}},
		},
		"oauth_config": map[string]any{
			"scopes": map[string]any{"bot": []string{"commands", "chat:write", "app_mentions:read", "im:history", "channels:read"}},
		},
		"settings": map[string]any{
			"interactivity": map[string]any{
				"is_enabled":               true,
				"request_url":              base + "/slack/interactivity",
				"message_menu_options_url": base + "/slack/options",
			},
			"event_subscriptions": map[string]any{
				"request_url": base + "/slack/events",
				"bot_events":  []string{"app_mention", "message.im"},
			},
			"org_deploy_enabled":     false,
			"socket_mode_enabled":    false,
			"token_rotation_enabled": false,
		},
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(manifest)
}
