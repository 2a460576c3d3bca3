package engine

import (
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/chatops/chatops/grammar"
)

// customAction returns the action of a config-declared command: its exec
// action, bound when the engine starts.
func customAction(cc *CommandConfig) func(r *run) (*Result, error) {
	return func(r *run) (*Result, error) { return runCustom(r, cc) }
}

// runCustom runs a config-declared command's exec action.
func runCustom(r *run, cc *CommandConfig) (*Result, error) {
	if r.e.Runner == nil {
		return nil, Errorf(Unavailable, "%s has no action here", r.cmd.Name)
	}
	spec := cc.Exec.Spec(placeholders(r.cmd), r.e.Config.Dir())
	var out []string
	err := r.e.Runner.Run(r.ctx, spec, func(line string) {
		out = append(out, line)
		r.progress("%s", line)
	})
	if err != nil {
		// The program ran, or was meant to: however it ended is the
		// command's outcome, and running it again is the person's decision.
		return nil, Errorf(Failed, "%s failed: %w", r.cmd.Name, err)
	}
	return &Result{Title: r.cmd.Canonical(), Text: strings.Join(out, "\n"), Data: map[string]any{"output": out}}, nil
}

// placeholders returns the value of each of the command's arguments by name,
// as the program receives it: an argument declared but not given is empty.
func placeholders(cmd *grammar.Command) map[string]string {
	vars := map[string]string{}
	if cmd.Spec != nil {
		for _, p := range cmd.Spec.Params {
			vars[p.Name] = ""
		}
	}
	for _, a := range cmd.Args {
		s := a.Value.Text
		switch a.Param.Type.Name() {
		case "int", "bool", "duration":
			s = strings.Trim(a.String(), `"`)
		}
		if a.Value.Part != "" {
			s += "/" + a.Value.Part
		}
		vars[a.Param.Name] = s
	}
	return vars
}

// Spec fills an exec action's placeholders with vars. Relative paths are
// the config file's: a relative program (one naming a directory, such as
// ./deploy.sh) and a relative dir are taken from dir, the config file's
// directory, whatever directory chatops runs in. A bare program name is
// looked up in PATH.
func (x ExecConfig) Spec(vars map[string]string, dir string) ExecSpec {
	spec := ExecSpec{Dir: x.Dir, Timeout: x.Timeout}
	for _, a := range x.Argv {
		spec.Argv = append(spec.Argv, expand(a, vars))
	}
	for k, v := range x.Env {
		spec.Env = append(spec.Env, k+"="+expand(v, vars))
	}
	sort.Strings(spec.Env)
	if dir != "" {
		if p := spec.Argv[0]; strings.ContainsRune(p, '/') || strings.ContainsRune(p, filepath.Separator) {
			spec.Argv[0] = inDir(dir, p)
		}
		if spec.Dir != "" {
			spec.Dir = inDir(dir, spec.Dir)
		}
	}
	return spec
}

// inDir returns path taken from dir, unless it is absolute.
func inDir(dir, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

// Dir returns the absolute directory of the config file, or "" for a config
// that was not read from a file (the built-in demo): relative paths in the
// config are taken from it.
func (c *Config) Dir() string {
	path := c.Path
	if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
		return ""
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return ""
	}
	return dir
}

// expand replaces each {name} in template with vars[name], in one pass from
// left to right: a value is never expanded again, so a value typed with
// {other} in it reaches the program as typed. A {name} that is not in vars
// stays as written.
func expand(template string, vars map[string]string) string {
	var b strings.Builder
	for {
		open := strings.IndexByte(template, '{')
		if open < 0 {
			break
		}
		n := strings.IndexByte(template[open+1:], '}')
		if n < 0 {
			break
		}
		v, ok := vars[template[open+1:open+1+n]]
		if !ok {
			// Not a placeholder: keep the brace and look again just after
			// it, so that {{name}} still fills the inner {name}.
			b.WriteString(template[:open+1])
			template = template[open+1:]
			continue
		}
		b.WriteString(template[:open])
		b.WriteString(v)
		template = template[open+n+2:]
	}
	b.WriteString(template)
	return b.String()
}
