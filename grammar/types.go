package grammar

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Value is one parsed argument value. Which fields are set depends on the type:
// Text for strings, names, stages, enums and versions, a reference's id or a URL;
// Label for a reference's label, a user or channel typed by name, or a stage
// typed as an alias (Text holds what the alias stands for); Int for ints,
// durations (nanoseconds) and booleans (0 or 1). It is a flat struct so a parse
// allocates nothing per value.
type Value struct {
	Text  string
	Label string
	Int   int64
	// Part is the second half of a qualified value (the branch of pipeline/branch),
	// or "" when the line left it out.
	Part string
	// Kind is the kind of token the value was read from: a Slack mention or a word.
	Kind Kind
}

// Type reads and writes the values of one kind of argument.
type Type interface {
	// Name is the type's name as usage lines write it after ':'.
	Name() string
	// Parse reads a token. Errors are *ValueError or plain errors; the parser adds
	// the position.
	Parse(t Token) (Value, error)
	// Format writes v as one word of a command line, quoted where needed, such
	// that Parse reads it back to v.
	Format(v Value) string
	// JSON writes v as chatops parse --json shows it.
	JSON(v Value) []byte
	// Choices lists the accepted values where there is a fixed set, else nil.
	Choices() []string
}

// ValueError is a rejected value with the choices the user may have meant.
type ValueError struct {
	Msg     string
	Suggest []string
}

func (e *ValueError) Error() string { return e.Msg }

func builtinTypes() map[string]Type {
	return map[string]Type{
		"string":   stringType{},
		"int":      intType{},
		"bool":     boolType{},
		"duration": durationType{},
		"version":  versionType{},
		"pipeline": nameType{"pipeline"},
		"stage":    StageType{Aliases: DefaultStageAliases},
		"user":     userType{},
		"channel":  channelType{},
		"group":    groupType{},
		"url":      urlType{},
	}
}

// placeholderTypes maps a placeholder name to the type it implies.
var placeholderTypes = map[string]string{
	"pipeline": "pipeline", "stage": "stage", "version": "version",
	"n": "int", "count": "int", "limit": "int", "number": "int",
	"user": "user", "channel": "channel", "#channel": "channel", "group": "group",
	"url": "url", "link": "url",
	"duration": "duration", "since": "duration", "ttl": "duration", "timeout": "duration",
	"command": "command",
}

// jsonString writes s as a JSON string, leaving <, > and & as they are: the
// output is read by people and programs, never embedded in HTML.
func jsonString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'})
}

func wordOnly(t Token, what string) error {
	if t.Kind != Word {
		return &ValueError{Msg: "expected " + what + ", got a Slack " + t.Kind.String() + " reference"}
	}
	if t.Text == "" {
		return &ValueError{Msg: "expected " + what + ", got an empty string"}
	}
	return nil
}

type stringType struct{}

func (stringType) Name() string { return "string" }
func (stringType) Parse(t Token) (Value, error) {
	if t.Kind != Word {
		return Value{Text: refText(t), Kind: t.Kind}, nil
	}
	if t.Text == "" {
		return Value{}, &ValueError{Msg: "expected text, got an empty string"}
	}
	return Value{Text: t.Text}, nil
}
func (stringType) Format(v Value) string {
	if v.Kind != Word {
		return v.Text
	}
	return Quote(v.Text)
}
func (stringType) JSON(v Value) []byte { return jsonString(v.Text) }
func (stringType) Choices() []string   { return nil }

// refText writes a reference token back in Slack's form, for string arguments.
func refText(t Token) string {
	var b strings.Builder
	b.WriteByte('<')
	switch t.Kind {
	case UserRef:
		b.WriteByte('@')
	case ChannelRef:
		b.WriteByte('#')
	case GroupRef:
		b.WriteString("!subteam^")
	case SpecialRef:
		b.WriteByte('!')
	}
	b.WriteString(escapeRef(t.Text))
	if t.Label != "" {
		b.WriteByte('|')
		b.WriteString(escapeRef(t.Label))
	}
	b.WriteByte('>')
	return b.String()
}

