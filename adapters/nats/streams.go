package nats

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/chatops/chatops/engine"
	nc "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Retention bounds what JetStream keeps, per stream. JetStream enforces each
// limit itself (MaxAge, MaxBytes, a bucket's TTL); a zero field keeps
// DefaultRetention's.
type Retention struct {
	// Audit is the max age of the audit stream.
	Audit time.Duration
	// Releases caps the ledger's bytes: it keeps every change until then,
	// and the oldest go first.
	Releases int64
	// Jobs is the TTL of the job records and the max age of the jobs queue.
	Jobs time.Duration
	// Interactions is the TTL of pending confirmations.
	Interactions time.Duration
	// Events is the max age of the events stream, which EventsMaxBytes caps.
	Events time.Duration
}

// DefaultRetention is what chatops keeps when not told otherwise.
var DefaultRetention = Retention{
	Audit:        90 * 24 * time.Hour,
	Releases:     10 << 30,
	Jobs:         7 * 24 * time.Hour,
	Interactions: 30 * time.Minute,
	Events:       7 * 24 * time.Hour,
}

// withDefaults fills r's zero fields from DefaultRetention.
func (r Retention) withDefaults() Retention {
	d := DefaultRetention
	if r.Audit > 0 {
		d.Audit = r.Audit
	}
	if r.Releases > 0 {
		d.Releases = r.Releases
	}
	if r.Jobs > 0 {
		d.Jobs = r.Jobs
	}
	if r.Interactions > 0 {
		d.Interactions = r.Interactions
	}
	if r.Events > 0 {
		d.Events = r.Events
	}
	return d
}

// MaxReplicas is the most replicas chatops asks for when it follows the
// cluster: enough to lose one node, as JetStream advises.
const MaxReplicas = 3

// ClusterSize is how many servers the connection knows of: the seeds it was
// given and the servers they told it of, one when the server it reached is in
// no cluster.
func ClusterSize(conn *nc.Conn) int {
	if conn.ConnectedClusterName() == "" {
		return 1
	}
	return max(len(conn.Servers()), 1)
}

// spec is what chatops wants of one stream or bucket. A bucket's limits are
// those of its backing stream, KV_<bucket>.
type spec struct {
	stream jetstream.StreamConfig
	bucket *jetstream.KeyValueConfig // nil for a stream
}

// name is the stream's or the bucket's name, as messages give it.
func (s *spec) name() string {
	if s.bucket != nil {
		return s.bucket.Bucket
	}
	return s.stream.Name
}

// kind is "stream" or "bucket".
func (s *spec) kind() string {
	if s.bucket != nil {
		return "bucket"
	}
	return "stream"
}

// layout is every stream and bucket chatops keeps, as it wants them: the one
// place their replicas and limits are set. Every creator goes through
// Conn.reconcile with one of its specs.
type layout struct {
	specs []*spec // in the order status shows them
	// replicas is how many replicas to want; with auto (replicas follow the
	// cluster), a stream that has more keeps them, so that processes which
	// see fewer servers do not scale it down and up again.
	replicas int
	auto     bool
}

