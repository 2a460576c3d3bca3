package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/chatops/chatops/engine"
	"github.com/chatops/chatops/grammar"
)

// WatchCmd prints pipeline events as they happen: changes made from any
// terminal or chat, deploy drivers' progress, and CI/CD reports.
type WatchCmd struct {
	Pipeline string `arg:"" optional:"" help:"Only this pipeline's events."`
}

// Run follows the events until interrupted.
func (w *WatchCmd) Run(e *env) error {
	eng, closeEngine, conn, err := e.openEngineConn()
	if err != nil {
		return err
	}
	defer closeEngine()
	if w.Pipeline != "" {
		if _, ok := eng.Config.Pipeline(w.Pipeline); !ok {
			var names []string
			for _, p := range eng.Config.Pipelines {
				names = append(names, p.Name)
			}
			return engine.Errorf(engine.NotFound, "no pipeline %q; pipelines: %s", w.Pipeline, strings.Join(names, ", "))
		}
	}
	events, err := conn.Events(e.ctx)
	if err != nil {
		return err
	}
	var mu sync.Mutex // events arrive on the client's goroutine, one at a time; the lock keeps lines whole anyway
	print := func(ev *engine.Event) {
		mu.Lock()
		defer mu.Unlock()
		if e.globals.Output == "json" {
			_ = json.NewEncoder(e.stdout).Encode(ev)
			return
		}
		writeEventLine(e.stdout, ev)
	}
	ready := func() {
		// On stderr, so that stdout holds only events; a script can wait
		// for it before making the change it watches for.
		what := "every pipeline"
		if w.Pipeline != "" {
			what = w.Pipeline
		}
		fmt.Fprintf(e.stderr, "watching %s; Ctrl-C stops\n", what)
	}
	return events.Watch(e.ctx, w.Pipeline, ready, print)
}

// writeEventLine prints one event: time, pipeline, stage, version, state, who,
// and what happened, with control characters made visible.
func writeEventLine(out io.Writer, ev *engine.Event) {
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return grammar.Visible(s)
	}
	who := ev.By
	if who == "" {
		who = ev.Source
	}
	fmt.Fprintf(out, "%s  %-12s %-12s %-10s %-11s %-10s %s\n", ev.At.Local().Format(time.RFC3339), dash(ev.Pipeline), dash(ev.Stage),
		dash(ev.Version), dash(ev.State), dash(who), grammar.Visible(ev.Describe()))
}