// escapeRef escapes what Slack escapes inside a reference.
func escapeRef(s string) string {
	if !strings.ContainsAny(s, "&<>") {
		return s
	}
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	return r.Replace(s)
}

type intType struct{}

func (intType) Name() string { return "int" }
func (intType) Parse(t Token) (Value, error) {
	if err := wordOnly(t, "an integer"); err != nil {
		return Value{}, err
	}
	n, err := strconv.ParseInt(t.Text, 10, 64)
	if err != nil {
		return Value{}, &ValueError{Msg: "expected an integer, got " + strconv.Quote(t.Text)}
	}
	return Value{Int: n}, nil
}
func (intType) Format(v Value) string { return strconv.FormatInt(v.Int, 10) }
func (intType) JSON(v Value) []byte   { return strconv.AppendInt(nil, v.Int, 10) }
func (intType) Choices() []string     { return nil }

type boolType struct{}

func (boolType) Name() string { return "bool" }
func (boolType) Parse(t Token) (Value, error) {
	if err := wordOnly(t, "true or false"); err != nil {
		return Value{}, err
	}
	switch strings.ToLower(t.Text) {
	case "true", "yes", "on", "1":
		return Value{Int: 1}, nil
	case "false", "no", "off", "0":
		return Value{Int: 0}, nil
	}
	return Value{}, &ValueError{Msg: "expected true or false, got " + strconv.Quote(t.Text)}
}
func (boolType) Format(v Value) string { return strconv.FormatBool(v.Int != 0) }
func (boolType) JSON(v Value) []byte   { return strconv.AppendBool(nil, v.Int != 0) }
func (boolType) Choices() []string     { return []string{"true", "false"} }

type durationType struct{}

func (durationType) Name() string { return "duration" }

// Parse reads Go durations (90s, 1h30m) and whole days (2d, 1d12h).
func (durationType) Parse(t Token) (Value, error) {
	if err := wordOnly(t, "a duration"); err != nil {
		return Value{}, err
	}
	s := t.Text
	var days int64
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err == nil && n >= 0 && n <= 106_000 {
			days, s = n, s[i+1:]
		}
	}
	var d time.Duration
	if s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil || d < 0 {
			return Value{}, &ValueError{Msg: "expected a duration like 90s, 15m, 2h or 1d, got " + strconv.Quote(t.Text)}
		}
	}
	total := int64(d) + days*int64(24*time.Hour)
	if total < int64(d) {
		return Value{}, &ValueError{Msg: "duration " + strconv.Quote(t.Text) + " is too long"}
	}
	return Value{Int: total}, nil
}

// Format writes 2h rather than time.Duration's 2h0m0s.
func (durationType) Format(v Value) string {
	s := time.Duration(v.Int).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
func (d durationType) JSON(v Value) []byte { return jsonString(d.Format(v)) }
func (durationType) Choices() []string     { return nil }

type versionType struct{}

func (versionType) Name() string { return "version" }

// Parse accepts a semantic version, with an optional leading v: 1.4.2, v2.0.0-rc.1+b7.
func (versionType) Parse(t Token) (Value, error) {
	if err := wordOnly(t, "a version"); err != nil {
		return Value{}, err
	}
	if !validSemver(strings.TrimPrefix(t.Text, "v")) {
		return Value{}, &ValueError{Msg: "expected a semantic version like 1.4.2, got " + strconv.Quote(t.Text)}
	}
	return Value{Text: t.Text}, nil
}
func (versionType) Format(v Value) string { return Quote(v.Text) }
func (versionType) JSON(v Value) []byte   { return jsonString(v.Text) }
func (versionType) Choices() []string     { return nil }

// IsVersion reports whether s is a semantic version as <version> arguments
// accept it: 1.4.2, v2.0.0-rc.1+b7.
func IsVersion(s string) bool { return validSemver(strings.TrimPrefix(s, "v")) }

// validSemver checks MAJOR.MINOR.PATCH[-pre][+build] as semver.org defines it.
func validSemver(s string) bool {
	core, build, hasBuild := strings.Cut(s, "+")
	if hasBuild && !dotIdents(build, false) {
		return false
	}
	core, pre, hasPre := strings.Cut(core, "-")
	if hasPre && !dotIdents(pre, true) {
		return false
	}
	parts := 0
	for _, n := range strings.Split(core, ".") {
		if n == "" || len(n) > 1 && n[0] == '0' || strings.Trim(n, "0123456789") != "" {
			return false
		}
		parts++
	}
	return parts == 3
}

func dotIdents(s string, numericNoLeadingZero bool) bool {
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return false
		}
		numeric := true
		for i := 0; i < len(id); i++ {
			c := id[i]
			switch {
			case '0' <= c && c <= '9':
			case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '-':
				numeric = false
			default:
				return false
			}
		}
		if numeric && numericNoLeadingZero && len(id) > 1 && id[0] == '0' {
			return false
		}
	}
	return true
}

