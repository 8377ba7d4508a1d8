package amqp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/taskgen/taskgen/runtime"
)

// Transport is a runtime.Transport on RabbitMQ. Create one with [New] or
// [Open]; it is safe for concurrent use.
type Transport struct {
	cfg Config
	log *slog.Logger

	ctx    context.Context // cancelled by Close; bounds background work
	cancel context.CancelFunc
	done   chan struct{} // closed by Close
	closed atomic.Bool
	wg     sync.WaitGroup // background goroutines
	moves  sync.WaitGroup // deliveries being sent back through the broker

	pub   *link // publishing connection
	sub   *link // consuming and declaring connection
	pubr  *publisher
	topo  *topology
	admin adminChannel

	// mu guards the consumer side: every queue's buffered deliveries,
	// leases and waiting Fetch calls.
	mu     sync.Mutex
	queues map[string]*queueState
	seq    uint64 // arrival order of buffered deliveries
	// sweep lapses the leases past their deadline; it is due at sweepAt,
	// no later than the earliest deadline of a lease held (zero: none).
	sweep   *time.Timer
	sweepAt time.Time

	browsing sync.Mutex // one dead-letter listing at a time
}

var (
	_ runtime.Transport       = (*Transport)(nil)
	_ runtime.BatchPublisher  = (*Transport)(nil)
	_ runtime.Inspector       = (*Transport)(nil)
	_ runtime.BufferedFetcher = (*Transport)(nil)
)

// New connects to the broker at cfg.URL and returns a transport. It dials
// both of its connections before it returns, so a wrong address or
// credentials fail here; later losses are redialled in the background.
func New(ctx context.Context, cfg Config) (*Transport, error) {
	redacted := redactURL(cfg.URL)
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("taskgen: amqp: %s: %v", redacted, err)
	}
	if _, err := amqp.ParseURI(cfg.URL); err != nil {
		return nil, fmt.Errorf("taskgen: amqp: %s: %v", redacted, err)
	}
	t := &Transport{
		cfg:    cfg,
		log:    cfg.Logger,
		done:   make(chan struct{}),
		queues: make(map[string]*queueState),
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.topo = &topology{t: t, m: make(map[string]*declaration), seen: make(map[string]bool)}
	t.admin.t = t
	dial := func(role string) func() (*amqp.Connection, error) {
		return func() (*amqp.Connection, error) {
			return amqp.DialConfig(cfg.URL, amqp.Config{
				Heartbeat:       cfg.Heartbeat,
				Locale:          "en_US",
				TLSClientConfig: cfg.TLS,
				Dial:            amqp.DefaultDial(cfg.DialTimeout),
				Properties:      amqp.Table{"connection_name": cfg.ConnectionName + " " + role},
			})
		}
	}
	t.pub = newLink("publish", dial("publish"), t.log, t.done)
	t.sub = newLink("consume", dial("consume"), t.log, t.done)
	t.pub.onUp = t.topo.reset
	t.sub.onUp = t.topo.reset
	t.pubr = newPublisher(t, t.pub, cfg.PublishChannels, cfg.ConfirmWindow)

	connected := make(chan error, 2)
	for _, l := range []*link{t.pub, t.sub} {
		go func() { connected <- l.connect() }()
	}
	var errs []error
	received := 0
wait:
	for received < 2 {
		select {
		case err := <-connected:
			received++
			errs = append(errs, err)
		case <-ctx.Done():
			errs = append(errs, ctx.Err())
			break wait
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.closed.Store(true)
		close(t.done)
		t.cancel()
		go t.discard(connected, 2-received)
		return nil, fmt.Errorf("taskgen: amqp: connect to %s: %w", redacted, err)
	}
	for _, l := range []*link{t.pub, t.sub} {
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			l.supervise()
		}()
	}
	return t, nil
}

// discard waits for dials that New gave up on and closes what they opened.
func (t *Transport) discard(connected chan error, n int) {
	for range n {
		<-connected
	}
	for _, l := range []*link{t.pub, t.sub} {
		l.mu.Lock()
		if l.conn != nil {
			_ = l.conn.Close()
		}
		l.mu.Unlock()
	}
}

