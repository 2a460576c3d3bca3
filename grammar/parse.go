package grammar

import (
	"strconv"
	"strings"
)

// Command is a parsed command line: the form it matched, the force suffix and the
// argument values in declaration order. Left-out arguments with a default hold it;
// a repeated clause has one Arg per value. Share it by pointer; do not copy it.
type Command struct {
	Spec  *Spec
	Name  string
	Force bool
	Args  []Arg

	buf [4]Arg // backs Args for most commands: one allocation per parse
}

// Arg is one argument value of a Command.
type Arg struct {
	Param *Param
	Value Value
}

// Get returns the (first) value of the argument called name.
func (c *Command) Get(name string) (Value, bool) {
	for _, a := range c.Args {
		if a.Param.Name == name {
			return a.Value, true
		}
	}
	return Value{}, false
}

// All returns every value of the argument called name, in the order given.
func (c *Command) All(name string) []Value {
	var vs []Value
	for _, a := range c.Args {
		if a.Param.Name == name {
			vs = append(vs, a.Value)
		}
	}
	return vs
}

// Parse reads a raw line as chat sends it.
func (g *Grammar) Parse(line string) (*Command, error) {
	// The tokens live only while parsing: a typical command fits on the stack.
	var buf [12]Token
	toks, err := appendTokens(buf[:0], line)
	if err != nil {
		return nil, err
	}
	return g.parseTokens(line, toks)
}

// ParseArgs reads argv as a shell split it. It gives the same Command as Parse of
// the line the shell read; diagnostics point into the arguments joined by spaces.
func (g *Grammar) ParseArgs(args []string) (*Command, error) {
	toks, src := argvTokens(args)
	return g.parseTokens(src, toks)
}

func (g *Grammar) parseTokens(src string, toks []Token) (*Command, error) {
	if len(toks) == 0 {
		return nil, &Error{Source: src, Msg: `empty command: "help" lists the commands`}
	}
	head := toks[0]
	if head.Kind != Word {
		return nil, &Error{Source: src, Pos: head.Pos, End: head.End, Msg: "expected a command, got a Slack " + head.Kind.String() + " reference"}
	}
	word, force := head.Text, false
	if n := len(word); n > 1 && word[n-1] == '!' {
		word, force = word[:n-1], true
	}
	forms := g.lookup(word)
	if forms == nil {
		return nil, &Error{Source: src, Pos: head.Pos, End: head.End,
			Msg: "unknown command " + strconv.Quote(word), Suggest: suggest(word, g.words)}
	}
	if force && !forms[0].Forceable {
		return nil, &Error{Source: src, Pos: head.End - 1, End: head.End,
			Msg: forms[0].Name + " cannot be forced: drop the !", Usage: usages(forms)}
	}
	var best *Error
	for _, s := range forms {
		p := parser{src: src, spec: s}
		c, err := p.parse(toks, force)
		if err == nil {
			return c, nil
		}
		if best == nil || err.Pos > best.Pos {
			best = err
		}
	}
	if best.Usage != nil && len(forms) > 1 {
		best.Usage = usages(forms)
	}
	return nil, best
}

func usages(forms []*Spec) []string {
	u := make([]string, len(forms))
	for i, s := range forms {
		u[i] = s.usage
	}
	return u
}

// parser reads the tokens after the command word against one form.
//
// The tokens are passed to its methods rather than kept in it, so that escape
// analysis, which does not tell fields apart, can keep them on the stack.
type parser struct {
	src  string
	spec *Spec
	cmd  *Command
	seen paramSet
}

// errorAt positions an error at t; param is the argument it is about, or nil.
func (p *parser) errorAt(param *Param, t Token, msg string) *Error {
	return &Error{Source: p.src, Pos: t.Pos, End: t.End, Msg: msg, Param: param}
}

func (p *parser) withUsage(e *Error) *Error {
	e.Usage = []string{p.spec.usage}
	return e
}

// atEnd positions an error about param just past the last token.
func (p *parser) atEnd(param *Param, msg string) *Error {
	end := len(p.src)
	return &Error{Source: p.src, Pos: end, End: end, Msg: msg, Param: param}
}

