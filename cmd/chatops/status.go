package main

import (
	"fmt"
	"strconv"

	natsadapter "github.com/chatops/chatops/adapters/nats"
	"github.com/chatops/chatops/adapters/terminal"
	"github.com/chatops/chatops/engine"
)

// StatusCmd shows the health of the state in NATS. Given arguments, it is the
// grammar's status, an alias of info: chatops status web.
type StatusCmd struct {
	Args []string `arg:"" optional:"" passthrough:"partial" help:"A pipeline: show it as info does."`
}

// Run prints each stream and bucket, then each consumer.
func (s *StatusCmd) Run(e *env) error {
	if len(s.Args) > 0 {
		return (&RunCmd{Args: append([]string{"status"}, s.Args...)}).Run(e)
	}
	_, closeEngine, conn, err := e.openEngineConn()
	if err != nil {
		return err
	}
	defer closeEngine()
	st, err := conn.Status(e.ctx)
	if err != nil {
		return err
	}
	if e.globals.Output == "json" {
		return terminal.RenderJSON(e.stdout, &engine.Result{Data: st})
	}
	for i, res := range statusResults(st) {
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		if err := terminal.Render(e.stdout, res, e.style); err != nil {
			return err
		}
	}
	return nil
}

// statusResults are the two tables status prints: the streams and buckets,
// and the consumers.
func statusResults(st *natsadapter.Status) []*engine.Result {
	where := "local NATS server"
	if st.Cluster != "" {
		where = fmt.Sprintf("NATS cluster %s, %d servers", st.Cluster, st.Servers)
	}
	streams := &engine.Result{Title: "Streams and buckets (" + where + ")",
		Columns: []string{"NAME", "KIND", "REPLICAS", "LEADER", "MESSAGES", "BYTES", "MAX AGE/TTL", "MAX BYTES"}}
	for _, s := range st.Streams {
		if s.Missing {
			streams.Rows = append(streams.Rows, []string{s.Name, s.Kind, "-", "not created yet", "-", "-", "-", "-"})
			continue
		}
		replicas := strconv.Itoa(s.Replicas)
		behind := 0
		for _, p := range s.Peers {
			if !p.Current {
				behind++
			}
		}
		if behind > 0 {
			replicas += fmt.Sprintf(" (%d behind)", behind)
		}
		leader := s.Leader
		if leader == "" {
			leader = "none (electing)"
		}
		streams.Rows = append(streams.Rows, []string{s.Name, s.Kind, replicas, leader,
			strconv.FormatUint(s.Messages, 10), humanBytes(s.Bytes), s.MaxAge, natsadapter.FormatBytes(s.MaxBytes)})
	}
	consumers := &engine.Result{Title: "Consumers",
		Columns: []string{"STREAM", "CONSUMER", "PENDING", "ACK PENDING", "REDELIVERED"}}
	for _, c := range st.Consumers {
		consumers.Rows = append(consumers.Rows, []string{c.Stream, c.Name,
			strconv.FormatUint(c.Pending, 10), strconv.Itoa(c.AckPending), strconv.Itoa(c.Redelivered)})
	}
	if len(consumers.Rows) == 0 {
		consumers.Text = "No consumers yet: chatops serve makes them."
	}
	return []*engine.Result{streams, consumers}
}

// humanBytes writes a byte count for a person: 0 B, 812 B, 1.4 KiB, 37.0 MiB.
func humanBytes(n uint64) string {
	if n < 1<<10 {
		return fmt.Sprintf("%d B", n)
	}
	v, unit := float64(n)/(1<<10), 0
	for v >= 1<<10 && unit < 3 {
		v, unit = v/(1<<10), unit+1
	}
	return fmt.Sprintf("%.1f %s", v, []string{"KiB", "MiB", "GiB", "TiB"}[unit])
}
