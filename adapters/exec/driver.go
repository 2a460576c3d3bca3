package exec

import (
	"context"
	"errors"
	"fmt"
	osexec "os/exec"
	"path/filepath"
	"strings"

	"github.com/chatops/chatops/engine"
)

var _ engine.Driver = (*Driver)(nil)

// logTail bounds the lines of a program's output a failure quotes.
const logTail = 20

// Driver deploys by running a program, with the rules of custom commands: its
// own process group, a timeout, output streamed as progress. The change fills
// the placeholders {action} {pipeline} {stage} {from} {version} {commit}
// {branch} {actor} {job} and {ref}, and the same values reach the program's
// environment as CHATOPS_ACTION, CHATOPS_PIPELINE, CHATOPS_STAGE and so on.
// Exit status 0 means the change was made.
type Driver struct {
	// Config is the stage's exec action.
	Config engine.ExecConfig
	// Dir is where relative paths of Config are taken from: the config
	// file's directory.
	Dir string
	// Runner runs the program.
	Runner Runner
}

// NewDriver returns the exec driver of a pipeline's stage, reading relative
// paths from dir.
func NewDriver(pc *engine.PipelineConfig, stage, dir string) *Driver {
	return &Driver{Config: *pc.Deploy[stage].Exec, Dir: dir}
}

// Deploy implements engine.Driver.
func (d *Driver) Deploy(ctx context.Context, dep *engine.Deployment, progress func(string)) (*engine.Deployed, error) {
	vars := map[string]string{
		"action": dep.Action, "pipeline": dep.Pipeline, "stage": dep.Stage, "from": dep.From,
		"version": dep.Version, "commit": dep.Commit, "branch": dep.Branch, "actor": dep.Actor,
		"job": dep.JobID, "ref": dep.Ref,
	}
	spec := d.Config.Spec(vars, d.Dir)
	for _, k := range []string{"action", "pipeline", "stage", "from", "version", "commit", "branch", "actor", "job", "ref"} {
		spec.Env = append(spec.Env, "CHATOPS_"+strings.ToUpper(k)+"="+vars[k])
	}
	var tail []string
	err := d.Runner.Run(ctx, spec, func(line string) {
		tail = append(tail, line)
		if len(tail) > logTail {
			tail = tail[1:]
		}
		progress(line)
	})
	if err != nil {
		msg := err.Error()
		if ee := (*osexec.ExitError)(nil); errors.As(err, &ee) {
			msg = fmt.Sprintf("%s exited with status %d", filepath.Base(spec.Argv[0]), ee.ExitCode())
		}
		// A program stopped before it ended (its timeout, a cancellation)
		// may have changed the stage already.
		var stopped *StoppedError
		return nil, &engine.DriverError{Driver: "exec", Msg: msg, Log: tail, Err: err, Unknown: errors.As(err, &stopped)}
	}
	return &engine.Deployed{}, nil
}
