package amqp

import (
	"container/heap"
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/taskgen/taskgen/runtime"
)

// coldWait bounds how long Fetch waits for the backlog a new consumer
// found in a higher-priority band or an earlier queue before it serves a
// later one: that backlog may have gone to another process's consumer.
const coldWait = 500 * time.Millisecond

// inFlightWait bounds how long Fetch waits for the deliveries a consumer
// may have on their way when basic.get finds its band empty at the end of
// a backlog, before it serves a later band.
const inFlightWait = 50 * time.Millisecond

// queueState is the consumer side of one taskgen queue: one consumer per
// band on a channel of the consuming connection, started by the first
// Fetch that names the queue and restarted after the channel closes. All
// fields are guarded by Transport.mu.
type queueState struct {
	name    string
	bands   []*band       // highest priority first
	started chan struct{} // closed when the first start has finished
	err     error         // of the first start; read after started

	// gen counts consumer channels: it changes whenever ch is replaced
	// or dropped, which voids every buffered delivery and lease of the
	// old channel (the broker requeues them).
	gen uint64
	ch  *amqp.Channel
	ack *acker // settles ch's deliveries

	waiters map[*waiter]struct{} // blocked Fetch calls naming this queue
	leases  map[*lease]struct{}  // deliveries handed out and not settled
	// Deliveries being sent back through the broker: early ones to a
	// delay tier (delayed), redelivered ones with their counts updated or
	// over their delivery limit to the dead letters (pending).
	movingDelayed, movingPending int
}

// band is one work queue of a taskgen queue and its consumer.
type band struct {
	q       *queueState
	name    string
	ready   pendingHeap           // received and deliverable
	held    map[*pending]struct{} // received early, waiting for their ETA
	unacked int                   // consumer deliveries not yet acked or rejected
	// expect is how many messages the band had ready when its consumer
	// started and has not received yet; until coldUntil, Fetch does not
	// serve a later band while it waits for them.
	expect    int
	coldUntil time.Time
	// probed records a basic.get that found the band empty while its
	// consumer had no credit; it is cleared when credit frees.
	probed bool
	// starved records that the consumer used up its credit since a
	// basic.get last found the band empty: the broker may hold more of
	// the band than it has sent, so a band that looks empty is probed
	// before a later one is served.
	starved bool
}

// pending is a message received by a consumer (or basic.get) and not yet
// settled with the broker.
type pending struct {
	b       *band
	gen     uint64
	ack     *acker // of the channel that delivered it
	tag     uint64
	msg     message
	seq     uint64
	fromGet bool        // outside the consumer's prefetch
	timer   *time.Timer // while held for its ETA
	idx     int
}

// pendingHeap orders deliverable messages by priority, then arrival.
type pendingHeap []*pending

func (h pendingHeap) Len() int { return len(h) }
func (h pendingHeap) Less(i, j int) bool {
	if h[i].msg.priority != h[j].msg.priority {
		return h[i].msg.priority > h[j].msg.priority
	}
	return h[i].seq < h[j].seq
}
func (h pendingHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *pendingHeap) Push(x any) {
	p := x.(*pending)
	p.idx = len(*h)
	*h = append(*h, p)
}
func (h *pendingHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	p.idx = -1
	return p
}

// waiter is a blocked Fetch.
type waiter struct{ ch chan struct{} }

func (t *Transport) newQueueState(name string) *queueState {
	q := &queueState{
		name:    name,
		started: make(chan struct{}),
		waiters: make(map[*waiter]struct{}),
		leases:  make(map[*lease]struct{}),
	}
	for _, spec := range t.layout(name).bands() {
		q.bands = append(q.bands, &band{q: q, name: spec.name, held: make(map[*pending]struct{})})
	}
	return q
}

// spawn runs fn in a goroutine that Close waits for, unless the transport
// is closed.
func (t *Transport) spawn(fn func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.spawnLocked(fn)
}

func (t *Transport) spawnLocked(fn func()) bool {
	if t.closed.Load() {
		return false
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		fn()
	}()
	return true
}

