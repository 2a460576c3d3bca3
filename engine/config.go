package engine

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chatops/chatops/grammar"
	"gopkg.in/yaml.v3"
)

// Config is chatops.yaml: pipelines, people, policy and custom commands.
type Config struct {
	// Path is where the config was read from, or "built-in demo".
	Path string `yaml:"-"`

	Pipelines []PipelineConfig `yaml:"pipelines"`
	Users     []UserConfig     `yaml:"users"`
	Groups    []string         `yaml:"groups"`
	Policy    PolicyConfig     `yaml:"policy"`
	Commands  []CommandConfig  `yaml:"commands"`
	// Slack holds the Slack app's settings; the environment overrides them.
	Slack SlackConfig `yaml:"slack"`
	// Retention bounds what NATS keeps of each stream.
	Retention RetentionConfig `yaml:"retention"`

	lines map[string]int // "policy.stages.production" → line, for messages
}

// PipelineConfig declares a pipeline and its stages in promotion order.
type PipelineConfig struct {
	Name   string   `yaml:"name"`
	Stages []string `yaml:"stages"`
	// Seed gives a new ledger its first releases: stage → version.
	Seed map[string]string `yaml:"seed"`
	// Repo is the pipeline's GitHub repository, owner/name.
	Repo string `yaml:"repo"`
	// Deploy says, per stage, how a change reaches it; a stage not named
	// is changed in the ledger only.
	Deploy map[string]DeployConfig `yaml:"deploy"`
}

// UserConfig names one person by every identity they have: a Slack user id, an
// email address, a local login.
type UserConfig struct {
	Name   string   `yaml:"name"`
	Slack  string   `yaml:"slack"`
	Email  string   `yaml:"email"`
	Login  string   `yaml:"login"`
	Groups []string `yaml:"groups"`
}

// PolicyConfig says who may do what, where.
type PolicyConfig struct {
	// Commands restricts commands by group, user and (in Slack) channel.
	Commands []CommandRule `yaml:"commands"`
	// Stages restricts changes to a stage and may ask for confirmation.
	Stages []StageRule `yaml:"stages"`
	// Force lists the groups whose members may use the ! suffix.
	Force []string `yaml:"force"`
	// Impersonate lists the groups whose members may run as someone else (--as).
	Impersonate []string `yaml:"impersonate"`
}

// CommandRule restricts one command. Empty lists mean anyone, anywhere.
type CommandRule struct {
	Command  string   `yaml:"command"`
	Groups   []string `yaml:"groups"`
	Users    []string `yaml:"users"`
	Channels []string `yaml:"channels"`
}

// StageRule restricts changes to a stage of every pipeline.
type StageRule struct {
	Stage   string   `yaml:"stage"`
	Groups  []string `yaml:"groups"`
	Confirm bool     `yaml:"confirm"`
	// Approval asks a second person, of Groups, to approve each change.
	Approval bool `yaml:"approval"`
}

// SlackConfig names the Slack app's secrets and endpoints, in Slack's words.
// Each has an environment twin that wins: SLACK_SIGNING_SECRET,
// SLACK_BOT_TOKEN, SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, CHATOPS_TOKEN_KEY,
// CHATOPS_SLACK_API_URL, CHATOPS_SLACK_RESPONSE_HOSTS, CHATOPS_PUBLIC_URL.
type SlackConfig struct {
	SigningSecret string   `yaml:"signing_secret"`
	BotToken      string   `yaml:"bot_token"`
	AppToken      string   `yaml:"app_token"`
	ClientID      string   `yaml:"client_id"`
	ClientSecret  string   `yaml:"client_secret"`
	TokenKey      string   `yaml:"token_key"`
	APIURL        string   `yaml:"api_url"`
	ResponseHosts []string `yaml:"response_hosts"`
	PublicURL     string   `yaml:"public_url"`
}

// RetentionConfig bounds what JetStream keeps, per stream; JetStream enforces
// each limit. A field left out (zero) keeps its default.
//
//	retention:
//	  audit: 90d        # max age of the audit stream (default 90 days)
//	  releases: 10GiB   # the ledger, kept forever but capped: the oldest changes go first (default 10 GiB)
//	  jobs: 7d          # job records and the jobs queue (default 7 days)
//	  interactions: 30m # pending confirmations (default 30 minutes)
//	  events: 7d        # the events stream, capped at 1 GiB too (default 7 days)
//
// Durations are Go's (36h, 90m) or days (90d, 1d12h); sizes are a number of
// B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (of 1024).
type RetentionConfig struct {
	Audit        time.Duration
	Releases     int64
	Jobs         time.Duration
	Interactions time.Duration
	Events       time.Duration
}