// newLayout is the table of the streams and buckets.
func newLayout(r Retention, replicas int, auto bool) *layout {
	r = r.withDefaults()
	l := &layout{replicas: replicas, auto: auto}
	stream := func(cfg jetstream.StreamConfig) {
		cfg.Storage = jetstream.FileStorage
		if cfg.MaxAge > 0 && cfg.Duplicates > cfg.MaxAge {
			cfg.Duplicates = cfg.MaxAge // JetStream wants no longer a window
		}
		l.specs = append(l.specs, &spec{stream: cfg})
	}
	bucket := func(cfg jetstream.KeyValueConfig) {
		cfg.Storage = jetstream.FileStorage
		cfg.History = max(cfg.History, 1)
		l.specs = append(l.specs, &spec{bucket: &cfg, stream: jetstream.StreamConfig{
			Name: "KV_" + cfg.Bucket, Storage: cfg.Storage, MaxAge: cfg.TTL, MaxBytes: cfg.MaxBytes,
			MaxMsgsPerSubject: int64(cfg.History), MaxMsgSize: cfg.MaxValueSize,
		}})
	}
	stream(jetstream.StreamConfig{
		Name: JobsStream, Description: "chatops jobs waiting for a worker",
		Subjects: []string{jobsSubject, jobsSubject + ".>"}, Retention: jetstream.WorkQueuePolicy,
		MaxAge: r.Jobs, Duplicates: DedupWindow,
	})
	bucket(jetstream.KeyValueConfig{
		Bucket: JobsBucket, Description: "chatops jobs: each from queued to its outcome and answer",
		History: 1, TTL: r.Jobs,
	})
	stream(jetstream.StreamConfig{
		Name: OutboxStream, Description: "chatops answers waiting to be delivered",
		Subjects: []string{outboxSubject}, Retention: jetstream.WorkQueuePolicy, Duplicates: DedupWindow,
	})
	stream(jetstream.StreamConfig{
		Name: AuditStream, Description: "chatops audit: every command from every adapter",
		Subjects: []string{auditSubject + ".>"}, DenyDelete: true, DenyPurge: true,
		// JetStream ages records out whatever DenyDelete says: it forbids
		// deleting them by hand.
		MaxAge: r.Audit,
		// Outlasts the redelivery of a job whose worker died, so its
		// record is kept once.
		Duplicates: 30 * time.Minute,
	})
	stream(jetstream.StreamConfig{
		Name: ReleasesStream, Description: "chatops ledger: every change of every pipeline, with its releases and audit record",
		Subjects: []string{releasesSubject + ".>"}, DenyDelete: true, DenyPurge: true, AllowDirect: true,
		MaxBytes: r.Releases, Discard: jetstream.DiscardOld,
	})
	stream(jetstream.StreamConfig{
		Name: EventsStream, Description: "chatops pipeline events: ledger changes (sourced from " + ReleasesStream + "), driver progress, CI/CD reports",
		Subjects: []string{eventsSubject + ".>"},
		MaxAge:   r.Events, MaxBytes: EventsMaxBytes, Duplicates: EventsDedupWindow,
	})
	stream(jetstream.StreamConfig{
		Name: NoticesStream, Description: "chatops notifications waiting for their channel, one subject per channel",
		Subjects: []string{noticesSubject + ".>"}, Retention: jetstream.WorkQueuePolicy,
		MaxAge: NoticesMaxAge, Duplicates: DedupWindow,
	})
	bucket(jetstream.KeyValueConfig{
		Bucket: InteractionsBucket, Description: "chatops pending confirmations", History: 1,
		TTL: r.Interactions,
	})
	bucket(jetstream.KeyValueConfig{
		Bucket: ThreadsBucket, Description: "chatops notification threads: one per release and channel", History: 1,
		TTL: ThreadTTL,
	})
	bucket(jetstream.KeyValueConfig{
		Bucket: SecretsBucket, Description: "chatops sealed secrets", History: 1,
	})
	bucket(jetstream.KeyValueConfig{
		Bucket: LeasesBucket, Description: "chatops leases: which process runs each piece of periodic work", History: 1,
	})
	bucket(jetstream.KeyValueConfig{
		Bucket: HomesBucket, Description: "chatops App Home tabs opened lately, refreshed when what they show changes", History: 1,
		TTL: HomeWatched,
	})
	bucket(jetstream.KeyValueConfig{
		Bucket: ClaimsBucket, Description: "chatops claims: whether each job was taken by a worker or refused by its gateway", History: 1,
		TTL: ClaimTTL,
	})
	return l
}

// spec returns the spec of the stream or bucket called name.
func (l *layout) spec(name string) (*spec, bool) {
	for _, s := range l.specs {
		if s.name() == name {
			return s, true
		}
	}
	return nil, false
}

// setup finds, reconciles or creates the buckets and the streams: every one
// that exists is brought to what chatops wants, and the ledger, the audit and
// the job records are created if missing. The others are created by the
// first call that needs them (Queue, Outbox, Events…).
func (c *Conn) setup(ctx context.Context, opts Options) error {
	replicas, auto := opts.Replicas, opts.Replicas <= 0
	if auto {
		replicas = min(MaxReplicas, ClusterSize(c.nc))
	}
	ret := opts.Retention
	if ret.Jobs == 0 {
		ret.Jobs = opts.JobTTL
	}
	c.layout = newLayout(ret, replicas, auto)
	c.replicas = replicas
	c.reconciles = opts.Reconcile
	if opts.Reconcile {
		if err := c.reconcileExisting(ctx); err != nil {
			return err
		}
	}
	jobs, err := c.ensureBucket(ctx, JobsBucket)
	if err != nil {
		return err
	}
	if _, err := c.ensureStream(ctx, AuditStream); err != nil {
		return err
	}
	ledger, err := c.ensureStream(ctx, ReleasesStream)
	if err != nil {
		return err
	}
	c.Store = &Store{js: c.js, stream: ledger, log: opts.Log}
	c.Jobs = &Jobs{kv: jobs, js: c.js}
	c.Audit = &Audit{js: c.js}
	c.History = &History{js: c.js}
	return nil
}