// consumers returns the queue states of names, starting their consumers
// on first use and waiting until they run.
func (t *Transport) consumers(ctx context.Context, names []string) ([]*queueState, error) {
	qs := make([]*queueState, 0, len(names))
	for _, name := range names {
		if err := t.checkQueueName(name); err != nil {
			return nil, err
		}
		t.mu.Lock()
		q := t.queues[name]
		if q == nil {
			q = t.newQueueState(name)
			if !t.spawnLocked(func() { t.runConsumer(q) }) {
				t.mu.Unlock()
				return nil, runtime.ErrClosed
			}
			t.queues[name] = q
		}
		t.mu.Unlock()
		select {
		case <-q.started:
			if q.err != nil {
				return nil, fmt.Errorf("taskgen: amqp: fetch from queue %q: %w", name, q.err)
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.done:
			return nil, runtime.ErrClosed
		}
		qs = append(qs, q)
	}
	return qs, nil
}

// runConsumer keeps q's consumers running until the transport closes. A
// first start that fails is reported to the Fetch calls waiting for it,
// and q is forgotten so that the next Fetch tries again; later failures
// (a lost connection) are retried with backoff.
func (t *Transport) runConsumer(q *queueState) {
	first := true
	backoff := reconnectMin
	for {
		gen, closed, err := t.startConsumers(q)
		if first {
			first = false
			if err != nil {
				t.mu.Lock()
				q.err = err
				if t.queues[q.name] == q {
					delete(t.queues, q.name)
				}
				t.mu.Unlock()
				close(q.started)
				return
			}
			close(q.started)
		}
		if err != nil {
			if t.closed.Load() {
				return
			}
			t.log.Warn("taskgen: amqp: starting consumers failed; retrying", "queue", q.name, "err", err)
			timer := time.NewTimer(reconnectMin + rand.N(backoff))
			select {
			case <-timer.C:
			case <-t.done:
				timer.Stop()
				return
			}
			backoff = min(2*backoff, reconnectMax)
			continue
		}
		backoff = reconnectMin
		select {
		case err := <-closed:
			t.mu.Lock()
			t.resetLocked(q, gen)
			t.mu.Unlock()
			if t.closed.Load() {
				return
			}
			if err != nil {
				t.log.Warn("taskgen: amqp: consumer channel closed; restarting it", "queue", q.name, "err", err)
			}
		case <-t.done:
			return
		}
	}
}

// startConsumers opens a channel and starts a consumer on each of q's
// bands. It returns the new generation and the channel's close
// notification.
func (t *Transport) startConsumers(q *queueState) (uint64, <-chan *amqp.Error, error) {
	conn, _, err := t.sub.current(t.ctx)
	if err != nil {
		return 0, nil, err
	}
	if err := t.topo.ensure(t.ctx, q.name); err != nil {
		return 0, nil, err
	}
	ch, err := conn.Channel()
	if err != nil {
		return 0, nil, fmt.Errorf("open channel: %w", err)
	}
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	if err := ch.Qos(t.cfg.Prefetch, 0, false /* per consumer, not per channel */); err != nil {
		_ = ch.Close()
		return 0, nil, fmt.Errorf("set prefetch: %w", err)
	}
	ack := newAcker(ch, t.cfg.Prefetch, t.done)
	if !t.spawn(func() { ack.run(ch.NotifyClose(make(chan *amqp.Error, 1))) }) {
		_ = ch.Close()
		return 0, nil, runtime.ErrClosed
	}
	t.mu.Lock()
	q.gen++
	gen := q.gen
	q.ch, q.ack = ch, ack
	t.mu.Unlock()
	fail := func(err error) (uint64, <-chan *amqp.Error, error) {
		_ = ch.Close()
		t.mu.Lock()
		t.resetLocked(q, gen)
		t.mu.Unlock()
		return 0, nil, err
	}
	for _, b := range q.bands {
		// What is ready now will arrive first; strict order waits for it.
		n, err := countReady(ch, b.name)
		if err != nil {
			return fail(fmt.Errorf("count queue %q: %w", b.name, err))
		}
		t.mu.Lock()
		if q.gen == gen {
			b.expect = min(n, t.cfg.Prefetch)
			b.coldUntil = time.Now().Add(coldWait)
		}
		t.mu.Unlock()
		ds, err := consume(ch, b.name, "")
		if err != nil {
			return fail(fmt.Errorf("consume queue %q: %w", b.name, err))
		}
		if !t.spawn(func() {
			for d := range ds {
				t.receive(b, gen, ack, &d, false)
			}
		}) {
			return fail(runtime.ErrClosed)
		}
	}
	return gen, closed, nil
}

// resetLocked voids generation gen of q's consumers: the broker requeues
// everything its channel had not settled.
func (t *Transport) resetLocked(q *queueState, gen uint64) {
	if q.gen != gen {
		return
	}
	q.dropLocked()
}

// dropLocked forgets q's deliveries and leases and stops their timers.
func (q *queueState) dropLocked() {
	q.gen++
	q.ch, q.ack = nil, nil
	for _, b := range q.bands {
		for p := range b.held {
			p.timer.Stop()
		}
		clear(b.held)
		b.ready = nil
		b.unacked, b.expect, b.probed, b.starved = 0, 0, false, false
	}
	for l := range q.leases {
		l.state = leaseLost
	}
	clear(q.leases)
	q.movingDelayed, q.movingPending = 0, 0
}

// receive takes in one delivery of band b. Most go to the band's ready
// heap; one not due within the hold window goes back through a delay tier;
// one that arrives early but within it is held until its ETA; a classic
// queue's redelivery is published again with its counts raised, so that
// the count survives the next crash; one abandoned DeliveryLimit times is
// dead-lettered.
func (t *Transport) receive(b *band, gen uint64, ack *acker, d *amqp.Delivery, fromGet bool) {
	q := b.q
	msg, redelivered := decodeMessage(d, q.name)
	if redelivered {
		msg.deliveries++
		msg.abandoned++
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if q.gen != gen {
		return // its channel is gone, and the broker has requeued it
	}
	t.seq++
	p := &pending{b: b, gen: gen, ack: ack, tag: d.DeliveryTag, msg: msg, seq: t.seq, fromGet: fromGet, idx: -1}
	if !fromGet {
		b.unacked++
		if b.expect > 0 {
			b.expect--
		}
		if b.unacked >= t.cfg.Prefetch {
			b.starved = true
		}
	}
	switch {
	case t.cfg.DeliveryLimit > 0 && msg.abandoned >= t.cfg.DeliveryLimit:
		q.movingPending++
		t.moveLocked(p, false, t.overLimit)
	case redelivered:
		q.movingPending++
		t.moveLocked(p, false, t.republish)
	case msg.eta.Sub(now) >= t.holdWindow():
		q.movingDelayed++
		t.moveLocked(p, true, t.republish)
	case msg.eta.After(now):
		b.held[p] = struct{}{}
		p.timer = time.AfterFunc(msg.eta.Sub(now), func() { t.due(p) })
	default:
		heap.Push(&b.ready, p)
		q.wakeLocked()
	}
}

// due makes a held message deliverable at its ETA.
func (t *Transport) due(p *pending) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := p.b
	if _, ok := b.held[p]; !ok || b.q.gen != p.gen {
		return
	}
	if wait := time.Until(p.msg.eta); wait > 0 {
		p.timer.Reset(wait)
		return
	}
	delete(b.held, p)
	heap.Push(&b.ready, p)
	b.q.wakeLocked()
}

func (q *queueState) wakeLocked() {
	for w := range q.waiters {
		select {
		case w.ch <- struct{}{}:
		default:
		}
	}
}

// moveLocked sends p back through the broker with fn, then acks the
// original. fn is retried with backoff until it succeeds, the channel that
// delivered p is gone (then the broker requeues p), or the transport
// closes.
func (t *Transport) moveLocked(p *pending, delayed bool, fn func(ctx context.Context, p *pending) error) {
	if !t.closed.Load() {
		t.moves.Add(1)
	}
	started := t.spawnLocked(func() {
		defer t.moves.Done()
		backoff := 100 * time.Millisecond
		for {
			ctx, cancel := context.WithTimeout(t.ctx, 30*time.Second)
			err := fn(ctx, p)
			cancel()
			if err == nil {
				t.settleTag(p, false)
				break
			}
			if !t.live(p) {
				break
			}
			t.log.Warn("taskgen: amqp: moving a message failed; retrying", "id", p.msg.id, "queue", p.b.q.name, "err", err)
			timer := time.NewTimer(backoff)
			select {
			case <-timer.C:
			case <-t.done:
				timer.Stop()
			}
			backoff = min(2*backoff, reconnectMax)
		}
		t.mu.Lock()
		if q := p.b.q; q.gen == p.gen {
			if delayed {
				q.movingDelayed--
			} else {
				q.movingPending--
			}
		}
		t.mu.Unlock()
	})
	if !started {
		if delayed {
			p.b.q.movingDelayed--
		} else {
			p.b.q.movingPending--
		}
	}
}

// live reports whether p's channel is still the current one and the
// transport is open.
func (t *Transport) live(p *pending) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return !t.closed.Load() && p.b.q.gen == p.gen
}