// retentionKeys are the keys of the retention section, sorted.
var retentionKeys = []string{"audit", "events", "interactions", "jobs", "releases"}

// UnmarshalYAML reads the retention section, reporting every bad key and
// value with its line.
func (r *RetentionConfig) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		if n.Tag == "!!null" {
			return nil
		}
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: retention: want a stream and its limit on each line (audit: 90d)", n.Line)}}
	}
	var errs []string
	fail := func(n *yaml.Node, format string, args ...any) {
		errs = append(errs, fmt.Sprintf("line %d: ", n.Line)+fmt.Sprintf(format, args...))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := "retention." + k.Value
		if seen[k.Value] {
			fail(k, "%s given twice", key)
			continue
		}
		seen[k.Value] = true
		var dur *time.Duration
		switch k.Value {
		case "audit":
			dur = &r.Audit
		case "jobs":
			dur = &r.Jobs
		case "interactions":
			dur = &r.Interactions
		case "events":
			dur = &r.Events
		case "releases":
		default:
			msg := fmt.Sprintf("retention: unknown key %q", k.Value)
			if near := grammar.Suggest(k.Value, retentionKeys); len(near) > 0 {
				msg += fmt.Sprintf("; did you mean %q?", near[0])
			}
			fail(k, "%s (keys: %s)", msg, strings.Join(retentionKeys, ", "))
			continue
		}
		if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			what := "a duration, such as 90d"
			if dur == nil {
				what = "a size, such as 10GiB"
			}
			fail(v, "%s: want %s", key, what)
			continue
		}
		if dur == nil {
			size, err := parseSize(v.Value)
			if err != nil {
				fail(v, "%s: %v", key, err)
			}
			r.Releases = size
			continue
		}
		d, err := parseDays(v.Value)
		if err != nil {
			fail(v, "%s: %v", key, err)
		}
		*dur = d
	}
	if len(errs) > 0 {
		return &yaml.TypeError{Errors: errs}
	}
	return nil
}

var daysPrefix = regexp.MustCompile(`^([0-9]+)d`)

// parseDays reads a Go duration or a number of days, with more after it
// (1d12h); it must be one second at least.
func parseDays(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not a duration: use days (90d) or Go's units (36h, 90m, 1d12h)", s)
	rest, d := strings.TrimSpace(s), time.Duration(0)
	if strings.HasPrefix(rest, "-") {
		return 0, fmt.Errorf("%q must be more than zero", s)
	}
	if m := daysPrefix.FindStringSubmatch(rest); m != nil {
		days, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || days > 100*365 {
			return 0, fmt.Errorf("%q is too long: give 36500d at most", s)
		}
		d, rest = time.Duration(days)*24*time.Hour, rest[len(m[0]):]
	}
	if rest != "" {
		more, err := time.ParseDuration(rest)
		if err != nil || d > 0 && more < 0 {
			return 0, bad
		}
		d += more
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q must be more than zero", s)
	}
	if d < time.Second {
		return 0, fmt.Errorf("%q is too short: give 1s or more", s)
	}
	return d, nil
}

