package grammar

import (
	"fmt"
	"strings"
)

// Help lists the commands that allowed accepts (all when allowed is nil), one line
// each with its summary.
func (g *Grammar) Help(allowed func(*Spec) bool) string {
	var names, summaries []string
	for _, name := range g.order {
		s := g.forms[name][0]
		if allowed != nil && !allowed(s) {
			continue
		}
		names = append(names, name)
		summaries = append(summaries, s.Summary)
	}
	var b strings.Builder
	if len(names) == 0 {
		b.WriteString("There is no command you may run here.\n")
		return b.String()
	}
	b.WriteString("Commands:\n")
	writeTable(&b, names, summaries)
	b.WriteString("\nType \"help <command>\" for its usage, arguments and examples.\n")
	return b.String()
}

// CommandHelp explains the command called name or one of its aliases: usage lines,
// description, arguments, flags and examples.
func (g *Grammar) CommandHelp(name string) (string, error) {
	forms := g.lookup(name)
	if forms == nil {
		return "", &Error{Source: name, End: len(name), Msg: "unknown command " + fmt.Sprintf("%q", name), Suggest: suggest(name, g.words)}
	}
	first := forms[0]
	var b strings.Builder
	for i, s := range forms {
		if i == 0 {
			b.WriteString("usage: ")
		} else {
			b.WriteString("       ")
		}
		b.WriteString(s.usage)
		b.WriteByte('\n')
	}
	text := first.Help
	if text == "" {
		text = first.Summary
	}
	if text != "" {
		b.WriteByte('\n')
		wrap(&b, text, "", 80)
	}
	if len(first.Aliases) > 0 {
		fmt.Fprintf(&b, "\nAliases: %s\n", strings.Join(first.Aliases, ", "))
	}
	if first.Forceable {
		fmt.Fprintf(&b, "\nForce: %s! forces it past the checks that would stop it, if you may force.\n", first.Name)
	}
	var args, argHelp, flags, flagHelp []string
	seen := map[string]bool{}
	for _, s := range forms {
		for _, p := range s.Params {
			if seen[p.Name] {
				continue
			}
			seen[p.Name] = true
			var notes []string
			if choices, ok := p.Type.(EnumType); ok {
				notes = append(notes, "one of: "+strings.Join(choices, ", "))
			}
			if p.Default != "" {
				notes = append(notes, "default "+p.Default)
			}
			h := p.Help
			if len(notes) > 0 {
				h = strings.TrimSpace(h + " (" + strings.Join(notes, "; ") + ")")
			}
			if p.Role == Flag {
				d := "    " + p.display
				if p.Short != 0 {
					d = "-" + string(p.Short) + ", " + strings.TrimPrefix(p.display, "-"+string(p.Short)+"|")
				}
				flags, flagHelp = append(flags, d), append(flagHelp, h)
				continue
			}
			args, argHelp = append(args, p.display), append(argHelp, h)
		}
	}
	if len(args) > 0 {
		b.WriteString("\nArguments:\n")
		writeTable(&b, args, argHelp)
	}
	if len(flags) > 0 {
		b.WriteString("\nFlags:\n")
		writeTable(&b, flags, flagHelp)
	}
	var examples []string
	for _, s := range forms {
		examples = append(examples, s.Examples...)
	}
	if len(examples) > 0 {
		b.WriteString("\nExamples:\n")
		for _, ex := range examples {
			b.WriteString("  ")
			b.WriteString(ex)
			b.WriteByte('\n')
		}
	}
	return b.String(), nil
}

// writeTable writes two aligned columns, wrapping the second at 80 columns.
func writeTable(b *strings.Builder, left, right []string) {
	width := 0
	for _, l := range left {
		width = max(width, len(l))
	}
	for i, l := range left {
		b.WriteString("  ")
		b.WriteString(l)
		if right[i] == "" {
			b.WriteByte('\n')
			continue
		}
		b.WriteString(strings.Repeat(" ", width-len(l)+3))
		indent := strings.Repeat(" ", width+5)
		var w strings.Builder
		wrap(&w, right[i], indent, 80)
		b.WriteString(strings.TrimPrefix(w.String(), indent))
	}
}

// wrap writes text in lines of at most width columns, each starting with indent.
func wrap(b *strings.Builder, text, indent string, width int) {
	col := 0
	for i, word := range strings.Fields(text) {
		if i == 0 || col+1+len(word) > width {
			if i > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(indent)
			b.WriteString(word)
			col = len(indent) + len(word)
			continue
		}
		b.WriteByte(' ')
		b.WriteString(word)
		col += 1 + len(word)
	}
	b.WriteByte('\n')
}
