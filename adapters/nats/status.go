package nats

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Status is the health of chatops's streams and buckets and of their
// consumers, as JetStream reports it.
type Status struct {
	// Cluster is the name of the cluster of the server reached; empty for
	// a server in none.
	Cluster string `json:"cluster,omitempty"`
	// Servers is how many servers the connection knows of (ClusterSize).
	Servers   int              `json:"servers"`
	Streams   []StreamStatus   `json:"streams"`
	Consumers []ConsumerStatus `json:"consumers"`
}

// StreamStatus is one stream or bucket.
type StreamStatus struct {
	// Name is the stream's name, or the bucket's.
	Name string `json:"name"`
	// Kind is "stream" or "bucket".
	Kind string `json:"kind"`
	// Missing is true for one not created yet: the command that needs it
	// creates it.
	Missing  bool `json:"missing,omitempty"`
	Replicas int  `json:"replicas,omitempty"`
	// Leader is the server that leads the stream's replicas; "local" when
	// the server is in no cluster, empty while an election runs.
	Leader string `json:"leader,omitempty"`
	// Peers are the other replicas.
	Peers    []PeerStatus `json:"peers,omitempty"`
	Messages uint64       `json:"messages"`
	Bytes    uint64       `json:"bytes"`
	// MaxAge is the stream's max age, or the bucket's TTL, as a config
	// gives it (90d); "forever" for none.
	MaxAge string `json:"max_age,omitempty"`
	// MaxBytes is the cap on Bytes, zero for none.
	MaxBytes int64 `json:"max_bytes,omitempty"`
}

// PeerStatus is a replica other than the leader.
type PeerStatus struct {
	Name    string `json:"name"`
	Current bool   `json:"current"`
	// Lag is how many operations it is behind.
	Lag uint64 `json:"lag,omitempty"`
}

// ConsumerStatus is one durable consumer of a stream.
type ConsumerStatus struct {
	Stream string `json:"stream"`
	Name   string `json:"name"`
	// Pending is how many messages it has yet to be delivered.
	Pending uint64 `json:"pending"`
	// AckPending is how many were delivered and not yet acknowledged.
	AckPending int `json:"ack_pending"`
	// Redelivered is how many of those were delivered more than once.
	Redelivered int `json:"redelivered"`
}

// Status reports every stream and bucket chatops keeps, in the layout's
// order, and their durable consumers.
func (c *Conn) Status(ctx context.Context) (*Status, error) {
	st := &Status{Cluster: c.nc.ConnectedClusterName(), Servers: ClusterSize(c.nc)}
	for _, s := range c.layout.specs {
		ss := StreamStatus{Name: s.name(), Kind: s.kind()}
		stream, err := c.js.Stream(ctx, s.stream.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			ss.Missing = true
			st.Streams = append(st.Streams, ss)
			continue
		}
		if err != nil {
			return nil, unavailable(fmt.Errorf("%s %s: %w", s.kind(), s.name(), err))
		}
		info := stream.CachedInfo()
		ss.Replicas = max(info.Config.Replicas, 1)
		ss.Messages, ss.Bytes = info.State.Msgs, info.State.Bytes
		ss.MaxAge = FormatAge(info.Config.MaxAge)
		ss.MaxBytes = max(info.Config.MaxBytes, 0)
		ss.Leader = "local"
		if cl := info.Cluster; cl != nil && cl.Name != "" {
			ss.Leader = cl.Leader
			for _, p := range cl.Replicas {
				ss.Peers = append(ss.Peers, PeerStatus{Name: p.Name, Current: p.Current, Lag: p.Lag})
			}
		}
		st.Streams = append(st.Streams, ss)
		consumers := stream.ListConsumers(ctx)
		for ci := range consumers.Info() {
			if ci.Config.Durable == "" {
				continue // a reader's ordered consumer, gone once it has read
			}
			st.Consumers = append(st.Consumers, ConsumerStatus{
				Stream: info.Config.Name, Name: ci.Name, Pending: ci.NumPending,
				AckPending: ci.NumAckPending, Redelivered: ci.NumRedelivered,
			})
		}
		if err := consumers.Err(); err != nil {
			return nil, unavailable(fmt.Errorf("consumers of %s: %w", info.Config.Name, err))
		}
	}
	return st, nil
}