func (p *parser) parse(toks []Token, force bool) (*Command, *Error) {
	s := p.spec
	p.cmd = &Command{Spec: s, Name: s.Name, Force: force}
	p.cmd.Args = p.cmd.buf[:0]
	next := 0 // index in Params of the next positional to fill
	dashdash := false
	for i := 1; i < len(toks); i++ {
		t := toks[i]
		if t.Kind == Word && !dashdash {
			if t.Text == "--" {
				dashdash = true
				continue
			}
			if isFlagLike(t.Text) {
				var err *Error
				if i, err = p.flag(toks, i); err != nil {
					return nil, err
				}
				continue
			}
			if c := s.keyword(lower(t.Text)); c != nil {
				if p.given(c) && !c.Repeat {
					return nil, p.withUsage(p.errorAt(c, t, strconv.Quote(t.Text)+" given twice"))
				}
				if i+1 >= len(toks) {
					return nil, p.withUsage(p.atEnd(c, "missing <"+c.Placeholder+"> after "+strconv.Quote(t.Text)))
				}
				i++
				if nt := toks[i]; nt.Kind == Word && s.keyword(lower(nt.Text)) != nil {
					// A keyword is never a value: the value was left out.
					return nil, p.withUsage(p.errorAt(c, nt, "missing <"+c.Placeholder+"> after "+strconv.Quote(t.Text)+
						", before "+strconv.Quote(nt.Text)))
				}
				if err := p.value(c, toks[i]); err != nil {
					return nil, err
				}
				continue
			}
		}
		for next < len(s.Params) && s.Params[next].Role != Positional {
			next++
		}
		if next >= len(s.Params) {
			return nil, p.tooMany(t)
		}
		param := s.Params[next]
		next++
		if param.Rest {
			if err := p.rest(param, toks[i:]); err != nil {
				return nil, err
			}
			break
		}
		if err := p.value(param, t); err != nil {
			return nil, err
		}
	}
	for _, param := range s.Params {
		if p.given(param) {
			continue
		}
		if !param.Optional {
			return nil, p.withUsage(p.atEnd(param, "missing "+param.display))
		}
		if param.hasDef {
			p.add(param, param.def)
		}
	}
	sortArgs(p.cmd.Args)
	if len(p.cmd.Args) > len(p.cmd.buf) {
		p.cmd.buf = [4]Arg{} // Args outgrew it: keep equal commands deeply equal
	}
	return p.cmd, nil
}

func (p *parser) given(param *Param) bool { return p.seen.has(param) }

func (p *parser) add(param *Param, v Value) {
	p.seen.add(param)
	p.cmd.Args = append(p.cmd.Args, Arg{Param: param, Value: v})
}

// sortArgs orders values by declaration, keeping repeated values in line order.
func sortArgs(a []Arg) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j].Param.index < a[j-1].Param.index; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// tooMany reports a token no argument is left for: a mistyped keyword or flag if
// it is near one, else an extra argument.
func (p *parser) tooMany(t Token) *Error {
	if t.Kind == Word && len(t.Text) >= 2 {
		var kws []string
		for _, q := range p.spec.Params {
			if q.Role == Clause && (!p.given(q) || q.Repeat) {
				kws = append(kws, q.Keywords...)
			}
		}
		var sug []string
		if len(t.Text) > 2 {
			sug = suggest(t.Text, kws)
		} else if w := lower(t.Text); contains(kws, string([]byte{w[1], w[0]})) {
			sug = []string{string([]byte{w[1], w[0]})} // ot → to; but is → in would guess
		}
		if sug != nil {
			e := p.withUsage(p.errorAt(nil, t, "unknown keyword "+strconv.Quote(t.Text)))
			e.Suggest = sug
			return e
		}
	}
	return p.withUsage(p.errorAt(nil, t, "too many arguments: unexpected "+strconv.Quote(decodeEntities(p.src[t.Pos:t.End]))))
}

// value parses t as the value of param, splitting a repeatable clause's a,b list.
func (p *parser) value(param *Param, t Token) *Error {
	if param.Repeat && t.Kind == Word && strings.IndexByte(t.Text, ',') >= 0 {
		exact := p.src[t.Pos:t.End] == t.Text
		off := 0
		for part := range strings.SplitSeq(t.Text, ",") {
			pt := Token{Kind: Word, Text: part, Pos: t.Pos, End: t.End}
			if exact {
				pt.Pos, pt.End = t.Pos+off, t.Pos+off+len(part)
			}
			off += len(part) + 1
			if part == "" {
				return p.errorAt(param, pt, "empty value in the list "+strconv.Quote(t.Text))
			}
			if err := p.one(param, pt); err != nil {
				return err
			}
		}
		return nil
	}
	return p.one(param, t)
}

func (p *parser) one(param *Param, t Token) *Error {
	if e := controlError(p.src, param, t); e != nil {
		return e
	}
	v, err := parseValue(param, t)
	if err != nil {
		e := p.errorAt(param, t, param.label()+": "+err.Error())
		if ve, ok := err.(*ValueError); ok {
			e.Suggest = ve.Suggest
		}
		if pe, ok := err.(*partError); ok {
			e.Pos, e.End = t.Pos, t.End
			if p.src[t.Pos:t.End] == t.Text {
				e.Pos += pe.off
			}
			e.Msg, e.Param = pe.msg, pe.param
		}
		return e
	}
	p.add(param, v)
	return nil
}

// label names an argument in messages: --limit, <stage>.
func (param *Param) label() string {
	if param.Role == Flag {
		return "--" + param.Name
	}
	return "<" + param.Placeholder + ">"
}

// partError is an error in the second half of a qualified value, at byte off.
type partError struct {
	param *Param
	off   int
	msg   string
}

func (e *partError) Error() string { return e.msg }

