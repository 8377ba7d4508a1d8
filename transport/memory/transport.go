package memory

import (
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

// Publish holds a copy of msg, so the caller may reuse its buffers. A
// message whose ETA is in the future waits for it. Publishing an ID the
// transport still holds (pending, delayed or active) returns
// runtime.ErrDuplicateTask.
func (t *Transport) Publish(_ context.Context, msg *runtime.Message) error {
	if err := msg.Check(); err != nil {
		return fmt.Errorf("taskgen: memory: publish %w", err)
	}
	e := &entry{msg: *msg, idx: -1}
	e.msg.Body = bytes.Clone(msg.Body)

	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() {
		return runtime.ErrClosed
	}
	return t.publishLocked(e, time.Now())
}

// publishLocked adds e, a new entry holding its own copy of the message.
func (t *Transport) publishLocked(e *entry, now time.Time) error {
	if _, ok := t.held[e.msg.ID]; ok {
		return fmt.Errorf("%w: %q (publishing to queue %q)", runtime.ErrDuplicateTask, e.msg.ID, e.msg.Queue)
	}
	t.seq++
	e.seq, e.q = t.seq, t.queueLocked(e.msg.Queue)
	t.held[e.msg.ID] = e
	// Promote what fell due before this message, so that it lines up
	// behind them.
	t.advanceLocked(now)
	if e.msg.ETA.After(now) {
		t.delayLocked(e, e.msg.ETA, now)
		return nil
	}
	t.readyLocked(e)
	return nil
}

// delayLocked parks e until at.
func (t *Transport) delayLocked(e *entry, at, now time.Time) {
	e.state, e.at = stateDelayed, at
	heap.Push(&t.delayed, e)
	e.q.delayed++
	t.armLocked(now)
}

// Fetch blocks until a message is ready in req.Queues, or ctx is done, and
// returns up to req.Max (at least 1) deliveries, each leased for req.Lease
// (Config.Lease when zero). Queues are served in the order given, and
// messages by priority, then publish order, within a queue. Once ctx is done
// Fetch leases nothing and returns ctx.Err().
func (t *Transport) Fetch(ctx context.Context, req runtime.FetchRequest) ([]*runtime.Delivery, error) {
	if len(req.Queues) == 0 {
		return nil, errors.New("taskgen: memory: fetch: no queues given")
	}
	limit := max(req.Max, 1)
	ttl := req.Lease
	if ttl <= 0 {
		ttl = t.cfg.Lease
	}
	var w *waiter
	woken := false // by a signal, which may have been meant for another queue
	for {
		t.mu.Lock()
		if t.closed.Load() {
			t.mu.Unlock()
			return nil, runtime.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			if woken {
				t.passOnLocked()
			}
			t.mu.Unlock()
			return nil, err
		}
		now := time.Now()
		t.advanceLocked(now)
		if ds := t.takeLocked(req.Queues, limit, now, ttl); ds != nil {
			if len(t.waiters) > 0 {
				if woken {
					t.passOnLocked()
				}
				// Consumers still waiting must wake if these leases lapse.
				t.armLocked(now)
			}
			t.mu.Unlock()
			return ds, nil
		}
		if w == nil {
			w = &waiter{queues: req.Queues, ch: make(chan struct{}, 1)}
		}
		w.signaled = false
		t.waiters = append(t.waiters, w)
		t.armLocked(now)
		t.mu.Unlock()

		select {
		case <-w.ch:
			woken = true
		case <-ctx.Done():
			t.mu.Lock()
			t.abandonLocked(w)
			t.mu.Unlock()
			return nil, ctx.Err()
		case <-t.done:
			return nil, runtime.ErrClosed
		}
	}
}

// TryFetch returns up to req.Max deliveries that are ready now, leased
// and in the order Fetch gives them; it never waits. It implements
// runtime.BufferedFetcher.
func (t *Transport) TryFetch(req runtime.FetchRequest) []*runtime.Delivery {
	if len(req.Queues) == 0 {
		return nil
	}
	ttl := req.Lease
	if ttl <= 0 {
		ttl = t.cfg.Lease
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() {
		return nil
	}
	now := time.Now()
	t.advanceLocked(now)
	ds := t.takeLocked(req.Queues, max(req.Max, 1), now, ttl)
	if ds != nil && len(t.waiters) > 0 {
		// Consumers still waiting must wake if these leases lapse.
		t.armLocked(now)
	}
	return ds
}

// takeLocked leases up to limit ready messages of queues, in strict queue
// order; nil when there are none.
func (t *Transport) takeLocked(queues []string, limit int, now time.Time, ttl time.Duration) []*runtime.Delivery {
	var out []*runtime.Delivery
	for _, name := range queues {
		q := t.queues[name]
		if q == nil || q.nready == 0 {
			continue
		}
		if out == nil {
			out = make([]*runtime.Delivery, 0, min(limit, q.nready))
		}
		for p := runtime.MaxPriority; p >= 0 && len(out) < limit; p-- {
			for len(out) < limit {
				e := q.ready[p].pop()
				if e == nil {
					break
				}
				out = append(out, t.leaseLocked(e, now, ttl))
			}
		}
		if len(out) == limit {
			break
		}
	}
	return out
}

// leaseLocked hands out ready entry e under a new lease.
func (t *Transport) leaseLocked(e *entry, now time.Time, ttl time.Duration) *runtime.Delivery {
	e.q.nready--
	e.q.active++
	e.state = stateActive
	e.deliveries++
	e.at = now.Add(ttl)
	heap.Push(&t.leased, e)

	dl := &delivery{l: lease{t: t, e: e}}
	e.lease = &dl.l
	dl.d.Message = e.msg
	// Consumers share the stored body; capping its capacity keeps an append
	// by one of them from writing into it.
	dl.d.Body = e.msg.Body[:len(e.msg.Body):len(e.msg.Body)]
	dl.d.Deliveries = e.deliveries
	dl.d.Lease = &dl.l
	return &dl.d
}

// activeLocked returns the entry d was delivered from, if d's lease is
// still current. It advances the clock first, so a lease that has lapsed
// is lost even when no one has fetched the message since.
func (t *Transport) activeLocked(d *runtime.Delivery, op string) (*entry, time.Time, error) {
	if t.closed.Load() {
		return nil, time.Time{}, runtime.ErrClosed
	}
	if d == nil {
		return nil, time.Time{}, fmt.Errorf("taskgen: memory: %s: nil delivery", op)
	}
	l, ok := d.Lease.(*lease)
	if !ok || l.t != t {
		return nil, time.Time{}, fmt.Errorf("%w: %s task %q on queue %q: the delivery was not made by this transport", runtime.ErrLeaseLost, op, d.ID, d.Queue)
	}
	now := time.Now()
	t.advanceLocked(now)
	if l.e.lease != l {
		return nil, now, fmt.Errorf("%w: %s task %q on queue %q: the lease lapsed or the delivery was already settled", runtime.ErrLeaseLost, op, d.ID, d.Queue)
	}
	return l.e, now, nil
}

// releaseLocked takes an active entry out of the lease heap.
func (t *Transport) releaseLocked(e *entry) {
	heap.Remove(&t.leased, e.idx)
	e.q.active--
	e.lease = nil
}

// Ack removes a delivered message for good. A second Ack of the same
// delivery, or an Ack after its lease lapsed, returns runtime.ErrLeaseLost.
func (t *Transport) Ack(_ context.Context, d *runtime.Delivery) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, _, err := t.activeLocked(d, "ack")
	if err != nil {
		return err
	}
	t.releaseLocked(e)
	delete(t.held, e.msg.ID)
	return nil
}

// Nack puts a delivered message back in its queue, after opts.Delay, with
// opts.Body in place of its body when that is non-nil.
func (t *Transport) Nack(_ context.Context, d *runtime.Delivery, opts runtime.NackOptions) error {
	var body []byte
	if opts.Body != nil {
		body = bytes.Clone(opts.Body)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e, now, err := t.activeLocked(d, "nack")
	if err != nil {
		return err
	}
	t.releaseLocked(e)
	if body != nil {
		// Replace, never modify: stale deliveries may still read the old body.
		e.msg.Body = body
	}
	if opts.Delay > 0 {
		e.msg.ETA = now.Add(opts.Delay)
		t.delayLocked(e, e.msg.ETA, now)
		return nil
	}
	t.readyLocked(e)
	return nil
}

// Extend renews d's lease for ttl from now (Config.Lease when ttl is zero).
func (t *Transport) Extend(_ context.Context, d *runtime.Delivery, ttl time.Duration) error {
	if ttl <= 0 {
		ttl = t.cfg.Lease
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e, now, err := t.activeLocked(d, "extend")
	if err != nil {
		return err
	}
	e.at = now.Add(ttl)
	heap.Fix(&t.leased, e.idx)
	return nil
}

// DeadLetter removes a delivered message and records dl for its queue.
// Empty ID and Queue are taken from d, a zero At is now, and a nil Body is
// the message's body.
func (t *Transport) DeadLetter(_ context.Context, d *runtime.Delivery, dl runtime.DeadLetter) error {
	dl.Body = bytes.Clone(dl.Body)
	t.mu.Lock()
	defer t.mu.Unlock()
	e, now, err := t.activeLocked(d, "dead-letter")
	if err != nil {
		return err
	}
	t.releaseLocked(e)
	delete(t.held, e.msg.ID)
	if dl.ID == "" {
		dl.ID = e.msg.ID
	}
	if dl.Queue == "" {
		dl.Queue = e.q.name
	}
	if dl.At.IsZero() {
		dl.At = now
	}
	if dl.Body == nil {
		dl.Body = e.msg.Body
	}
	q := e.q
	if dl.Queue != q.name {
		q = t.queueLocked(dl.Queue)
	}
	q.dead = append(q.dead, deadLetter{DeadLetter: dl, priority: e.msg.Priority})
	// Trim in batches, so that a full list costs amortized O(1) per letter;
	// readers see only the newest MaxDeadLetters.
	if m := t.cfg.MaxDeadLetters; m > 0 && len(q.dead) >= 2*m {
		n := copy(q.dead, q.dead[len(q.dead)-m:])
		clear(q.dead[n:])
		q.dead = q.dead[:n]
	}
	return nil
}

// queueLocked returns the queue named name, creating it.
func (t *Transport) queueLocked(name string) *queue {
	q := t.queues[name]
	if q == nil {
		q = &queue{name: name}
		t.queues[name] = q
	}
	return q
}

// deadLocked returns the dead letters of q that are kept, oldest first.
func (t *Transport) deadLocked(q *queue) []deadLetter {
	if m := t.cfg.MaxDeadLetters; m > 0 && len(q.dead) > m {
		return q.dead[len(q.dead)-m:]
	}
	return q.dead
}

// DeadLetters returns up to limit dead letters of queue, oldest first; a
// limit of zero or less returns them all.
func (t *Transport) DeadLetters(_ context.Context, queue string, limit int) ([]runtime.DeadLetter, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() {
		return nil, runtime.ErrClosed
	}
	q := t.queues[queue]
	if q == nil {
		return nil, nil
	}
	dead := t.deadLocked(q)
	if limit > 0 && limit < len(dead) {
		dead = dead[:limit]
	}
	out := make([]runtime.DeadLetter, len(dead))
	for i, dl := range dead {
		out[i] = dl.DeadLetter
		out[i].Body = bytes.Clone(dl.Body)
	}
	return out, nil
}

// Stats counts the messages of queue. An unknown queue has none.
func (t *Transport) Stats(_ context.Context, queue string) (runtime.QueueStats, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() {
		return runtime.QueueStats{}, runtime.ErrClosed
	}
	t.advanceLocked(time.Now())
	s := runtime.QueueStats{Queue: queue}
	if q := t.queues[queue]; q != nil {
		s.Pending, s.Delayed, s.Active, s.Dead = q.nready, q.delayed, q.active, len(t.deadLocked(q))
	}
	return s, nil
}