// redactURL returns raw with its password replaced, for error messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(malformed URL)"
	}
	return u.Redacted()
}

// closeGrace bounds how long Close waits for moves under way.
const closeGrace = 2 * time.Second

// Close stops the transport. Deliveries it buffered or leased go back to
// their queues (the broker requeues a closed channel's unacknowledged
// messages), blocked calls return runtime.ErrClosed, and so does every
// later call. Closing twice is not an error.
func (t *Transport) Close() error {
	// Under mu, so that no move starts once Close waits for them.
	t.mu.Lock()
	already := t.closed.Swap(true)
	t.mu.Unlock()
	if already {
		return nil
	}
	// Moves under way (a delivery republished with new counts or to a
	// delay tier) get a moment to ack their original, so that it is not
	// requeued next to its copy.
	moved := make(chan struct{})
	go func() {
		t.moves.Wait()
		close(moved)
	}()
	timer := time.NewTimer(closeGrace)
	select {
	case <-moved:
	case <-timer.C:
	}
	timer.Stop()
	// Send the acks still waiting in their batches before the
	// connections close, or the broker would deliver those messages again.
	t.mu.Lock()
	var ackers []*acker
	for _, q := range t.queues {
		if q.ack != nil {
			ackers = append(ackers, q.ack)
		}
	}
	t.mu.Unlock()
	for _, a := range ackers {
		a.flush(flushAll)
	}
	close(t.done)
	t.cancel()
	t.mu.Lock()
	for _, q := range t.queues {
		q.dropLocked()
	}
	if t.sweep != nil {
		t.sweep.Stop()
	}
	t.mu.Unlock()
	t.wg.Wait() // the supervisors close the connections on their way out
	if t.cfg.CloseStore {
		if c, ok := t.cfg.Store.(io.Closer); ok {
			return c.Close()
		}
	}
	return nil
}

// WithStore returns the transport together with Config.Store, as one value
// that is both a runtime.Transport and a runtime.Store (and a
// runtime.WorkflowStore when the store is one), so that clients and workers
// find the store without runtime.WithStore. Without a store it returns t
// itself.
func (t *Transport) WithStore() runtime.Transport {
	switch s := t.cfg.Store.(type) {
	case nil:
		return t
	case bulkWorkflowStore:
		return &bulkWorkflowTransport{Transport: t, bulkWorkflowStore: s}
	case runtime.WorkflowStore:
		return &workflowTransport{Transport: t, WorkflowStore: s}
	default:
		return &StoreTransport{Transport: t, Store: s}
	}
}

// StoreTransport is a Transport and the store its Config named.
type StoreTransport struct {
	*Transport
	runtime.Store
}

// workflowTransport is a Transport and the workflow store its Config named.
type workflowTransport struct {
	*Transport
	runtime.WorkflowStore
}

var (
	_ runtime.Transport     = (*StoreTransport)(nil)
	_ runtime.Store         = (*StoreTransport)(nil)
	_ runtime.Transport     = (*workflowTransport)(nil)
	_ runtime.WorkflowStore = (*workflowTransport)(nil)
)

// Stats counts queue's messages. Pending and Delayed are the broker's
// counts of ready messages in the work queues and the delay queues, plus
// what this transport has prefetched and not leased; Active is what this
// transport has leased (the broker does not tell which unacknowledged
// messages other processes hold); Dead is the dead-letter queue's length.
// A queue that was never declared has all zeros.
func (t *Transport) Stats(ctx context.Context, queue string) (runtime.QueueStats, error) {
	s := runtime.QueueStats{Queue: queue}
	if t.closed.Load() {
		return s, runtime.ErrClosed
	}
	l := t.layout(queue)
	bands := l.bands()
	names := make([]string, 0, len(bands)+len(l.tiers)+1)
	for _, b := range bands {
		names = append(names, b.name)
	}
	for _, d := range l.tiers {
		names = append(names, l.tier(d))
	}
	names = append(names, l.dead())
	counts, err := t.admin.count(ctx, names)
	if err != nil {
		return s, fmt.Errorf("taskgen: amqp: stats of queue %q: %w", queue, err)
	}
	if counts == nil {
		return s, nil // never declared
	}
	for i, n := range counts {
		switch {
		case i < len(bands):
			s.Pending += n
		case i < len(names)-1:
			s.Delayed += n
		default:
			s.Dead = n
		}
	}
	// Read the local counts after the broker's: a message the broker has
	// just sent to this transport's consumer is then counted here.
	t.mu.Lock()
	if q := t.queues[queue]; q != nil {
		for _, b := range q.bands {
			s.Pending += b.ready.Len()
			s.Delayed += len(b.held)
		}
		s.Pending += q.movingPending
		s.Delayed += q.movingDelayed
		s.Active += len(q.leases)
	}
	t.mu.Unlock()
	return s, nil
}

