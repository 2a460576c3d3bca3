package grammar

import (
	"bytes"
	"strings"
)

// Canonical returns the one text of the command that every way of writing it
// shares: the command word, ! if forced, positionals, clauses in declaration order
// with their first keyword, flags as --name value last, aliases resolved, defaults
// left out, quotes only where needed. Parsing it gives back the same Command.
//
// A positional that would read as a flag or keyword goes after "--", and so after
// the flags; a rest-of-line argument always comes last.
func (c *Command) Canonical() string {
	var b strings.Builder
	b.WriteString(c.Name)
	if c.Force {
		b.WriteByte('!')
	}
	// A positional default can be left out only when no positional follows it.
	lastPos := -1
	for i, a := range c.Args {
		if a.Param.Role == Positional && !c.isDefault(a) {
			lastPos = i
		}
	}
	guard := false
	for i, a := range c.Args {
		if a.Param.Role == Positional && i <= lastPos && c.misread(a) {
			guard = true
		}
	}
	writeRole := func(role Role, rest bool) {
		for i, a := range c.Args {
			p := a.Param
			if p.Role != role || p.Rest != rest {
				continue
			}
			if role == Positional && i > lastPos || role != Positional && c.isDefault(a) {
				continue
			}
			b.WriteByte(' ')
			switch role {
			case Clause:
				b.WriteString(p.Keywords[0])
				b.WriteByte(' ')
			case Flag:
				if p.Type.Name() == "bool" {
					if a.Value.Int != 0 {
						b.WriteString("--" + p.Name)
					} else {
						b.WriteString("--no-" + p.Name)
					}
					continue
				}
				b.WriteString("--" + p.Name)
				b.WriteByte(' ')
			}
			b.WriteString(formatValue(p, a.Value))
		}
	}
	if !guard {
		writeRole(Positional, false)
	}
	writeRole(Clause, false)
	writeRole(Flag, false)
	if guard {
		b.WriteString(" --")
		writeRole(Positional, false)
	}
	writeRole(Positional, true)
	return b.String()
}

// IsDefault reports whether a holds its argument's default value, which the
// canonical text leaves out.
func (c *Command) IsDefault(a Arg) bool { return c.isDefault(a) }

// isDefault reports whether a is a left-out argument's default.
func (c *Command) isDefault(a Arg) bool {
	return a.Param.hasDef && !a.Param.Repeat && a.Value == a.Param.def
}

// misread reports whether a positional's text would read as something else
// before a "--": a flag, a keyword of this command, or "--" itself.
func (c *Command) misread(a Arg) bool {
	text := formatValue(a.Param, a.Value)
	if a.Param.Rest {
		text, _, _ = strings.Cut(text, " ")
	}
	toks, err := Tokenize(text)
	if err != nil || len(toks) == 0 {
		return true
	}
	w := toks[0]
	return w.Kind == Word && (w.Text == "--" || isFlagLike(w.Text) || c.Spec.keyword(lower(w.Text)) != nil)
}

// formatValue writes one value as it stands on a line.
func formatValue(p *Param, v Value) string {
	if p.Rest {
		words := strings.Split(v.Text, " ")
		for i, w := range words {
			words[i] = Quote(w)
		}
		return strings.Join(words, " ")
	}
	s := p.Type.Format(v)
	if p.Part != nil && v.Part != "" {
		s += "/" + Quote(v.Part)
	}
	return s
}

// MarshalJSON writes {"command":…,"force":…,"args":{…},"canonical":…}. Arguments
// are keyed by name in declaration order; a qualified value is an object of its
// parts; a repeatable argument is always an array.
func (c *Command) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"command":`)
	b.Write(jsonString(c.Name))
	b.WriteString(`,"force":`)
	if c.Force {
		b.WriteString("true")
	} else {
		b.WriteString("false")
	}
	b.WriteString(`,"args":{`)
	first := true
	for i := 0; i < len(c.Args); {
		p := c.Args[i].Param
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.Write(jsonString(p.Name))
		b.WriteByte(':')
		j := i + 1
		for j < len(c.Args) && c.Args[j].Param == p {
			j++
		}
		if p.Repeat {
			b.WriteByte('[')
		}
		for k := i; k < j; k++ {
			if k > i {
				b.WriteByte(',')
			}
			writeValueJSON(&b, p, c.Args[k].Value)
		}
		if p.Repeat {
			b.WriteByte(']')
		}
		i = j
	}
	b.WriteString(`},"canonical":`)
	b.Write(jsonString(c.Canonical()))
	b.WriteByte('}')
	return b.Bytes(), nil
}

func writeValueJSON(b *bytes.Buffer, p *Param, v Value) {
	if p.Part == nil {
		b.Write(p.Type.JSON(v))
		return
	}
	b.WriteByte('{')
	b.Write(jsonString(strings.TrimPrefix(p.Placeholder, "#")))
	b.WriteByte(':')
	b.Write(p.Type.JSON(v))
	if v.Part != "" {
		b.WriteByte(',')
		b.Write(jsonString(p.Part.Name))
		b.WriteByte(':')
		b.Write(jsonString(v.Part))
	}
	b.WriteByte('}')
}

// String writes the value as it stands in the canonical text: stg/api reads
// staging/api, a mention <@U123|alice>.
func (a Arg) String() string { return formatValue(a.Param, a.Value) }