// nameType is an identifier: letters, digits, '-', '_' and '.', starting with a
// letter or digit, at most 63 bytes. Pipelines are names.
type nameType struct{ what string }

func (n nameType) Name() string { return n.what }
func (n nameType) Parse(t Token) (Value, error) {
	if t.Kind != Word || t.Text == "" {
		return Value{}, wordOnly(t, "a "+n.what+" name")
	}
	if !validName(t.Text) {
		return Value{}, &ValueError{Msg: "invalid " + n.what + " name " + strconv.Quote(t.Text) + ": use letters, digits, '-', '_' and '.'"}
	}
	return Value{Text: t.Text}, nil
}
func (nameType) Format(v Value) string { return Quote(v.Text) }
func (nameType) JSON(v Value) []byte   { return jsonString(v.Text) }
func (nameType) Choices() []string     { return nil }

func validName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '-' || c == '_' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// DefaultStageAliases are the short stage names everyone types.
var DefaultStageAliases = map[string]string{
	"prod": "production", "prd": "production",
	"stg": "staging",
	"dev": "development",
}

// StageType reads stage names, resolving aliases (prod → production). With Known
// set, other names are rejected with the nearest known one suggested.
type StageType struct {
	Aliases map[string]string
	Known   []string
}

// Name implements Type.
func (StageType) Name() string { return "stage" }

// Parse implements Type. Aliases match case-insensitively; names keep their case.
// A resolved alias keeps the word as typed in Label, so that a pipeline whose
// stage is really called prod can still be told apart from one whose stage is
// production (see ResolveStage).
func (s StageType) Parse(t Token) (Value, error) {
	if err := wordOnly(t, "a stage name"); err != nil {
		return Value{}, err
	}
	if full, ok := s.Aliases[lower(t.Text)]; ok {
		return Value{Text: full, Label: t.Text}, nil
	}
	if !validName(t.Text) {
		return Value{}, &ValueError{Msg: "invalid stage name " + strconv.Quote(t.Text) + ": use letters, digits, '-', '_' and '.'"}
	}
	if s.Known == nil {
		return Value{Text: t.Text}, nil
	}
	for _, k := range s.Known {
		if strings.EqualFold(k, t.Text) {
			return Value{Text: k}, nil
		}
	}
	return Value{}, &ValueError{Msg: "unknown stage " + strconv.Quote(t.Text), Suggest: suggest(t.Text, s.Choices())}
}

// Format implements Type.
func (StageType) Format(v Value) string { return Quote(v.Text) }

// Resolve maps a parsed stage value onto the stages one pipeline really has.
// The pipeline's own names win: a word typed as it is a stage name is that
// stage, even when it is also an alias. Otherwise the value is the stage that
// is the alias's meaning, or the one stage that is an alias of that meaning
// (prod for production). It returns "" and the candidates when two stages
// could be meant, and the value unchanged when no stage matches.
func (s StageType) Resolve(v Value, stages []string) (stage string, ambiguous []string) {
	typed := v.Text
	if v.Label != "" {
		typed = v.Label
	}
	for _, want := range []string{typed, v.Text} {
		for _, st := range stages {
			if strings.EqualFold(st, want) {
				return st, nil
			}
		}
	}
	var found []string
	for _, st := range stages {
		if full, ok := s.Aliases[lower(st)]; ok && strings.EqualFold(full, v.Text) {
			found = append(found, st)
		}
	}
	switch len(found) {
	case 0:
		return v.Text, nil
	case 1:
		return found[0], nil
	}
	return "", found
}

