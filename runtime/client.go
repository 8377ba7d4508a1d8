package runtime

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// Client enqueues tasks. It is safe for concurrent use.
type Client struct {
	tr         Transport
	store      Store
	maxPayload int
	routing    routing
}

// ClientOption configures a Client.
type ClientOption interface {
	applyClient(*Client)
}

type clientOptionFunc func(*Client)

func (f clientOptionFunc) applyClient(c *Client) { f(c) }

// WithStore sets the store that keeps results and unique keys. By default a
// client uses its transport when the transport is also a Store.
func WithStore(s Store) ClientOption {
	return clientOptionFunc(func(c *Client) { c.store = s })
}

// WithMaxPayload sets the size above which a task's encoded arguments are
// stored in the store and the message carries a reference (claim-check).
// Default DefaultMaxPayload.
func WithMaxPayload(n int) ClientOption {
	return clientOptionFunc(func(c *Client) { c.maxPayload = n })
}

// DefaultMaxPayload is the payload size above which arguments travel
// through the store rather than in the message.
const DefaultMaxPayload = 64 << 10

// NewClient returns a client that publishes through tr. A routing
// configuration that does not validate (see NewCheckedClient) makes every
// enqueue of the client fail with its error.
func NewClient(tr Transport, opts ...ClientOption) *Client {
	c := &Client{tr: tr, maxPayload: DefaultMaxPayload}
	if s, ok := tr.(Store); ok {
		c.store = s
	}
	for _, o := range opts {
		o.applyClient(c)
	}
	c.routing.err = c.routing.validate()
	return c
}

// NewCheckedClient is NewClient for a client with routing options
// (WithQueues, WithRoutes, WithRouter, WithPriorityPolicy,
// WithDefaultQueue): it returns an error naming the first rule that names
// an undeclared queue, has a bad pattern, or leaves the default queue
// undeclared, so that a program fails at startup rather than at its first
// enqueue.
func NewCheckedClient(tr Transport, opts ...ClientOption) (*Client, error) {
	c := NewClient(tr, opts...)
	if c.routing.err != nil {
		return nil, c.routing.err
	}
	return c, nil
}

// Store returns the client's store, or nil.
func (c *Client) Store() Store { return c.store }

// defaultUniqueWindow bounds a UniqueKey given without an annotation window.
const defaultUniqueWindow = time.Hour

// EnqueueTask publishes a task whose arguments are already encoded. It
// returns once the transport holds the task durably. Generated EnqueueX
// functions call it through Enqueue.
func (c *Client) EnqueueTask(ctx context.Context, def *TaskDef, payload []byte, opts ...Option) (*Receipt, error) {
	o := collectOptions(opts)
	env := newEnvelope(ctx, def, payload, &o, time.Now())
	if err := c.routing.route(env, def, &o); err != nil {
		return nil, err
	}
	if err := c.prepare(ctx, def, env); err != nil {
		return nil, err
	}
	msg := &Message{ID: env.ID, Queue: env.Queue, Priority: env.Priority, ETA: env.ETA, Body: env.Marshal(), FreshID: o.taskID == ""}
	if err := c.tr.Publish(ctx, msg); err != nil {
		c.releaseUnique(env)
		return nil, &TaskError{Task: env.Task, ID: env.ID, Queue: env.Queue, Err: fmt.Errorf("publish: %w", err)}
	}
	return &Receipt{ID: env.ID, Queue: env.Queue, Store: c.store}, nil
}

// newEnvelope applies the call options over the task's defaults.
func newEnvelope(ctx context.Context, def *TaskDef, payload []byte, o *callOptions, now time.Time) *Envelope {
	env := new(Envelope)
	initEnvelope(env, ctx, def, payload, o, now, "")
	return env
}

// initEnvelope is newEnvelope into env. A task without the TaskID option
// gets id, or a new ID when id is empty.
func initEnvelope(env *Envelope, ctx context.Context, def *TaskDef, payload []byte, o *callOptions, now time.Time, id string) {
	*env = Envelope{
		ID:          o.taskID,
		Task:        def.Name,
		Queue:       def.Queue,
		Priority:    def.Priority,
		Fingerprint: def.Fingerprint,
		Payload:     payload,
		Retries:     def.Retries,
		BackoffMin:  def.BackoffMin,
		BackoffMax:  def.BackoffMax,
		Timeout:     def.Timeout,
		EnqueuedAt:  now,
		ETA:         o.eta,
		UniqueKey:   o.uniqueKey,
		Headers:     o.headers,
	}
	if env.ID == "" {
		env.ID = id
	}
	if env.ID == "" {
		env.ID = newTaskID()
	}
	if o.queue != "" {
		env.Queue = o.queue
	}
	if env.Queue == "" {
		env.Queue = DefaultQueue
	}
	if o.priority != nil {
		env.Priority = *o.priority
	}
	env.Priority = min(max(env.Priority, 0), MaxPriority)
	if o.retries != nil {
		env.Retries = *o.retries
	}
	if o.backoff != nil {
		env.BackoffMin, env.BackoffMax = o.backoff[0], o.backoff[1]
	}
	if o.timeout != nil {
		env.Timeout = *o.timeout
	}
	applySingleton(env, o)
	if o.delay > 0 {
		env.ETA = now.Add(o.delay)
	}
	expires := def.Expires
	if o.expires != nil {
		expires = *o.expires
	}
	if expires > 0 {
		start := now
		if env.ETA.After(now) {
			start = env.ETA
		}
		env.ExpiresAt = start.Add(expires)
	}
	if r, ok := RequestFrom(ctx); ok {
		env.Request = &r
	}
}

