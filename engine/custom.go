package engine

import (
	"sort"
	"strings"
)

// customHandler runs a config-declared command's exec action.
func customHandler(r *run) (*Result, error) {
	var cc *CommandConfig
	for i := range r.e.Config.Commands {
		name, _, _ := strings.Cut(strings.TrimSpace(r.e.Config.Commands[i].Usage), " ")
		if strings.TrimSuffix(strings.ToLower(name), "[!]") == r.cmd.Name {
			cc = &r.e.Config.Commands[i]
		}
	}
	if cc == nil || r.e.Runner == nil {
		return nil, Errorf(Unavailable, "%s has no action here", r.cmd.Name)
	}
	vars := map[string]string{}
	for _, a := range r.cmd.Args {
		s := a.Value.Text
		if a.Param.Type.Name() == "int" || a.Param.Type.Name() == "bool" || a.Param.Type.Name() == "duration" {
			s = strings.Trim(a.String(), `"`)
		}
		if a.Value.Part != "" {
			s += "/" + a.Value.Part
		}
		vars[a.Param.Name] = s
	}
	expand := func(s string) string {
		for k, v := range vars {
			s = strings.ReplaceAll(s, "{"+k+"}", v)
		}
		return s
	}
	spec := ExecSpec{Dir: cc.Exec.Dir, Timeout: cc.Exec.Timeout}
	for _, a := range cc.Exec.Argv {
		spec.Argv = append(spec.Argv, expand(a))
	}
	for k, v := range cc.Exec.Env {
		spec.Env = append(spec.Env, k+"="+expand(v))
	}
	sort.Strings(spec.Env)
	var out []string
	err := r.e.Runner.Run(r.ctx, spec, func(line string) {
		out = append(out, line)
		r.progress("%s", line)
	})
	if err != nil {
		return nil, Errorf(Unavailable, "%s failed: %v", r.cmd.Name, err)
	}
	return &Result{Title: r.cmd.Canonical(), Text: strings.Join(out, "\n"), Data: map[string]any{"output": out}}, nil
}
