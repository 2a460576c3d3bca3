package grammar

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// usageScanner reads a usage line. Its errors are a *DeclError with the byte
// offset of the mistake, so a config file can point at it.
type usageScanner struct {
	src string
	pos int
}

// declErrorf returns a *DeclError at byte pos of the usage line; New fills in
// which declaration it is.
func declErrorf(pos int, format string, args ...any) *DeclError {
	return &DeclError{Pos: pos, Err: fmt.Errorf(format, args...)}
}

func (u *usageScanner) skipSpace() {
	for u.pos < len(u.src) && u.src[u.pos] == ' ' {
		u.pos++
	}
}

func (u *usageScanner) peek(s string) bool { return strings.HasPrefix(u.src[u.pos:], s) }

func (u *usageScanner) eat(s string) bool {
	if u.peek(s) {
		u.pos += len(s)
		return true
	}
	return false
}

// word reads a run of letters, digits, '-', '_' and '.'.
func (u *usageScanner) word() string {
	start := u.pos
	for u.pos < len(u.src) {
		c := u.src[u.pos]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' && !u.peek("...") {
			u.pos++
			continue
		}
		break
	}
	return u.src[start:u.pos]
}

// build turns a declaration into a Spec.
func (g *Grammar) build(d Decl) (*Spec, error) {
	s, err := g.parseUsage(d.Usage)
	if err != nil {
		return nil, err
	}
	s.Aliases, s.Summary, s.Help, s.Examples = d.Aliases, d.Summary, d.Help, d.Examples
	for _, a := range d.Args {
		p := s.Param(a.Name)
		if p == nil {
			return nil, fmt.Errorf("documented argument %q is not in the usage line", a.Name)
		}
		p.Help = a.Help
		if a.Short != 0 {
			if p.Role != Flag {
				return nil, declErrorf(p.pos, "%q has a short form but is not a flag", a.Name)
			}
			p.Short = a.Short
		}
		if a.Default != "" {
			p.Default = a.Default
		}
	}
	for _, p := range s.Params {
		if p.Default == "" {
			continue
		}
		if !p.Optional {
			return nil, declErrorf(p.pos, "required argument %q cannot have a default", p.Name)
		}
		v, err := parseValue(p, Token{Kind: Word, Text: p.Default})
		if err != nil {
			return nil, declErrorf(p.pos, "default of %q: %w", p.Name, err)
		}
		p.def, p.hasDef = v, true
	}
	for _, p := range s.Params {
		if p.Role == Flag && p.Type.Name() == "bool" && !p.hasDef {
			p.hasDef = true // a boolean flag left out is false
		}
	}
	return s, nil
}

// parseUsage reads a usage line into a Spec.
func (g *Grammar) parseUsage(line string) (*Spec, error) {
	u := &usageScanner{src: line}
	u.skipSpace()
	name := u.word()
	if name == "" {
		return nil, declErrorf(u.pos, "expected the command name")
	}
	s := &Spec{Name: strings.ToLower(name)}
	if u.eat("[!]") {
		s.Forceable = true
	}
	for {
		u.skipSpace()
		if u.pos >= len(u.src) {
			break
		}
		start := u.pos
		if len(s.Params) == maxParams {
			return nil, declErrorf(start, "too many arguments: a command declares at most %d", maxParams)
		}
		optional := u.eat("[")
		u.skipSpace()
		p, err := g.parseElem(u, s)
		if err != nil {
			return nil, err
		}
		p.Optional = optional
		u.skipSpace()
		if u.eat("...") {
			if p.Role == Positional {
				p.Rest = true
			} else {
				p.Repeat = true
			}
			u.skipSpace()
		}
		if optional && !u.eat("]") {
			return nil, declErrorf(u.pos, "expected ] to close the [ at column %d", utf8.RuneCountInString(u.src[:start])+1)
		}
		if p.Role == Flag && p.Type.Name() == "bool" && !optional {
			return nil, declErrorf(start, "a boolean flag must be optional: [%s]", u.src[start:u.pos])
		}
		p.index, p.pos = len(s.Params), start
		p.usage = stripTypes(strings.TrimSpace(u.src[start:u.pos]))
		p.display = stripDefault(strings.TrimSuffix(strings.TrimPrefix(p.usage, "["), "]"))
		if err := checkParam(s, p); err != nil {
			return nil, declErrorf(start, "%v", err)
		}
		s.Params = append(s.Params, p)
	}
	s.usage = stripTypes(strings.Join(strings.Fields(line), " "))
	return s, nil
}

// stripDefault turns <name>=master into <name>: help shows the default apart.
func stripDefault(s string) string {
	i := strings.Index(s, ">=")
	if i < 0 {
		return s
	}
	end := strings.IndexAny(s[i+2:], " ]")
	if end < 0 {
		return s[:i+1]
	}
	return s[:i+1] + s[i+2+end:]
}

