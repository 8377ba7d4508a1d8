package memory

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

// Defaults of [Config].
const (
	DefaultLease          = 30 * time.Second
	DefaultMaxDeadLetters = 10000
)

// Config tunes a [Transport]. The zero value is ready to use.
type Config struct {
	// Lease is how long a delivery is held when the FetchRequest or the
	// Extend call gives no lease. Zero means DefaultLease.
	Lease time.Duration
	// MaxDeadLetters bounds how many dead letters each queue keeps; past it
	// the oldest are dropped. Zero means DefaultMaxDeadLetters; negative
	// means no bound.
	MaxDeadLetters int
}

// Transport is an in-process transport and store. Its zero value is not
// usable; create one with [New] or [NewWithConfig]. It is safe for
// concurrent use.
type Transport struct {
	cfg    Config
	closed atomic.Bool
	done   chan struct{} // closed by Close, to release blocked calls

	// mu guards the message side.
	mu      sync.Mutex
	queues  map[string]*queue
	held    map[string]*entry // every pending, delayed or active message, by ID
	delayed timeHeap          // by ETA
	leased  timeHeap          // by lease deadline
	seq     uint64
	waiters []*waiter // blocked Fetch calls, oldest first
	timer   *time.Timer
	timerAt time.Time // when timer fires; zero when it is not armed

	// smu guards the store side, so result writes do not contend with
	// fetches and acks.
	smu      sync.Mutex
	records  map[string]*record
	recWaits map[string]*recordWait
	kv       map[string]*kvEntry
	writes   uint // store writes, to pace the expiry sweep
	lim      limits
}

var (
	_ runtime.Transport       = (*Transport)(nil)
	_ runtime.Store           = (*Transport)(nil)
	_ runtime.Limiter         = (*Transport)(nil)
	_ runtime.BufferedFetcher = (*Transport)(nil)
)

// New returns an empty transport with the default configuration.
func New() *Transport {
	return NewWithConfig(Config{})
}

// NewWithConfig returns an empty transport configured by cfg.
func NewWithConfig(cfg Config) *Transport {
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.MaxDeadLetters == 0 {
		cfg.MaxDeadLetters = DefaultMaxDeadLetters
	}
	return &Transport{
		cfg:      cfg,
		done:     make(chan struct{}),
		queues:   make(map[string]*queue),
		held:     make(map[string]*entry),
		records:  make(map[string]*record),
		recWaits: make(map[string]*recordWait),
		kv:       make(map[string]*kvEntry),
	}
}

// Close releases blocked Fetch and WaitRecord calls; every later call
// returns runtime.ErrClosed. Closing twice is not an error. Messages and
// records still held are dropped with the transport.
func (t *Transport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Swap(true) {
		return nil
	}
	close(t.done)
	if t.timer != nil {
		t.timer.Stop()
	}
	t.waiters = nil
	return nil
}