// reconcileExisting brings every stream and bucket of the layout that exists
// to what chatops wants, and reports every difference JetStream cannot make.
func (c *Conn) reconcileExisting(ctx context.Context) error {
	have := map[string]*jetstream.StreamInfo{}
	list := c.js.ListStreams(ctx)
	for info := range list.Info() {
		have[info.Config.Name] = info
	}
	if err := list.Err(); err != nil {
		return unavailable(fmt.Errorf("listing streams: %w", err))
	}
	var refused []string
	for _, s := range c.layout.specs {
		info, ok := have[s.stream.Name]
		if !ok {
			continue
		}
		if _, err := c.update(ctx, s, info); err != nil {
			var e *engine.Error
			if !errors.As(err, &e) || e.Code != engine.Conflict {
				return err
			}
			refused = append(refused, strings.TrimPrefix(e.Msg, "NATS: "))
		}
	}
	if len(refused) > 0 {
		return conflict(strings.Join(refused, "\n"))
	}
	return nil
}

// ensureStream finds or creates the layout's stream called name, and brings
// it to what chatops wants.
func (c *Conn) ensureStream(ctx context.Context, name string) (jetstream.Stream, error) {
	s, ok := c.layout.spec(name)
	if !ok || s.bucket != nil {
		return nil, &engine.Error{Code: engine.Internal, Msg: "no stream " + name + " in the layout"}
	}
	st, _, err := c.reconcile(ctx, s, s.stream)
	return st, err
}

// ensureBucket finds or creates the layout's bucket called name, and brings
// it to what chatops wants.
func (c *Conn) ensureBucket(ctx context.Context, name string) (jetstream.KeyValue, error) {
	s, ok := c.layout.spec(name)
	if !ok || s.bucket == nil {
		return nil, &engine.Error{Code: engine.Internal, Msg: "no bucket " + name + " in the layout"}
	}
	if _, _, err := c.reconcile(ctx, s, s.stream); err != nil {
		return nil, err
	}
	kv, err := c.js.KeyValue(ctx, name)
	if err != nil {
		return nil, unavailable(fmt.Errorf("bucket %s: %w", name, err))
	}
	return kv, nil
}

// ensureEvents finds or creates the events stream. A new one sources the
// ledger from its next change (a new stream does not replay the ledger's
// past) and starts with the notifier's consumer, so a promote made from a
// terminal before chatops serve ever ran is posted when it starts.
func (c *Conn) ensureEvents(ctx context.Context) error {
	s, _ := c.layout.spec(EventsStream)
	// From the ledger's next change: a start time would skip the first
	// change of an empty ledger (the server places a time on an empty
	// stream past its first message).
	src := &jetstream.StreamSource{Name: ReleasesStream}
	if ledger, err := c.js.Stream(ctx, ReleasesStream); err != nil {
		return unavailable(fmt.Errorf("stream %s: %w", ReleasesStream, err))
	} else if info, err := ledger.Info(ctx); err != nil {
		return unavailable(fmt.Errorf("stream %s: %w", ReleasesStream, err))
	} else if info.State.LastSeq > 0 {
		src.OptStartSeq = info.State.LastSeq + 1
	}
	cfg := s.stream
	cfg.Sources = []*jetstream.StreamSource{src}
	_, created, err := c.reconcile(ctx, s, cfg)
	if err != nil || !created {
		return err
	}
	if _, err := c.js.CreateConsumer(ctx, EventsStream, eventsConsumer(engine.NotifyConsumer)); err != nil && !errors.Is(err, jetstream.ErrConsumerExists) {
		return unavailable(fmt.Errorf("%s consumer: %w", engine.NotifyConsumer, err))
	}
	return nil
}

// reconcile creates s's stream with create (s.stream, or that with its
// sources) when it is missing, and otherwise updates it to what s wants. It
// never moves an existing stream's sources. Two processes reconciling at
// once make the same changes, the second none.
func (c *Conn) reconcile(ctx context.Context, s *spec, create jetstream.StreamConfig) (jetstream.Stream, bool, error) {
	st, err := c.js.Stream(ctx, s.stream.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if st, err = c.create(ctx, s, create); err == nil {
			return st, true, nil
		}
		if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) && !errors.Is(err, jetstream.ErrBucketExists) {
			return nil, false, unavailable(fmt.Errorf("%s %s: %w", s.kind(), s.name(), err))
		}
		// Another process created it meanwhile, perhaps otherwise.
		st, err = c.js.Stream(ctx, s.stream.Name)
	}
	if err != nil {
		return nil, false, unavailable(fmt.Errorf("%s %s: %w", s.kind(), s.name(), err))
	}
	st, err = c.update(ctx, s, st.CachedInfo())
	return st, false, err
}