// adminChannel is a channel of the consuming connection for counting
// queues, one call at a time. A passive declaration of a missing queue
// closes it; the next use opens another.
type adminChannel struct {
	t  *Transport
	mu sync.Mutex
	ch *amqp.Channel
}

// count returns the ready messages of each queue in names; a missing queue
// counts 0. When the first is missing it returns nil: the taskgen queue was
// never declared.
func (a *adminChannel) count(ctx context.Context, names []string) ([]int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]int, len(names))
	for i, name := range names {
		if a.ch == nil || a.ch.IsClosed() {
			conn, _, err := a.t.sub.current(ctx)
			if err != nil {
				return nil, err
			}
			if a.ch, err = conn.Channel(); err != nil {
				a.ch = nil
				return nil, fmt.Errorf("open channel: %w", err)
			}
		}
		n, err := countReady(a.ch, name)
		switch {
		case isNotFound(err) && i == 0:
			return nil, nil
		case isNotFound(err):
			n = 0
		case err != nil:
			return nil, fmt.Errorf("count queue %q: %w", name, err)
		}
		out[i] = n
	}
	return out, nil
}

// checkMessage rejects a message no transport could route.
func checkMessage(msg *runtime.Message) error {
	if err := msg.Check(); err != nil {
		return fmt.Errorf("taskgen: amqp: publish %w", err)
	}
	return nil
}

// maxQueueName bounds a taskgen queue's name with its prefix: RabbitMQ
// names have at most 255 bytes, and the transport adds suffixes such as
// ".delay.250ms".
const maxQueueName = 230

func (t *Transport) checkQueueName(queue string) error {
	if n := len(t.cfg.Prefix) + len(queue); n > maxQueueName {
		return fmt.Errorf("taskgen: amqp: queue %q: the name and prefix have %d bytes; at most %d fit in a RabbitMQ name with the transport's suffixes", queue, n, maxQueueName)
	}
	return nil
}

// guardKey is the store key that holds a task ID while the transport holds
// its message: the token of the publish that claimed it, which the
// message's copies carry (hdrGuard).
func guardKey(id string) string { return "amqp.task:" + id }

// guardTTL outlives eta by the configured margin.
func (t *Transport) guardTTL(eta time.Time) time.Duration {
	ttl := t.cfg.IDGuardTTL
	if d := time.Until(eta); d > 0 {
		ttl += d
	}
	return ttl
}

// releaseID frees a settled message's task ID, best effort: the key's TTL
// frees it anyway. Only the claim guard is freed: a stale copy of the
// message, settled after a later publish claimed the ID again, leaves
// that claim alone. A message without a guard (from a version that set
// none, or a publisher without a store) frees the ID whoever holds it.
func (t *Transport) releaseID(id, guard string) {
	if t.cfg.Store == nil || id == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), 10*time.Second)
	defer cancel()
	var err error
	if guard != "" {
		_, err = t.cfg.Store.CompareAndDelete(ctx, guardKey(id), []byte(guard))
	} else {
		err = t.cfg.Store.Delete(ctx, guardKey(id))
	}
	if err != nil {
		t.log.Warn("taskgen: amqp: releasing task ID failed; it frees when its key expires", "id", id, "err", err)
	}
}
