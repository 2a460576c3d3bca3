package grammar

import (
	"fmt"
	"sort"
	"strings"
)

// Decl declares one command. Its Usage line is the grammar: the parser, the help,
// the completion and the canonical text all come from it.
//
// Usage syntax, as help prints it:
//
//	name[!]                   command word; [!] allows the force suffix
//	<name>                    required positional; the name picks the type
//	[<name>]                  optional positional
//	<name>...                 rest of the line, as one string
//	<name>[/<part>]           qualified value: pipeline/branch, stage/app
//	kw <name>                 required keyword clause
//	[kw <name>]               optional keyword clause
//	[(kw|syn) <name> ...]     clause with synonyms, repeatable
//	[--flag <name>]           flag with a value; [--flag] is a boolean flag
//	[-f|--flag <name>]        flag with a short form
//	<name:type>, <name:a|b>   explicit type, or an enum of the listed values
//	<name>=default            default when the argument is left out
//
// Placeholder names imply types: pipeline, stage, version, n/count/limit (int),
// user, channel/#channel, group, url, duration/since/ttl/timeout, command; any
// other name is a string.
type Decl struct {
	Usage    string
	Aliases  []string
	Summary  string   // one line, for the command list
	Help     string   // a paragraph, for help <command>
	Examples []string // command lines, each parsed when the grammar is built
	Args     []ArgDoc
}

// ArgDoc adds what a usage line does not say about one argument, named as in
// Command.Args: the argument's help, its default, a flag's short form.
type ArgDoc struct {
	Name    string
	Help    string
	Default string
	Short   byte
}

// Role is where an argument stands on the line.
type Role uint8

// Argument roles.
const (
	Positional Role = iota
	Clause
	Flag
)

// Param is one declared argument of a command.
type Param struct {
	// Name keys the argument in Command.Args and in JSON: a positional's
	// placeholder name, a clause's first keyword, a flag's long name.
	Name string
	Role Role
	// Keywords are a clause's words, the canonical one first.
	Keywords []string
	// Short is a flag's one-letter form, or 0.
	Short byte
	// Placeholder is the value's name as the usage line shows it: pipeline, #channel.
	Placeholder string
	Type        Type
	// Part, if set, is the optional second half of a qualified value (stage/app).
	Part     *Param
	Optional bool
	Repeat   bool
	Rest     bool
	Default  string
	Help     string

	def     Value // Default, parsed
	hasDef  bool
	index   int    // in Spec.Params, below maxParams
	pos     int    // byte offset of this argument in the usage line
	usage   string // this argument as the usage line shows it
	display string // this argument without brackets, for help
}

// maxParams is how many arguments one declaration may have: a paramSet holds a
// bit for each.
const maxParams = 64

// paramSet records which arguments of a Spec a line gave, a bit per Param.index:
// a word on the parser's stack, where a map or a slice would allocate per parse.
type paramSet uint64

func (s paramSet) has(p *Param) bool { return s&(1<<p.index) != 0 }

func (s *paramSet) add(p *Param) { *s |= 1 << p.index }

// Spec is one command form: the model a Decl builds.
type Spec struct {
	Name      string
	Aliases   []string
	Forceable bool
	Params    []*Param
	Summary   string
	Help      string
	Examples  []string

	usage string
}

// Usage returns the usage line of this form.
func (s *Spec) Usage() string { return s.usage }

