package nats

import (
	"context"
	"encoding/hex"

	"github.com/chatops/chatops/engine"
	nc "github.com/nats-io/nats.go"
)

var _ engine.Workers = (*Workers)(nil)

// Workers asks the processes that run jobs whether they run one, and
// answers for this process, with core NATS requests: they need no stream, so
// they are answered while the streams elect leaders, when a job's beats stop
// reaching its record.
type Workers struct{ nc *nc.Conn }

// Workers returns the processes' questions and answers on this connection.
func (c *Conn) Workers() *Workers { return &Workers{nc: c.nc} }

// The answers a worker gives.
const (
	workerRuns = "runs"
	workerIdle = "idle"
)

// workerSubject is where the worker named name answers: the name in hex, so
// that no name (with a space, a * or a >) can make a subject that is not
// one, or that matches another's.
func workerSubject(name string) string { return "chatops.workers." + hex.EncodeToString([]byte(name)) }

// Serve answers, as the worker named name, whether it runs a job: runs says.
// stop ends the answers.
func (w *Workers) Serve(name string, runs func(job string) bool) (stop func(), err error) {
	sub, err := w.nc.Subscribe(workerSubject(name), func(m *nc.Msg) {
		answer := workerIdle
		if runs(string(m.Data)) {
			answer = workerRuns
		}
		_ = m.Respond([]byte(answer))
	})
	if err != nil {
		return nil, unavailable(err)
	}
	// The server knows of the answers before the first job runs.
	if err := w.nc.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, unavailable(err)
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

// Runs implements engine.Workers. A worker that is gone has no subscription:
// the server says at once that nobody answers, and ok is false.
func (w *Workers) Runs(ctx context.Context, worker, job string) (runs, ok bool) {
	m, err := w.nc.RequestWithContext(ctx, workerSubject(worker), []byte(job))
	if err != nil {
		return false, false
	}
	switch string(m.Data) {
	case workerRuns:
		return true, true
	case workerIdle:
		return false, true
	}
	return false, false
}