// prepare does the store work an envelope needs before it is published:
// its unique key, and its payload when it is too big for a message.
func (c *Client) prepare(ctx context.Context, def *TaskDef, env *Envelope) error {
	if err := c.claimUnique(ctx, def, env); err != nil {
		return err
	}
	if err := offloadPayload(ctx, c.store, env, c.maxPayload); err != nil {
		c.releaseUnique(env)
		return &TaskError{Task: env.Task, ID: env.ID, Queue: env.Queue, Err: err}
	}
	return nil
}

// offloadPayloadTTL is how long an offloaded payload stays in the store
// past its task's ETA, past each retry's, and past its dead-lettering
// (Worker.keepPayload), when the task never completes (it is deleted when
// the task succeeds).
const offloadPayloadTTL = 7 * 24 * time.Hour

// offloadPayload moves env's payload to the store when it is bigger than
// max (claim-check): the message carries its key instead.
func offloadPayload(ctx context.Context, store Store, env *Envelope, max int) error {
	if max <= 0 || len(env.Payload) <= max {
		return nil
	}
	if store == nil {
		return fmt.Errorf("payload of %d bytes is over the %d-byte message limit, and there is no store to hold it: %w", len(env.Payload), max, ErrNoStore)
	}
	// A key of this enqueue's own: another enqueue with the task's ID
	// (a duplicate, refused) must not replace the payload of the task
	// queued first.
	key := "payload:" + env.ID + ":" + rand.Text()[:12]
	ttl := offloadPayloadTTL
	if d := time.Until(env.ETA); d > 0 {
		ttl += d
	}
	if err := store.Put(ctx, key, env.Payload, ttl); err != nil {
		return fmt.Errorf("offload payload of %d bytes: %w", len(env.Payload), err)
	}
	env.PayloadRef, env.Payload = key, nil
	return nil
}

// claimUnique takes the task's unique key in the store, if it has one.
func (c *Client) claimUnique(ctx context.Context, def *TaskDef, env *Envelope) error {
	if env.UniqueKey == "" && def.Unique > 0 {
		sum := sha256.Sum256(env.Payload)
		env.UniqueKey = def.Name + ":" + hex.EncodeToString(sum[:16])
	}
	if env.UniqueKey == "" {
		return nil
	}
	if c.store == nil {
		return &TaskError{Task: env.Task, Queue: env.Queue, Err: fmt.Errorf("unique key: %w", ErrNoStore)}
	}
	window := def.Unique
	if window <= 0 {
		window = defaultUniqueWindow
	}
	ok, err := c.store.PutNX(ctx, uniqueStoreKey(env.UniqueKey), []byte(env.ID), window)
	if err != nil {
		return &TaskError{Task: env.Task, ID: env.ID, Queue: env.Queue, Err: fmt.Errorf("unique key: %w", err)}
	}
	if !ok {
		return &TaskError{Task: env.Task, ID: env.ID, Queue: env.Queue, Err: fmt.Errorf("unique key %q: %w", env.UniqueKey, ErrDuplicate)}
	}
	return nil
}

func (c *Client) releaseUnique(env *Envelope) {
	if env.UniqueKey == "" || c.store == nil {
		return
	}
	// Best effort: the key's TTL frees it anyway.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = c.store.CompareAndDelete(ctx, uniqueStoreKey(env.UniqueKey), []byte(env.ID))
}

func uniqueStoreKey(k string) string { return "unique:" + k }

// newTaskID returns a random 128-bit ID in base32.
func newTaskID() string { return rand.Text() }

// newTaskIDs returns n task IDs like newTaskID's, drawn in one read from
// crypto/rand and sharing one string.
func newTaskIDs(n int) []string {
	const size = 26 // rand.Text's: ⌈log₃₂ 2¹²⁸⌉
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b := make([]byte, size*n)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[b[i]%32]
	}
	all := string(b)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = all[i*size : (i+1)*size]
	}
	return ids
}
