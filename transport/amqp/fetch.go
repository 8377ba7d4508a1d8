package amqp

import (
	"container/heap"
	"context"
	"errors"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

// Fetch blocks until a message is deliverable in req.Queues, or ctx is
// done, and returns up to req.Max deliveries, each leased for req.Lease
// (Config.Lease when zero). It never polls: the first Fetch that names a
// queue starts a consumer on each of its work queues, whose prefetched
// messages Fetch hands out. Queues are served in the order given and
// priorities highest first: a later queue or lower band is served only
// when every earlier one has nothing ready, neither buffered here nor, as
// far as this transport can tell, at the broker. Once ctx is done Fetch
// leases nothing and returns ctx.Err().
func (t *Transport) Fetch(ctx context.Context, req runtime.FetchRequest) ([]*runtime.Delivery, error) {
	if len(req.Queues) == 0 {
		return nil, errors.New("taskgen: amqp: fetch: no queues given")
	}
	if t.closed.Load() {
		return nil, runtime.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit := max(req.Max, 1)
	ttl := req.Lease
	if ttl <= 0 {
		ttl = t.cfg.Lease
	}
	qs, err := t.consumers(ctx, req.Queues)
	if err != nil {
		return nil, err
	}
	var w *waiter    // made when Fetch first has to wait
	hurried := false // acks were flushed for a consumer out of credit
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		t.mu.Lock()
		if t.closed.Load() {
			t.mu.Unlock()
			return nil, runtime.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			t.mu.Unlock()
			return nil, err
		}
		now := time.Now()
		ds, probe, wakeAt := t.takeLocked(qs, limit, ttl, now)
		if len(ds) > 0 {
			t.mu.Unlock()
			return ds, nil
		}
		if probe != nil && !hurried {
			ack := probe.q.ack
			t.mu.Unlock()
			// The consumer has no credit. Acks waiting in their batch
			// give it back; only when there are none does Fetch take a
			// message with basic.get.
			if ack != nil && ack.hurry() {
				hurried = true
				continue
			}
			t.probe(probe)
			continue
		}
		if probe != nil {
			// Hurried: wait for the deliveries the credit brings, and
			// look again soon in case it brought none.
			wakeAt = now.Add(10 * time.Millisecond)
		}
		hurried = false
		if w == nil {
			w = &waiter{ch: make(chan struct{}, 1)}
		}
		for _, q := range qs {
			q.waiters[w] = struct{}{}
		}
		t.mu.Unlock()

		var wake <-chan time.Time
		if !wakeAt.IsZero() {
			if timer == nil {
				timer = time.NewTimer(wakeAt.Sub(now))
			} else {
				timer.Reset(wakeAt.Sub(now))
			}
			wake = timer.C
		}
		select {
		case <-w.ch:
		case <-wake:
		case <-ctx.Done():
		case <-t.done:
		}
		t.mu.Lock()
		for _, q := range qs {
			delete(q.waiters, w)
		}
		t.mu.Unlock()
	}
}

// TryFetch returns up to req.Max deliveries that its consumers have
// buffered here and that strict order lets it hand out now, leased as
// Fetch leases them. It never waits and never sends anything to the
// broker: a queue whose consumers Fetch has not started yet, a band whose
// backlog is still arriving, or one whose consumer is out of credit makes
// it return what it has. It implements runtime.BufferedFetcher.
func (t *Transport) TryFetch(req runtime.FetchRequest) []*runtime.Delivery {
	if len(req.Queues) == 0 || t.closed.Load() {
		return nil
	}
	ttl := req.Lease
	if ttl <= 0 {
		ttl = t.cfg.Lease
	}
	var buf [4]*queueState
	qs := buf[:0]
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() { // Close may have begun since
		return nil
	}
	for _, name := range req.Queues {
		q := t.queues[name]
		if q == nil {
			return nil
		}
		select {
		case <-q.started:
		default:
			return nil
		}
		if q.err != nil {
			return nil
		}
		qs = append(qs, q)
	}
	ds, _, _ := t.takeLocked(qs, max(req.Max, 1), ttl, time.Now())
	return ds
}

// takeLocked leases up to limit deliverable messages in strict order. When
// it stops at a band that may still receive messages it cannot see yet, it
// returns what it has, and either the time to look again (the band's
// consumer is still receiving its backlog) or the band to probe with
// basic.get (the consumer has no credit left, so the broker sends it
// nothing more).
func (t *Transport) takeLocked(qs []*queueState, limit int, ttl time.Duration, now time.Time) ([]*runtime.Delivery, *band, time.Time) {
	var out []*runtime.Delivery
	for i, q := range qs {
		for j, b := range q.bands {
			for len(out) < limit && b.ready.Len() > 0 {
				p := heap.Pop(&b.ready).(*pending)
				out = append(out, t.leaseLocked(p, now, ttl))
			}
			if len(out) == limit {
				return out, nil, time.Time{}
			}
			if b.expect > 0 && now.Before(b.coldUntil) {
				return out, nil, b.coldUntil
			}
			// Acks still in their batch hold credit at the broker; and
			// a consumer that ran out of credit may have left a backlog
			// there, which the credit it got back has not brought yet.
			//
			// A starved band is probed only when a later band has
			// messages ready, which strict order must not serve first;
			// otherwise its consumer's deliveries are awaited, as a
			// basic.get per message would slow down a backlog.
			noCredit := b.unacked+q.ack.waiting() >= t.cfg.Prefetch
			if (noCredit || b.starved && readyAfter(qs, i, j)) && !b.probed {
				if len(out) > 0 {
					return out, nil, time.Time{}
				}
				return nil, b, time.Time{}
			}
		}
	}
	return out, nil, time.Time{}
}

// readyAfter reports whether a band after band j of qs[i], in fetch
// order, has messages ready.
func readyAfter(qs []*queueState, i, j int) bool {
	for _, b := range qs[i].bands[j+1:] {
		if b.ready.Len() > 0 {
			return true
		}
	}
	for _, q := range qs[i+1:] {
		for _, b := range q.bands {
			if b.ready.Len() > 0 {
				return true
			}
		}
	}
	return false
}

// probe takes one message from b with basic.get, which prefetch does not
// limit, or records that b has none.
func (t *Transport) probe(b *band) {
	t.mu.Lock()
	ch, ack, gen := b.q.ch, b.q.ack, b.q.gen
	t.mu.Unlock()
	if ch == nil {
		return
	}
	d, ok, err := ch.Get(b.name, false /* autoAck */)
	if err != nil {
		t.mu.Lock()
		if b.q.gen == gen {
			b.probed = true // the channel is closing; its restart resets this
		}
		t.mu.Unlock()
		return
	}
	if !ok {
		t.mu.Lock()
		if b.q.gen == gen {
			if b.starved {
				// The broker may have sent the rest of the backlog to
				// the consumer just now, with the credit it got back:
				// wait a moment for what can be on its way.
				b.expect = max(t.cfg.Prefetch-b.unacked-b.q.ack.waiting(), 0)
				b.coldUntil = time.Now().Add(inFlightWait)
			}
			b.probed, b.starved = true, false
		}
		t.mu.Unlock()
		return
	}
	t.receive(b, gen, ack, &d, true)
}