// JSON implements Type.
func (StageType) JSON(v Value) []byte { return jsonString(v.Text) }

// Choices implements Type: the known stages and the aliases.
func (s StageType) Choices() []string {
	if s.Known == nil {
		return nil
	}
	c := append([]string(nil), s.Known...)
	for a := range s.Aliases {
		c = append(c, a)
	}
	return c
}

// EnumType accepts one of a fixed set of values, case-insensitively.
type EnumType []string

// Name implements Type.
func (e EnumType) Name() string { return strings.Join(e, "|") }

// Parse implements Type.
func (e EnumType) Parse(t Token) (Value, error) {
	if err := wordOnly(t, "one of "+e.Name()); err != nil {
		return Value{}, err
	}
	for _, v := range e {
		if strings.EqualFold(v, t.Text) {
			return Value{Text: v}, nil
		}
	}
	return Value{}, &ValueError{Msg: strconv.Quote(t.Text) + " is not one of " + e.Name(), Suggest: suggest(t.Text, e)}
}

// Format implements Type.
func (EnumType) Format(v Value) string { return Quote(v.Text) }

// JSON implements Type.
func (EnumType) JSON(v Value) []byte { return jsonString(v.Text) }

// Choices implements Type.
func (e EnumType) Choices() []string { return e }

// commandType accepts the name or alias of a command of the grammar.
type commandType struct{ g *Grammar }

func (commandType) Name() string { return "command" }
func (c commandType) Parse(t Token) (Value, error) {
	if err := wordOnly(t, "a command name"); err != nil {
		return Value{}, err
	}
	if forms := c.g.lookup(t.Text); forms != nil {
		return Value{Text: forms[0].Name}, nil
	}
	return Value{}, &ValueError{Msg: "unknown command " + strconv.Quote(t.Text), Suggest: suggest(t.Text, c.g.words)}
}
func (commandType) Format(v Value) string { return Quote(v.Text) }
func (commandType) JSON(v Value) []byte   { return jsonString(v.Text) }
func (c commandType) Choices() []string   { return c.g.order }

// refJSON writes {"id":…,"name":…}, leaving out empty fields.
func refJSON(idKey, id, nameKey, name string) []byte {
	b := []byte{'{'}
	if id != "" {
		b = append(b, '"')
		b = append(b, idKey...)
		b = append(b, `":`...)
		b = append(b, jsonString(id)...)
	}
	if name != "" {
		if id != "" {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, nameKey...)
		b = append(b, `":`...)
		b = append(b, jsonString(name)...)
	}
	return append(b, '}')
}

// userType reads <@U123|alice>, @alice, alice or alice@example.com. A user typed
// by name has only a Label; a Slack mention has the id in Text.
type userType struct{}

func (userType) Name() string { return "user" }
func (userType) Parse(t Token) (Value, error) {
	switch t.Kind {
	case UserRef:
		return Value{Text: t.Text, Label: t.Label, Kind: t.Kind}, nil
	case Word:
		name := strings.TrimPrefix(t.Text, "@")
		if name == "" || strings.ContainsAny(name, " \t\n<>|") {
			return Value{}, &ValueError{Msg: "expected a user like @alice or a Slack mention, got " + strconv.Quote(t.Text)}
		}
		return Value{Label: name}, nil
	}
	return Value{}, &ValueError{Msg: "expected a user, got a Slack " + t.Kind.String() + " reference"}
}
func (userType) Format(v Value) string {
	if v.Kind == Word {
		if strings.Contains(v.Label, "@") {
			return Quote(v.Label) // an email address
		}
		return Quote("@" + v.Label)
	}
	return refText(Token{Kind: UserRef, Text: v.Text, Label: v.Label})
}
func (userType) JSON(v Value) []byte { return refJSON("id", v.Text, "name", v.Label) }
func (userType) Choices() []string   { return nil }

