// Package engine is chatops's domain: the built-in commands, their registry and
// dispatch, policy, the pipelines ledger, jobs, audit and neutral results. It
// defines the ports it needs as interfaces; adapters implement them. It imports
// no HTTP, Slack, terminal or NATS code.
package engine
