package nats

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// setup finds or creates the buckets and the streams.
func (c *Conn) setup(ctx context.Context, opts Options) error {
	jobs, err := c.bucket(ctx, jetstream.KeyValueConfig{
		Bucket: JobsBucket, Description: "chatops jobs: each from queued to its outcome and answer", History: 1, TTL: opts.JobTTL,
		Storage: jetstream.FileStorage, Replicas: opts.Replicas,
	})
	if err != nil {
		return err
	}
	if _, err := c.stream(ctx, jetstream.StreamConfig{
		Name: AuditStream, Description: "chatops audit: every command from every adapter",
		Subjects: []string{auditSubject + ".>"}, Storage: jetstream.FileStorage,
		Replicas: opts.Replicas, DenyDelete: true, DenyPurge: true,
		// Outlasts the redelivery of a job whose worker died, so its
		// record is kept once.
		Duplicates: 30 * time.Minute,
	}); err != nil {
		return err
	}
	ledger, err := c.stream(ctx, jetstream.StreamConfig{
		Name: ReleasesStream, Description: "chatops ledger: every change of every pipeline, with its releases and audit record",
		Subjects: []string{releasesSubject + ".>"}, Storage: jetstream.FileStorage,
		Replicas: opts.Replicas, DenyDelete: true, DenyPurge: true, AllowDirect: true,
	})
	if err != nil {
		return err
	}
	c.Store = &Store{js: c.js, stream: ledger, log: opts.Log}
	c.Jobs = &Jobs{kv: jobs, js: c.js}
	c.Audit = &Audit{js: c.js}
	c.History = &History{js: c.js}
	return nil
}

// stream finds or creates a stream.
func (c *Conn) stream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	st, err := c.js.Stream(ctx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		st, err = c.js.CreateOrUpdateStream(ctx, cfg)
	}
	if err != nil {
		return nil, unavailable(fmt.Errorf("stream %s: %w", cfg.Name, err))
	}
	return st, nil
}

func (c *Conn) bucket(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := c.js.KeyValue(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = c.js.CreateOrUpdateKeyValue(ctx, cfg)
	}
	if err != nil {
		return nil, unavailable(fmt.Errorf("bucket %s: %w", cfg.Bucket, err))
	}
	return kv, nil
}