// create makes s's stream, or its bucket, with the replicas wanted.
func (c *Conn) create(ctx context.Context, s *spec, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	if s.bucket == nil {
		cfg.Replicas = c.layout.replicas
		return c.js.CreateStream(ctx, cfg)
	}
	kcfg := *s.bucket
	kcfg.Replicas = c.layout.replicas
	if _, err := c.js.CreateKeyValue(ctx, kcfg); err != nil {
		return nil, err
	}
	return c.js.Stream(ctx, s.stream.Name)
}

// update brings an existing stream to what s wants: the differences
// JetStream can make it makes in one update, and if there is one it cannot,
// it changes nothing and returns a Conflict that lists them all.
func (c *Conn) update(ctx context.Context, s *spec, info *jetstream.StreamInfo) (jetstream.Stream, error) {
	want := s.stream
	want.Replicas = c.layout.replicas
	if c.layout.auto {
		want.Replicas = max(want.Replicas, info.Config.Replicas)
	}
	diffs := compare(s, &info.Config, &want)
	var fixed, changes []string
	for _, d := range diffs {
		if d.fixed {
			fixed = append(fixed, d.String())
		} else {
			changes = append(changes, d.String())
		}
	}
	if len(fixed) > 0 {
		return nil, conflict(fmt.Sprintf("%s %s: %s (JetStream cannot change %s in place: move the data to a new %s, or delete this one)",
			s.kind(), s.name(), strings.Join(append(fixed, changes...), "; "), list(diffs, true), s.kind()))
	}
	if len(diffs) == 0 || !c.reconciles {
		// Without Reconcile (a one-shot command), an existing stream is
		// used as chatops serve made it: a laptop's config must not
		// change the cluster's limits.
		return c.js.Stream(ctx, s.stream.Name)
	}
	cfg := info.Config
	for _, d := range diffs {
		d.apply(&cfg, &want)
	}
	if cfg.MaxAge > 0 && cfg.Duplicates > cfg.MaxAge {
		cfg.Duplicates = cfg.MaxAge
	}
	st, err := c.js.UpdateStream(ctx, cfg)
	if err != nil {
		return nil, unavailable(fmt.Errorf("%s %s: changing it (%s): %w", s.kind(), s.name(), strings.Join(changes, "; "), err))
	}
	return st, nil
}

func conflict(msg string) error {
	return &engine.Error{Code: engine.Conflict, Msg: "NATS: " + msg}
}

// difference is one setting in which a stream is not what chatops wants.
type difference struct {
	what       string // "replicas", "max age"…
	have, want string
	fixed      bool // JetStream cannot change it on an existing stream
	apply      func(dst, want *jetstream.StreamConfig)
}

func (d difference) String() string {
	return fmt.Sprintf("%s is %s, chatops wants %s", d.what, d.have, d.want)
}