// republish publishes p's message again with its counts, through a delay
// tier when its ETA is far enough.
func (t *Transport) republish(ctx context.Context, p *pending) error {
	m := p.msg
	return t.send(ctx, &m)
}

// settleTag acks p (or rejects it back into its queue when requeue is set)
// on the channel that delivered it, and frees its prefetch credit. It
// reports whether the channel took it; when it did not, the channel is
// closing and the broker requeues p.
func (t *Transport) settleTag(p *pending, requeue bool) bool {
	t.mu.Lock()
	current := p.b.q.gen == p.gen
	if current {
		t.creditLocked(p)
	}
	t.mu.Unlock()
	if !current {
		return false
	}
	if requeue {
		return p.ack.reject(p.tag)
	}
	return p.ack.ack(p.tag)
}

// creditLocked gives back the prefetch credit p held, if it came from
// the current consumer.
func (t *Transport) creditLocked(p *pending) {
	if !p.fromGet && p.b.q.gen == p.gen {
		p.b.unacked--
		p.b.probed = false
	}
}

// overLimit dead-letters a message that was abandoned too often, and
// records the task's failure in the store so that waiting handles return.
func (t *Transport) overLimit(ctx context.Context, p *pending) error {
	m := p.msg
	dl := runtime.DeadLetter{
		ID:     m.id,
		Queue:  m.queue,
		Reason: runtime.ReasonDeliveryLimit,
		Error: fmt.Sprintf("abandoned %d times, the delivery limit: each time its lease lapsed or its worker died before settling it",
			m.abandoned),
		At:       time.Now(),
		Body:     m.body,
		Attempts: m.deliveries,
	}
	env, envErr := runtime.DecodeEnvelope(m.body)
	if envErr == nil {
		dl.Task = env.Task
	}
	if err := t.pubr.publish(ctx, t.layout(m.queue).deadExchange(), m.queue, deadLetterPublishing(dl, m.priority)); err != nil {
		return err
	}
	t.log.Error("taskgen: amqp: task dead-lettered", "id", m.id, "queue", m.queue, "task", dl.Task, "reason", dl.Reason, "err", dl.Error)
	if s := t.cfg.Store; s != nil && envErr == nil && m.id != "" {
		r := &runtime.Record{
			ID: m.id, Task: env.Task, Queue: m.queue, State: runtime.StateFailed, Attempt: env.Attempt,
			Error: fmt.Sprintf("%s: %s", dl.Reason, dl.Error), UpdatedAt: time.Now(),
		}
		if err := s.PutRecord(ctx, r, t.cfg.RecordTTL); err != nil {
			t.log.Warn("taskgen: amqp: storing the task's failure failed", "id", m.id, "queue", m.queue, "err", err)
		}
	}
	t.releaseID(m.id, m.guard)
	return nil
}