// Param returns the argument called name, or nil.
func (s *Spec) Param(name string) *Param {
	for _, p := range s.Params {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// keyword returns the clause that word (lower case) starts, or nil.
func (s *Spec) keyword(word string) *Param {
	for _, p := range s.Params {
		if p.Role != Clause {
			continue
		}
		for _, k := range p.Keywords {
			if k == word {
				return p
			}
		}
	}
	return nil
}

// flag returns the flag called name (long, without dashes) or with short form c.
func (s *Spec) flag(name string, c byte) *Param {
	for _, p := range s.Params {
		if p.Role == Flag && (name != "" && p.Name == name || c != 0 && p.Short == c) {
			return p
		}
	}
	return nil
}

// Grammar is a set of commands. Build one with New; it is safe for concurrent use
// once built.
type Grammar struct {
	byName map[string][]*Spec // names and aliases, lower case
	order  []string           // command names in declaration order
	forms  map[string][]*Spec // by canonical name
	words  []string           // names and aliases, for suggestions
	types  map[string]Type
}

// Option configures a Grammar.
type Option func(*Grammar)

// WithType makes name usable as a placeholder or :type in usage lines, replacing a
// built-in type of that name.
func WithType(name string, t Type) Option {
	return func(g *Grammar) { g.types[name] = t }
}

// New builds a grammar from declarations. Several declarations may share a command
// name: they are forms of one command, tried in order. A declaration New cannot
// build, or whose example does not parse, is a *DeclError naming it by index and
// usage line. A declaration may have at most 64 arguments.
func New(decls []Decl, opts ...Option) (*Grammar, error) {
	g := &Grammar{
		byName: map[string][]*Spec{},
		forms:  map[string][]*Spec{},
		types:  builtinTypes(),
	}
	g.types["command"] = commandType{g}
	for _, o := range opts {
		o(g)
	}
	specs := make([]*Spec, len(decls))
	for i, d := range decls {
		s, err := g.build(d)
		if err == nil {
			err = g.add(s)
		}
		if err != nil {
			return nil, declError(i, d, err)
		}
		specs[i] = s
	}
	// Examples are parsed once every declaration is in: one may name another
	// (help deploy).
	for i, s := range specs {
		for _, ex := range s.Examples {
			if _, err := g.Parse(ex); err != nil {
				return nil, declError(i, decls[i], fmt.Errorf("example %q: %w", ex, err))
			}
		}
	}
	return g, nil
}

// declError names the declaration at index i in err, a *DeclError from the
// usage scanner or an error about the declaration as a whole.
func declError(i int, d Decl, err error) *DeclError {
	de, ok := err.(*DeclError)
	if !ok {
		de = &DeclError{Pos: -1, Err: err}
	}
	de.Index, de.Usage = i, d.Usage
	return de
}

// MustNew is New for declarations fixed at compile time; it panics on error.
func MustNew(decls []Decl, opts ...Option) *Grammar {
	g, err := New(decls, opts...)
	if err != nil {
		panic(err)
	}
	return g
}

func (g *Grammar) add(s *Spec) error {
	if _, dup := g.forms[s.Name]; !dup {
		if _, taken := g.byName[s.Name]; taken {
			return fmt.Errorf("command name %q is already an alias of %s", s.Name, g.byName[s.Name][0].Name)
		}
		g.order = append(g.order, s.Name)
		g.words = append(g.words, s.Name)
	}
	g.forms[s.Name] = append(g.forms[s.Name], s)
	g.byName[s.Name] = g.forms[s.Name]
	for _, a := range s.Aliases {
		a = strings.ToLower(a)
		if other, taken := g.byName[a]; taken && other[0].Name != s.Name {
			return fmt.Errorf("alias %q already names %s", a, other[0].Name)
		}
		if _, seen := g.byName[a]; !seen {
			g.words = append(g.words, a)
		}
		g.byName[a] = g.forms[s.Name]
	}
	return nil
}

// Commands returns the command names in declaration order.
func (g *Grammar) Commands() []string { return append([]string(nil), g.order...) }

// Forms returns the forms of the command called name or one of its aliases, or nil.
func (g *Grammar) Forms(name string) []*Spec { return g.byName[strings.ToLower(name)] }

// lookup finds a command by name or alias, case-insensitively.
func (g *Grammar) lookup(word string) []*Spec {
	if forms, ok := g.byName[word]; ok {
		return forms
	}
	return g.byName[strings.ToLower(word)]
}

// names lists the command names, sorted, for messages.
func (g *Grammar) names() []string {
	n := append([]string(nil), g.order...)
	sort.Strings(n)
	return n
}