// list names the differences that are fixed (or not): "retention and storage".
func list(diffs []difference, fixed bool) string {
	var names []string
	for _, d := range diffs {
		if d.fixed == fixed {
			names = append(names, d.what)
		}
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// compare lists how have differs from want, in the settings chatops sets: a
// bucket's are its replicas, TTL, history and size limits.
func compare(s *spec, have, want *jetstream.StreamConfig) []difference {
	var diffs []difference
	add := func(what, h, w string, fixed bool, apply func(dst, want *jetstream.StreamConfig)) {
		if h != w {
			diffs = append(diffs, difference{what: what, have: h, want: w, fixed: fixed, apply: apply})
		}
	}
	add("storage", strings.ToLower(have.Storage.String()), strings.ToLower(want.Storage.String()), true, nil)
	if s.bucket == nil {
		h, w := retentionName(have.Retention), retentionName(want.Retention)
		// JetStream moves between limits and interest, not to or from a
		// work queue.
		wq := have.Retention == jetstream.WorkQueuePolicy || want.Retention == jetstream.WorkQueuePolicy
		add("retention", h, w, wq, func(d, w *jetstream.StreamConfig) { d.Retention = w.Retention })
	}
	add("replicas", fmt.Sprint(max(have.Replicas, 1)), fmt.Sprint(max(want.Replicas, 1)), false,
		func(d, w *jetstream.StreamConfig) { d.Replicas = w.Replicas })
	age := "max age"
	if s.bucket != nil {
		age = "ttl"
	}
	add(age, FormatAge(have.MaxAge), FormatAge(want.MaxAge), false, func(d, w *jetstream.StreamConfig) { d.MaxAge = w.MaxAge })
	add("max bytes", FormatBytes(have.MaxBytes), FormatBytes(want.MaxBytes), false,
		func(d, w *jetstream.StreamConfig) { d.MaxBytes = limit(w.MaxBytes) })
	add("max message size", FormatBytes(int64(have.MaxMsgSize)), FormatBytes(int64(want.MaxMsgSize)), false,
		func(d, w *jetstream.StreamConfig) { d.MaxMsgSize = int32(limit(int64(w.MaxMsgSize))) })
	if s.bucket != nil {
		add("history", fmt.Sprint(have.MaxMsgsPerSubject), fmt.Sprint(want.MaxMsgsPerSubject), false,
			func(d, w *jetstream.StreamConfig) { d.MaxMsgsPerSubject = w.MaxMsgsPerSubject })
		return diffs
	}
	add("max messages", count(have.MaxMsgs), count(want.MaxMsgs), false,
		func(d, w *jetstream.StreamConfig) { d.MaxMsgs = limit(w.MaxMsgs) })
	add("max messages per subject", count(have.MaxMsgsPerSubject), count(want.MaxMsgsPerSubject), false,
		func(d, w *jetstream.StreamConfig) { d.MaxMsgsPerSubject = limit(w.MaxMsgsPerSubject) })
	add("discard", discardName(have.Discard), discardName(want.Discard), false,
		func(d, w *jetstream.StreamConfig) { d.Discard = w.Discard })
	if want.Duplicates > 0 {
		add("duplicate window", FormatAge(have.Duplicates), FormatAge(want.Duplicates), false,
			func(d, w *jetstream.StreamConfig) { d.Duplicates = w.Duplicates })
	}
	// JetStream lets a stream deny deletes and purges from now on, never
	// the other way.
	add("deny delete", fmt.Sprint(have.DenyDelete), fmt.Sprint(want.DenyDelete), have.DenyDelete,
		func(d, w *jetstream.StreamConfig) { d.DenyDelete = w.DenyDelete })
	add("deny purge", fmt.Sprint(have.DenyPurge), fmt.Sprint(want.DenyPurge), have.DenyPurge,
		func(d, w *jetstream.StreamConfig) { d.DenyPurge = w.DenyPurge })
	add("allow direct", fmt.Sprint(have.AllowDirect), fmt.Sprint(want.AllowDirect), false,
		func(d, w *jetstream.StreamConfig) { d.AllowDirect = w.AllowDirect })
	hs, ws := slices.Sorted(slices.Values(have.Subjects)), slices.Sorted(slices.Values(want.Subjects))
	add("subjects", strings.Join(hs, ", "), strings.Join(ws, ", "), false,
		func(d, w *jetstream.StreamConfig) { d.Subjects = w.Subjects })
	return diffs
}

// limit is a stream limit as JetStream keeps it: -1 for none.
func limit(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}

func count(n int64) string {
	if n <= 0 {
		return "unlimited"
	}
	return fmt.Sprint(n)
}

func retentionName(p jetstream.RetentionPolicy) string {
	switch p {
	case jetstream.WorkQueuePolicy:
		return "workqueue"
	case jetstream.InterestPolicy:
		return "interest"
	}
	return "limits"
}

func discardName(p jetstream.DiscardPolicy) string {
	if p == jetstream.DiscardNew {
		return "new"
	}
	return "old"
}

// FormatAge writes a max age or TTL as a config does: 90d, 36h, 30m;
// "forever" for none.
func FormatAge(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d <= 0:
		return "forever"
	case d%day == 0:
		return fmt.Sprintf("%dd", d/day)
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// FormatBytes writes a size as a config does: 10GiB, 512MiB, 1000B;
// "unlimited" for none.
func FormatBytes(n int64) string {
	if n <= 0 {
		return "unlimited"
	}
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n%u.size == 0 {
			return fmt.Sprintf("%d%s", n/u.size, u.name)
		}
	}
	return fmt.Sprintf("%dB", n)
}
