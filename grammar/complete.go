package grammar

import (
	"errors"
	"strings"
)

// Values supplies the values a completion may offer for a type or qualifier name
// (pipeline, stage, app, branch): names the grammar cannot know, such as the
// configured pipelines. It may return nil.
type Values func(name string) []string

// Complete returns the candidates for the word under the cursor, a byte offset in
// line: command words, keywords, flags, enum values and the values supplies. Each
// candidate replaces the whole word under the cursor.
func (g *Grammar) Complete(line string, cursor int, values Values) []string {
	cursor = max(0, min(cursor, len(line)))
	text := line[:cursor]
	toks, err := Tokenize(text)
	var current string
	switch {
	case err != nil:
		// An open quote or reference: complete the word it started.
		var e *Error
		if !errors.As(err, &e) {
			return nil
		}
		toks, _ = Tokenize(text[:e.Pos])
		current = strings.TrimLeft(text[e.Pos:], `"'“”‘<`)
	case len(text) > 0 && !endsInSpace(text) && len(toks) > 0:
		current = toks[len(toks)-1].Text
		toks = toks[:len(toks)-1]
	}
	if values == nil {
		values = func(string) []string { return nil }
	}
	if len(toks) == 0 {
		return filter(g.words, current)
	}
	word := strings.TrimSuffix(toks[0].Text, "!")
	forms := g.lookup(word)
	if forms == nil {
		return nil
	}
	var out []string
	for _, s := range forms {
		out = append(out, completeForm(s, toks[1:], current, values)...)
	}
	return dedupe(out)
}

func endsInSpace(s string) bool {
	return s[len(s)-1] == ' ' || s[len(s)-1] == '\t' || s[len(s)-1] == '\n'
}

// completeForm walks the complete tokens against one form, then offers what may
// come next.
func completeForm(s *Spec, toks []Token, current string, values Values) []string {
	var given paramSet
	var pending *Param
	next, dashdash := 0, false
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if t.Kind == Word && !dashdash {
			switch {
			case t.Text == "--":
				dashdash = true
				continue
			case isFlagLike(t.Text):
				name, _, hasVal := strings.Cut(strings.TrimLeft(t.Text, "-"), "=")
				var p *Param
				if strings.HasPrefix(t.Text, "--") {
					p = s.flag(lower(name), 0)
				} else {
					p = s.flag("", t.Text[1])
					hasVal = len(t.Text) > 2
				}
				if p == nil {
					continue
				}
				given.add(p)
				if p.Type.Name() != "bool" && !hasVal {
					if i+1 == len(toks) {
						pending = p
					}
					i++
				}
				continue
			}
			if p := s.keyword(lower(t.Text)); p != nil {
				given.add(p)
				if i+1 == len(toks) {
					pending = p
				}
				i++
				continue
			}
		}
		for next < len(s.Params) && s.Params[next].Role != Positional {
			next++
		}
		if next < len(s.Params) {
			given.add(s.Params[next])
			if s.Params[next].Rest {
				return nil
			}
			next++
		}
	}
	if pending != nil {
		return valuesFor(pending, current, values)
	}
	var out []string
	if strings.HasPrefix(current, "-") && !dashdash {
		for _, p := range s.Params {
			if p.Role == Flag && !given.has(p) {
				out = append(out, "--"+p.Name)
			}
		}
		return filter(out, current)
	}
	for next < len(s.Params) && s.Params[next].Role != Positional {
		next++
	}
	needValue := false // a required positional comes before any keyword
	if next < len(s.Params) {
		out = append(out, valuesFor(s.Params[next], current, values)...)
		needValue = !s.Params[next].Optional
	}
	if !dashdash && !needValue {
		var kws []string
		for _, p := range s.Params {
			if p.Role == Clause && (!given.has(p) || p.Repeat) {
				kws = append(kws, p.Keywords...)
			}
		}
		out = append(out, filter(kws, current)...)
	}
	return out
}

// valuesFor offers the values of p that start with prefix; after a '/', the
// values of the qualifier, each with the head kept.
func valuesFor(p *Param, prefix string, values Values) []string {
	if p.Part != nil {
		if head, part, ok := strings.Cut(prefix, "/"); ok {
			var out []string
			for _, v := range filter(values(p.Part.Name), part) {
				out = append(out, head+"/"+v)
			}
			return out
		}
	}
	choices := append(append([]string(nil), p.Type.Choices()...), values(p.Type.Name())...)
	return filter(choices, prefix)
}

// filter keeps the candidates that start with prefix, ignoring case.
func filter(candidates []string, prefix string) []string {
	var out []string
	lp := strings.ToLower(prefix)
	for _, c := range candidates {
		if strings.HasPrefix(strings.ToLower(c), lp) {
			out = append(out, c)
		}
	}
	return dedupe(out)
}

func dedupe(list []string) []string {
	var out []string
	for _, s := range list {
		if !contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