// stripTypes turns <n:int> into <n>: types are for the parser, not for readers.
func stripTypes(usage string) string {
	if !strings.Contains(usage, ":") {
		return usage
	}
	var b strings.Builder
	in, skip := false, false
	for i := 0; i < len(usage); i++ {
		c := usage[i]
		switch {
		case c == '<':
			in, skip = true, false
		case c == '>':
			in, skip = false, false
		case c == ':' && in:
			skip = true
		}
		if !skip {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// checkParam rejects declarations the parser could not read unambiguously.
func checkParam(s *Spec, p *Param) error {
	for _, q := range s.Params {
		if q.Name == p.Name {
			return fmt.Errorf("argument %q declared twice", p.Name)
		}
		if q.Rest {
			return fmt.Errorf("nothing may follow the rest-of-line argument <%s>", q.Placeholder)
		}
		if p.Role == Positional && !p.Optional && q.Role == Positional && q.Optional {
			return fmt.Errorf("required <%s> cannot follow optional <%s>", p.Placeholder, q.Placeholder)
		}
		for _, k := range p.Keywords {
			if q.Role == Clause && contains(q.Keywords, k) {
				return fmt.Errorf("keyword %q already starts clause %q", k, q.Name)
			}
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parseElem reads one argument: <value>, kw <value>, (kw|kw) <value>, --flag [<value>].
func (g *Grammar) parseElem(u *usageScanner, s *Spec) (*Param, error) {
	switch {
	case u.peek("<"):
		p := &Param{Role: Positional}
		if err := g.parseValueSpec(u, p, true); err != nil {
			return nil, err
		}
		p.Name = strings.TrimPrefix(p.Placeholder, "#")
		return p, nil
	case u.peek("-"):
		return g.parseFlag(u)
	}
	p := &Param{Role: Clause}
	if u.eat("(") {
		for {
			at := u.pos
			w := u.word()
			if w == "" {
				return nil, declErrorf(at, "expected a keyword")
			}
			p.Keywords = append(p.Keywords, strings.ToLower(w))
			if u.eat(")") {
				break
			}
			if !u.eat("|") {
				return nil, declErrorf(u.pos, "expected | or ) in the keyword list")
			}
		}
	} else {
		at := u.pos
		w := u.word()
		if w == "" {
			return nil, declErrorf(at, "expected <argument>, keyword or --flag")
		}
		p.Keywords = []string{strings.ToLower(w)}
	}
	p.Name = p.Keywords[0]
	u.skipSpace()
	if !u.peek("<") {
		return nil, declErrorf(u.pos, "keyword %q must be followed by a <value>", p.Name)
	}
	return p, g.parseValueSpec(u, p, true)
}

// parseFlag reads -s|--name [<value>][=default].
func (g *Grammar) parseFlag(u *usageScanner) (*Param, error) {
	p := &Param{Role: Flag}
	at := u.pos
	if u.peek("-") && !u.peek("--") {
		u.pos++
		w := u.word()
		if len(w) != 1 {
			return nil, declErrorf(at, "a short flag is one letter: -n")
		}
		p.Short = w[0]
		if !u.eat("|") {
			return nil, declErrorf(u.pos, "a short flag needs its long form: -%s|--name", w)
		}
		at = u.pos
	}
	if !u.eat("--") {
		return nil, declErrorf(at, "expected --flag")
	}
	p.Name = u.word()
	if p.Name == "" || strings.HasPrefix(p.Name, "no-") {
		return nil, declErrorf(at, "invalid flag name %q", p.Name)
	}
	p.Placeholder = p.Name
	save := u.pos
	u.skipSpace()
	if !u.peek("<") {
		u.pos = save
		p.Type = g.types["bool"]
		return p, nil
	}
	return p, g.parseValueSpec(u, p, false)
}

// parseValueSpec reads <name[:type]>[/<part>]...[=default] into p.
func (g *Grammar) parseValueSpec(u *usageScanner, p *Param, qualify bool) error {
	if err := g.parsePlaceholder(u, p); err != nil {
		return err
	}
	if qualify && u.peek("[/<") {
		u.pos += 2
		part := &Param{Role: p.Role}
		if err := g.parsePlaceholder(u, part); err != nil {
			return err
		}
		if !u.eat("]") {
			return declErrorf(u.pos, "expected ] after the qualifier <%s>", part.Placeholder)
		}
		part.Name = part.Placeholder
		p.Part = part
	}
	if u.eat("=") {
		start := u.pos
		for u.pos < len(u.src) && u.src[u.pos] != ' ' && u.src[u.pos] != ']' {
			u.pos++
		}
		if u.pos == start {
			return declErrorf(start, "expected a default value after =")
		}
		p.Default = u.src[start:u.pos]
	}
	return nil
}

// parsePlaceholder reads <name> or <name:type> or <name:a|b|c>.
func (g *Grammar) parsePlaceholder(u *usageScanner, p *Param) error {
	open := u.pos
	if !u.eat("<") {
		return declErrorf(open, "expected <")
	}
	end := strings.IndexByte(u.src[u.pos:], '>')
	if end < 0 {
		return declErrorf(open, "unterminated <")
	}
	body := u.src[u.pos : u.pos+end]
	u.pos += end + 1
	name, typ, typed := strings.Cut(body, ":")
	if name == "" || strings.ContainsAny(name, " []()|") {
		return declErrorf(open, "invalid placeholder <%s>", body)
	}
	p.Placeholder = name
	switch {
	case typed && strings.Contains(typ, "|"):
		p.Type = EnumType(strings.Split(typ, "|"))
	case typed:
		t, ok := g.types[typ]
		if !ok {
			return declErrorf(open, "unknown type %q in <%s>; types: %s", typ, body, strings.Join(g.typeNames(), ", "))
		}
		p.Type = t
	default:
		p.Type = g.types["string"]
		if tn, ok := placeholderTypes[name]; ok {
			p.Type = g.types[tn]
		} else if t, ok := g.types[name]; ok {
			p.Type = t
		}
	}
	if typed {
		// Help shows <n>, not <n:int>.
		p.Placeholder = name
	}
	return nil
}

func (g *Grammar) typeNames() []string {
	var n []string
	for k := range g.types {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}