// parseValue reads one value of param, splitting a qualified value at its first '/'.
func parseValue(param *Param, t Token) (Value, error) {
	if param.Part == nil || t.Kind != Word {
		return typeParse(param.Type, t)
	}
	head, part, ok := strings.Cut(t.Text, "/")
	if !ok {
		return typeParse(param.Type, t)
	}
	v, err := typeParse(param.Type, Token{Kind: Word, Text: head, Pos: t.Pos, End: t.End})
	if err != nil {
		return v, err
	}
	if part == "" {
		return v, &partError{param: param.Part, off: len(head), msg: "missing " + param.Part.label() + ` after "/"`}
	}
	pv, err := param.Part.Type.Parse(Token{Kind: Word, Text: part})
	if err != nil {
		return v, &partError{param: param.Part, off: len(head) + 1, msg: param.Part.label() + ": " + err.Error()}
	}
	v.Part = pv.Text
	return v, nil
}

// typeParse calls the built-in types directly, which the compiler can inline,
// and others through the interface.
func typeParse(typ Type, t Token) (Value, error) {
	switch typ := typ.(type) {
	case nameType:
		return typ.Parse(t)
	case StageType:
		return typ.Parse(t)
	case intType:
		return typ.Parse(t)
	case versionType:
		return typ.Parse(t)
	case stringType:
		return typ.Parse(t)
	}
	return typ.Parse(t)
}

// rest joins the remaining tokens into one value, separated by single spaces.
func (p *parser) rest(param *Param, toks []Token) *Error {
	n := 0
	for _, t := range toks {
		// Checked word by word: the joined token spans the spaces between
		// them, which may be line breaks that only separated words.
		if e := controlError(p.src, param, t); e != nil {
			return e
		}
		n += len(t.Text) + 1
	}
	var b strings.Builder
	b.Grow(n)
	for i, t := range toks {
		if i > 0 {
			b.WriteByte(' ')
		}
		if t.Kind == Word {
			b.WriteString(t.Text)
		} else {
			b.WriteString(refText(t))
		}
	}
	t := Token{Kind: Word, Text: b.String(), Pos: toks[0].Pos, End: toks[len(toks)-1].End}
	return p.one(param, t)
}

// isFlagLike reports whether a word is a flag: -x or --name, not a number like -5.
func isFlagLike(s string) bool {
	if len(s) < 2 || s[0] != '-' {
		return false
	}
	c := s[1]
	return c == '-' && len(s) > 2 || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// flag reads the flag at toks[i] and its value; it returns the index of the last
// token it used.
func (p *parser) flag(toks []Token, i int) (int, *Error) {
	t := toks[i]
	text := t.Text
	exact := p.src[t.Pos:t.End] == text
	var param *Param
	var val string
	hasVal, negated := false, false
	valOff := 0
	if strings.HasPrefix(text, "--") {
		name := text[2:]
		if eq := strings.IndexByte(name, '='); eq >= 0 {
			name, val, hasVal = name[:eq], name[eq+1:], true
			valOff = 2 + eq + 1
		}
		name = lower(name)
		param = p.spec.flag(name, 0)
		if param == nil {
			if base, ok := strings.CutPrefix(name, "no-"); ok {
				if q := p.spec.flag(base, 0); q != nil && q.Type.Name() == "bool" {
					param, negated = q, true
				}
			}
		}
		if param == nil {
			e := p.withUsage(p.errorAt(nil, t, "unknown flag "+strconv.Quote("--"+name)))
			e.Suggest = p.flagSuggestions("--" + name)
			return i, e
		}
	} else {
		param = p.spec.flag("", text[1])
		if param == nil {
			e := p.withUsage(p.errorAt(nil, t, "unknown flag "+strconv.Quote(text[:2])))
			e.Suggest = p.flagSuggestions(text)
			return i, e
		}
		if len(text) > 2 {
			val, hasVal, valOff = strings.TrimPrefix(text[2:], "="), true, len(text)-len(strings.TrimPrefix(text[2:], "="))
		}
	}
	flagName := "--" + param.Name
	if p.given(param) {
		return i, p.withUsage(p.errorAt(param, t, "flag "+flagName+" given twice"))
	}
	vt := Token{Kind: Word, Text: val, Pos: t.Pos, End: t.End}
	if hasVal && exact {
		vt.Pos = t.Pos + valOff
	}
	if param.Type.Name() == "bool" {
		switch {
		case negated && hasVal:
			return i, p.errorAt(param, t, "--no-"+param.Name+" takes no value")
		case hasVal:
			return i, p.one(param, vt)
		default:
			p.add(param, Value{Int: boolInt(!negated)})
			return i, nil
		}
	}
	if !hasVal {
		if i+1 >= len(toks) {
			return i, p.withUsage(p.atEnd(param, "missing <"+param.Placeholder+"> after "+flagName))
		}
		i++
		vt = toks[i]
	}
	return i, p.one(param, vt)
}

func (p *parser) flagSuggestions(word string) []string {
	var names []string
	for _, q := range p.spec.Params {
		if q.Role == Flag {
			names = append(names, "--"+q.Name)
		}
	}
	return suggest(word, names)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// lower is strings.ToLower without the allocation for words already in lower case.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' || c >= 0x80 {
			return strings.ToLower(s)
		}
	}
	return s
}
