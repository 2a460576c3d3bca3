package nats

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// setup finds or creates the buckets and the stream.
func (c *Conn) setup(ctx context.Context, opts Options) error {
	pipelines, err := c.bucket(ctx, jetstream.KeyValueConfig{
		Bucket: PipelinesBucket, Description: "chatops pipelines ledger", History: 5,
		Storage: jetstream.FileStorage, Replicas: opts.Replicas,
	})
	if err != nil {
		return err
	}
	jobs, err := c.bucket(ctx, jetstream.KeyValueConfig{
		Bucket: JobsBucket, Description: "chatops jobs", History: 1, TTL: opts.JobTTL,
		Storage: jetstream.FileStorage, Replicas: opts.Replicas,
	})
	if err != nil {
		return err
	}
	if err := c.stream(ctx, jetstream.StreamConfig{
		Name: AuditStream, Description: "chatops audit: every command from every adapter",
		Subjects: []string{auditSubject + ".>"}, Storage: jetstream.FileStorage,
		Replicas: opts.Replicas, DenyDelete: true, DenyPurge: true,
	}); err != nil {
		return err
	}
	if err := c.stream(ctx, jetstream.StreamConfig{
		Name: ReleasesStream, Description: "chatops releases: every release of every stage",
		Subjects: []string{releasesSubject + ".>"}, Storage: jetstream.FileStorage,
		Replicas: opts.Replicas, DenyDelete: true, Duplicates: 10 * time.Minute,
	}); err != nil {
		return err
	}
	c.Store = &Store{kv: pipelines}
	c.Jobs = &Jobs{kv: jobs}
	c.Audit = &Audit{js: c.js}
	c.History = &History{js: c.js}
	return nil
}

// stream finds or creates a stream.
func (c *Conn) stream(ctx context.Context, cfg jetstream.StreamConfig) error {
	_, err := c.js.Stream(ctx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = c.js.CreateOrUpdateStream(ctx, cfg)
	}
	if err != nil {
		return unavailable(fmt.Errorf("stream %s: %w", cfg.Name, err))
	}
	return nil
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