// isChannelID reports whether s is a Slack conversation id as a terminal
// user would paste it: C (public), G (private) or D (direct), then at least
// eight capitals and digits.
func isChannelID(s string) bool {
	if len(s) < 9 || !strings.ContainsRune("CGD", rune(s[0])) {
		return false
	}
	for _, r := range s[1:] {
		if !('A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return false
		}
	}
	return true
}

// channelType reads <#C123|deploys>, #deploys, or a channel id (C0123ABCD).
type channelType struct{}

func (channelType) Name() string { return "channel" }
func (channelType) Parse(t Token) (Value, error) {
	switch t.Kind {
	case ChannelRef:
		return Value{Text: t.Text, Label: t.Label, Kind: t.Kind}, nil
	case Word:
		if name, ok := strings.CutPrefix(t.Text, "#"); ok && name != "" && !strings.ContainsAny(name, " \t\n<>|") {
			return Value{Label: name}, nil
		}
		if isChannelID(t.Text) {
			return Value{Text: t.Text, Kind: ChannelRef}, nil
		}
		return Value{}, &ValueError{Msg: "expected a channel like #deploys or its id like C0123ABCD, got " + strconv.Quote(t.Text)}
	}
	return Value{}, &ValueError{Msg: "expected a channel, got a Slack " + t.Kind.String() + " reference"}
}
func (channelType) Format(v Value) string {
	if v.Kind == Word {
		return Quote("#" + v.Label)
	}
	return refText(Token{Kind: ChannelRef, Text: v.Text, Label: v.Label})
}
func (channelType) JSON(v Value) []byte { return refJSON("id", v.Text, "name", v.Label) }
func (channelType) Choices() []string   { return nil }

// groupType reads <!subteam^S1|@ops> or @ops.
type groupType struct{}

func (groupType) Name() string { return "group" }
func (groupType) Parse(t Token) (Value, error) {
	switch t.Kind {
	case GroupRef:
		return Value{Text: t.Text, Label: t.Label, Kind: t.Kind}, nil
	case Word:
		name := strings.TrimPrefix(t.Text, "@")
		if name == "" || strings.ContainsAny(name, " \t\n<>|") {
			return Value{}, &ValueError{Msg: "expected a group like @ops, got " + strconv.Quote(t.Text)}
		}
		return Value{Label: "@" + name}, nil
	}
	return Value{}, &ValueError{Msg: "expected a group, got a Slack " + t.Kind.String() + " reference"}
}
func (groupType) Format(v Value) string {
	if v.Kind == Word {
		return Quote(v.Label)
	}
	return refText(Token{Kind: GroupRef, Text: v.Text, Label: v.Label})
}
func (groupType) JSON(v Value) []byte { return refJSON("id", v.Text, "name", v.Label) }
func (groupType) Choices() []string   { return nil }

// urlType reads <https://x|label> or a bare http, https or mailto URL.
type urlType struct{}

func (urlType) Name() string { return "url" }
func (urlType) Parse(t Token) (Value, error) {
	switch t.Kind {
	case LinkRef:
		return Value{Text: t.Text, Label: t.Label, Kind: t.Kind}, nil
	case Word:
		s := strings.ToLower(t.Text)
		if (strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")) && len(s) > len("https://") ||
			strings.HasPrefix(s, "mailto:") && len(s) > len("mailto:") {
			return Value{Text: t.Text}, nil
		}
		return Value{}, &ValueError{Msg: "expected a URL like https://example.com, got " + strconv.Quote(t.Text)}
	}
	return Value{}, &ValueError{Msg: "expected a URL, got a Slack " + t.Kind.String() + " reference"}
}
func (urlType) Format(v Value) string {
	if v.Kind == Word {
		return Quote(v.Text)
	}
	return refText(Token{Kind: LinkRef, Text: v.Text, Label: v.Label})
}
func (urlType) JSON(v Value) []byte { return refJSON("url", v.Text, "label", v.Label) }
func (urlType) Choices() []string   { return nil }