var sizePattern = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?) *([A-Za-z]*)$`)

// sizeUnits are the units parseSize knows, lower-cased.
var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// parseSize reads a size in bytes: 10GiB, 500MB, 1.5GiB, 4096.
func parseSize(s string) (int64, error) {
	m := sizePattern.FindStringSubmatch(strings.TrimSpace(s))
	if strings.HasPrefix(strings.TrimSpace(s), "-") {
		return 0, fmt.Errorf("%q must be more than zero", s)
	}
	if m == nil {
		return 0, fmt.Errorf("%q is not a size: use a number of B, KB, MB, GB, TB, KiB, MiB, GiB or TiB (10GiB)", s)
	}
	unit, ok := sizeUnits[strings.ToLower(m[2])]
	if !ok {
		return 0, fmt.Errorf("%q: unknown unit %q; use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB", s, m[2])
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil || n*unit >= 1<<62 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	if n*unit < 1 {
		return 0, fmt.Errorf("%q must be more than zero", s)
	}
	return int64(n * unit), nil
}

// CommandConfig declares a custom command: a usage line in the grammar's syntax
// and an exec action.
type CommandConfig struct {
	Usage   string     `yaml:"usage"`
	Summary string     `yaml:"summary"`
	Help    string     `yaml:"help"`
	Exec    ExecConfig `yaml:"exec"`
}

// ExecConfig runs a program. Arguments and environment values may name the
// command's arguments as {name}, expanded in one pass: a value containing
// {other} stays as it is, and a declared argument not given expands to "". A
// relative program path (one naming a directory, such as ./deploy.sh) and a
// relative Dir are taken from the config file's directory.
type ExecConfig struct {
	Argv    []string          `yaml:"argv"`
	Env     map[string]string `yaml:"env"`
	Timeout time.Duration     `yaml:"timeout"`
	Dir     string            `yaml:"dir"`
}

//go:embed demo.yaml
var demoConfig []byte

// DemoConfig is the built-in configuration used when there is no chatops.yaml:
// pipeline demo with development → staging → production, staging one version
// ahead of production.
func DemoConfig() *Config {
	c, err := ParseConfig("built-in demo", demoConfig)
	if err != nil {
		panic(err)
	}
	return c
}

// LoadConfig reads and validates the config file at path.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Errorf(Invalid, "config: %w", err)
	}
	return ParseConfig(path, data)
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

// ParseConfig reads and validates a config. Errors are Invalid and name
// file:line: unknown keys, wrong types, unknown stages, groups and commands.
func ParseConfig(path string, data []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, configError(path, err)
	}
	c := &Config{Path: path}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) { // an empty file is an empty config
		return nil, configError(path, err)
	}
	c.lines = map[string]int{}
	indexLines(&root, "", c.lines)
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// configError turns yaml's "line 3: …" messages into "path:3: …", one per line.
func configError(path string, err error) error {
	var te *yaml.TypeError
	var msgs []string
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	for i, m := range msgs {
		if sub := yamlLine.FindStringSubmatch(m); sub != nil {
			msgs[i] = path + ":" + sub[1] + ": " + m[len(sub[0]):]
		} else {
			msgs[i] = path + ": " + strings.TrimPrefix(m, "yaml: ")
		}
		msgs[i] = strings.Replace(msgs[i], " in type engine.", " in ", 1)
	}
	return &Error{Code: Invalid, Msg: strings.Join(msgs, "\n"), Err: err}
}

// indexLines records the line of every mapping key and list item by its path:
// pipelines.0.stages, policy.stages.1.stage.
func indexLines(n *yaml.Node, path string, lines map[string]int) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			indexLines(c, path, lines)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := join(path, n.Content[i].Value)
			lines[p] = n.Content[i].Line
			indexLines(n.Content[i+1], p, lines)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := join(path, fmt.Sprint(i))
			lines[p] = c.Line
			indexLines(c, p, lines)
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// at formats "path:line" for the config element at key.
func (c *Config) at(key string) string {
	if l, ok := c.lines[key]; ok {
		return fmt.Sprintf("%s:%d", c.Path, l)
	}
	return c.Path
}

func (c *Config) errorf(key, format string, args ...any) error {
	return &Error{Code: Invalid, Msg: c.at(key) + ": " + fmt.Sprintf(format, args...)}
}

func (c *Config) validate() error {
	stages := map[string]bool{}
	seen := map[string]bool{}
	for i, p := range c.Pipelines {
		key := fmt.Sprintf("pipelines.%d", i)
		if !validName(p.Name) {
			return c.errorf(key, "pipeline name %q: use letters, digits, '-', '_' and '.'", p.Name)
		}
		if seen[p.Name] {
			return c.errorf(key, "pipeline %q declared twice", p.Name)
		}
		seen[p.Name] = true
		if len(p.Stages) == 0 {
			return c.errorf(key, "pipeline %q has no stages", p.Name)
		}
		inPipeline := map[string]bool{}
		for j, s := range p.Stages {
			if !validName(s) {
				return c.errorf(fmt.Sprintf("%s.stages.%d", key, j), "stage name %q: use letters, digits, '-', '_' and '.'", s)
			}
			if k := strings.ToLower(s); k == "from" || k == "to" || k == "in" || k == "on" {
				return c.errorf(fmt.Sprintf("%s.stages.%d", key, j), "stage name %q is a keyword of the grammar (promote … from X to Y); pick another", s)
			}
			if inPipeline[s] {
				return c.errorf(fmt.Sprintf("%s.stages.%d", key, j), "stage %q listed twice", s)
			}
			inPipeline[s] = true
			stages[s] = true
		}
		for s, v := range p.Seed {
			if !inPipeline[s] {
				return c.errorf(key+".seed."+s, "unknown stage %q in the seed of %s; stages: %s", s, p.Name, strings.Join(p.Stages, ", "))
			}
			if !grammar.IsVersion(v) {
				return c.errorf(key+".seed."+s, "seed version %q is not a semantic version", v)
			}
		}
		if err := c.validateDeploy(key, &c.Pipelines[i]); err != nil {
			return err
		}
	}
	groups := map[string]bool{}
	for _, g := range c.Groups {
		groups[g] = true
	}
	users := map[string]bool{}
	for i, u := range c.Users {
		key := fmt.Sprintf("users.%d", i)
		if u.Name == "" {
			return c.errorf(key, "a user needs a name")
		}
		if users[u.Name] {
			return c.errorf(key, "user %q declared twice", u.Name)
		}
		users[u.Name] = true
		for j, g := range u.Groups {
			if !groups[g] {
				return c.errorf(fmt.Sprintf("%s.groups.%d", key, j), "unknown group %q; declare it under groups", g)
			}
		}
	}
	checkGroups := func(key string, list []string) error {
		for j, g := range list {
			if !groups[g] {
				return c.errorf(fmt.Sprintf("%s.%d", key, j), "unknown group %q; declare it under groups", g)
			}
		}
		return nil
	}
	commands := map[string]bool{}
	for _, d := range Builtins {
		commands[declName(d.Usage)] = true
	}
	for i, cc := range c.Commands {
		key := fmt.Sprintf("commands.%d", i)
		if len(cc.Exec.Argv) == 0 {
			return c.errorf(key, "custom command %q needs exec.argv", cc.Usage)
		}
		if cc.Exec.Timeout < 0 {
			return c.errorf(key+".exec.timeout", "timeout must not be negative")
		}
		name := declName(cc.Usage)
		if commands[name] {
			return c.errorf(key, "custom command %q is already a command; pick another name", name)
		}
		commands[name] = true
	}
	if _, err := c.Grammar(); err != nil {
		return err
	}
	for i, r := range c.Policy.Commands {
		key := fmt.Sprintf("policy.commands.%d", i)
		if !commands[r.Command] {
			return c.errorf(key, "unknown command %q in policy", r.Command)
		}
		for j, u := range r.Users {
			if !users[u] {
				return c.errorf(fmt.Sprintf("%s.users.%d", key, j), "unknown user %q; declare it under users", u)
			}
		}
		if err := checkGroups(key+".groups", r.Groups); err != nil {
			return err
		}
	}
	for i, r := range c.Policy.Stages {
		key := fmt.Sprintf("policy.stages.%d", i)
		if !stages[r.Stage] {
			return c.errorf(key, "unknown stage %q in policy; no pipeline has it", r.Stage)
		}
		if err := checkGroups(key+".groups", r.Groups); err != nil {
			return err
		}
	}
	if err := checkGroups("policy.force", c.Policy.Force); err != nil {
		return err
	}
	return checkGroups("policy.impersonate", c.Policy.Impersonate)
}

// Grammar returns the built-in commands and the config's custom commands. A bad
// usage line is an Invalid error naming its line in the file.
func (c *Config) Grammar() (*grammar.Grammar, error) {
	decls := append([]grammar.Decl(nil), Builtins...)
	for _, cc := range c.Commands {
		decls = append(decls, grammar.Decl{Usage: cc.Usage, Summary: cc.Summary, Help: cc.Help})
	}
	g, err := grammar.New(decls)
	var de *grammar.DeclError
	switch {
	case err == nil:
		return g, nil
	case errors.As(err, &de) && de.Index >= len(Builtins):
		return nil, c.errorf(fmt.Sprintf("commands.%d", de.Index-len(Builtins)), "%v", err)
	}
	return nil, &Error{Code: Invalid, Msg: c.Path + ": " + err.Error()}
}

// Pipeline returns the declared pipeline called name.
func (c *Config) Pipeline(name string) (*PipelineConfig, bool) {
	for i := range c.Pipelines {
		if c.Pipelines[i].Name == name {
			return &c.Pipelines[i], true
		}
	}
	return nil, false
}

func validName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || i > 0 && (c == '-' || c == '_' || c == '.')) {
			return false
		}
	}
	return true
}

// Values offers the config's pipelines and stages to completion
// (grammar.Values): what a terminal's Tab and a shell's completion script
// complete.
func (c *Config) Values() grammar.Values {
	return func(name string) []string {
		var out []string
		for _, p := range c.Pipelines {
			switch name {
			case "pipeline":
				out = append(out, p.Name)
			case "stage":
				out = append(out, p.Stages...)
			}
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
}
