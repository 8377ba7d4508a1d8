package redis

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/taskgen/taskgen/runtime"
)

// Defaults of [Config].
const (
	DefaultPrefix         = "taskgen"
	DefaultLease          = 30 * time.Second
	DefaultMaxDeadLetters = 10000
)

// Config configures a [Transport].
type Config struct {
	// Client is the connection to Redis: a *redis.Client, or a
	// *redis.ClusterClient for Redis Cluster. Required. The caller keeps
	// it: Close does not close it.
	Client goredis.UniversalClient
	// Prefix starts every key and channel name, so that several
	// applications can share one Redis. Default DefaultPrefix. It must not
	// contain '{' or '}', which Redis Cluster reads as a hash tag.
	Prefix string
	// Lease is how long a delivery is held when the FetchRequest or the
	// Extend call gives no lease. Default DefaultLease.
	Lease time.Duration
	// MaxDeadLetters bounds how many dead letters each queue keeps; past it
	// the oldest are dropped. Zero means DefaultMaxDeadLetters; negative
	// means no bound.
	MaxDeadLetters int
}

// Transport is a runtime.Transport and runtime.Store on Redis. It is safe
// for concurrent use. Create one with [New] or [Open].
type Transport struct {
	client  goredis.UniversalClient
	owned   bool // Close closes client
	cluster bool // scripts may touch one queue's slot only
	// freshTx: PublishBatch stores messages with fresh IDs in a
	// transaction of plain commands (queueFresh). Only a client that never
	// re-sends a command may: re-sent, the transaction would add its
	// messages twice. A cluster client re-sends; so may a client given
	// max_retries.
	freshTx bool
	keys    keyspace
	lease   time.Duration
	maxDead int
	// origin names this transport in the notices it publishes, so that it
	// can skip its own.
	origin string

	queues sync.Map // queue name → *queueKeys, built once
	// progressed holds the IDs of tasks whose progress this transport
	// wrote, until it writes their terminal record (see mayHaveProgress).
	progressed progressSet

	batch  *batcher
	notes  *notifier
	done   chan struct{} // closed by Close
	closed atomic.Bool
	mu     sync.Mutex // serializes Close
}

var (
	_ runtime.Transport      = (*Transport)(nil)
	_ runtime.Store          = (*Transport)(nil)
	_ runtime.Inspector      = (*Transport)(nil)
	_ runtime.BatchPublisher = (*Transport)(nil)
	_ runtime.RecordAcker    = (*Transport)(nil)
)

// New returns a transport on cfg.Client. It panics when cfg.Client is nil
// or cfg.Prefix holds a brace: both are mistakes in the program, not
// conditions to handle.
func New(cfg Config) *Transport {
	if cfg.Client == nil {
		panic("taskgen: redis: Config.Client is nil; pass a *redis.Client or *redis.ClusterClient")
	}
	if err := checkPrefix(cfg.Prefix); err != nil {
		panic(err)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.MaxDeadLetters == 0 {
		cfg.MaxDeadLetters = DefaultMaxDeadLetters
	}
	_, cluster := cfg.Client.(*goredis.ClusterClient)
	t := &Transport{
		client:  cfg.Client,
		cluster: cluster,
		keys:    keyspace{prefix: cfg.Prefix},
		lease:   cfg.Lease,
		maxDead: max(cfg.MaxDeadLetters, 0),
		origin:  rand.Text(),
		done:    make(chan struct{}),
	}
	if c, ok := cfg.Client.(*goredis.Client); ok {
		t.freshTx = c.Options().MaxRetries == 0 // go-redis's -1: no retries
	}
	t.batch = newBatcher(cfg.Client)
	t.notes = newNotifier(cfg.Client, t.origin, t.done)
	return t
}

func checkPrefix(p string) error {
	if strings.ContainsAny(p, "{}") {
		return fmt.Errorf("taskgen: redis: key prefix %q holds a brace, which Redis Cluster reads as a hash tag; use letters, digits, '.', '-', '_' or ':'", p)
	}
	return nil
}

// Close releases blocked Fetch and WaitRecord calls, and closes the Redis
// client when the transport opened it ([Open]). Later calls return
// runtime.ErrClosed; a second Close returns nil. Messages stay in Redis.
func (t *Transport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Swap(true) {
		return nil
	}
	close(t.done)
	t.batch.close()
	err := t.notes.close()
	if t.owned {
		if cerr := t.client.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("taskgen: redis: close: %w", err)
	}
	return nil
}

// queue returns the keys of the named queue.
func (t *Transport) queue(name string) *queueKeys {
	if q, ok := t.queues.Load(name); ok {
		return q.(*queueKeys)
	}
	q, _ := t.queues.LoadOrStore(name, t.keys.queue(name))
	return q.(*queueKeys)
}

// lease is a delivery's entry in its queue's leased set: the ID, '|', and
// the delivery's token. The token is the value of the queue's counter taken
// by the fetch that leased the message, which no delivery of another fetch
// shares, then '.' and the message's deliveries. Acks, nacks and
// extensions succeed only while the leased set holds the entry.
type lease struct {
	t     *Transport
	q     *queueKeys // the delivery's queue
	id    string     // the message's ID, whatever Delivery.ID says
	entry string
	// ack is the ack script's arguments for the delivery, the ID and the
	// entry: scripts only read them.
	ack []any
}

// leaseOf returns d's lease, or an error wrapping runtime.ErrLeaseLost for
// a delivery another transport made.
func (t *Transport) leaseOf(d *runtime.Delivery, op string) (*lease, error) {
	if d == nil {
		return nil, fmt.Errorf("taskgen: redis: %s: nil delivery", op)
	}
	l, ok := d.Lease.(*lease)
	if !ok || l.t != t {
		return nil, fmt.Errorf("%w: %s task %q on queue %q: the delivery was not made by this transport", runtime.ErrLeaseLost, op, d.ID, d.Queue)
	}
	return l, nil
}

func lostError(op string, d *runtime.Delivery) error {
	return fmt.Errorf("%w: %s task %q on queue %q: the lease lapsed or the delivery was already settled", runtime.ErrLeaseLost, op, d.ID, d.Queue)
}

// micros converts a duration to whole microseconds, rounding up, so that a
// positive duration never becomes zero.
func micros(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Microsecond - 1) / time.Microsecond)
}

// unixMicros converts t to Unix microseconds, rounding up so that a message
// is never due before its ETA; the zero time is 0.
func unixMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	ns := t.UnixNano()
	us := ns / 1000
	if ns%1000 > 0 {
		us++
	}
	return max(us, 1)
}

// wrap names the operation and the queue in a Redis error.
func wrap(op, queue string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, runtime.ErrClosed) {
		return err
	}
	return fmt.Errorf("taskgen: redis: %s on queue %q: %w", op, queue, err)
}
