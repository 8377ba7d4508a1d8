package runtime

import (
	"context"
	"sync"
	"sync/atomic"
)

// runners runs a worker's fetched deliveries in goroutines that stay for
// the next one once done, so that a busy worker does not start a
// goroutine (and grow its stack) per task. At most a slot's worth wait
// idle; the rest end, and all end once ctx is done.
//
// Fetched deliveries wait in ready for a runner. A runner whose task is
// done takes the next one from ready itself, and an idle runner is woken
// only for what the running ones leave: one at a time, each woken runner
// waking the next while deliveries still wait. Short tasks then run one
// after another in the runners already running, rather than costing a
// goroutine wake-up each, while a batch of long ones still starts at once,
// one wake-up after another.
type runners struct {
	w         *Worker
	ctx, hctx context.Context
	queues    []string
	slots     chan struct{} // a value per handler slot taken
	act       *activeSet
	wg        *sync.WaitGroup // a count per delivery not yet done
	buffered  bool            // the transport is a BufferedFetcher

	mu    sync.Mutex
	ready []*Delivery // leased, each holding a slot, not started

	work   chan struct{} // wakes an idle runner
	idle   atomic.Int64
	waking atomic.Bool // a wake-up is on its way to a runner
}

// push queues ds, whose slots are taken, and has a runner take them.
func (r *runners) push(ds ...*Delivery) {
	r.mu.Lock()
	r.ready = append(r.ready, ds...)
	r.mu.Unlock()
	r.wake()
}

// pop takes the oldest delivery waiting, if any, and reports whether
// more wait.
func (r *runners) pop() (d *Delivery, more bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ready) == 0 {
		return nil, false
	}
	d = r.ready[0]
	r.ready[0] = nil
	r.ready = r.ready[1:]
	if len(r.ready) == 0 {
		r.ready = nil // let the array go
	}
	return d, len(r.ready) > 0
}

// wake has a runner take what waits in ready, unless a wake-up is on its
// way already: an idle runner, or a new one.
func (r *runners) wake() {
	if !r.waking.CompareAndSwap(false, true) {
		return
	}
	select {
	case r.work <- struct{}{}:
	default:
		go r.run()
	}
}

// run is a runner: woken, it runs what waits in ready, then idles.
func (r *runners) run() {
	for {
		// Cleared before looking at ready: a delivery pushed from here on
		// wakes a runner again, and one pushed before is taken below.
		r.waking.Store(false)
		for d, more := r.pop(); d != nil; d, more = r.pop() {
			if more {
				r.wake()
			}
			r.runDelivery(d)
		}
		if r.idle.Add(1) > int64(cap(r.slots)) {
			r.idle.Add(-1)
			return
		}
		select {
		case <-r.work:
			r.idle.Add(-1)
		case <-r.ctx.Done():
			r.idle.Add(-1)
			return
		}
	}
}

// runDelivery processes d, and then each task that takes its slot over
// in this goroutine.
func (r *runners) runDelivery(d *Delivery) {
	for d != nil {
		d = r.runOne(d)
		r.wg.Done()
	}
}

// runOne processes d and returns the task to run next in this goroutine,
// if any.
//
// The slot is free once the handler has returned. A task the transport
// has at hand (a BufferedFetcher) then takes it over without waking the
// fetch loop: in this goroutine, once d is settled, when the settle is a
// transport ack alone; otherwise in another runner at once, so that
// settling d (a round trip to the store) does not hold it back. A task
// waiting in ready goes before the buffered ones, the same way, on a
// BufferedFetcher; on another transport, whose ack may be a round trip,
// it is taken once d is settled (see run), or by the runner woken for it.
func (r *runners) runOne(d *Delivery) (next *Delivery) {
	released := false
	release := func(inline bool) {
		if released {
			return
		}
		released = true
		if inline && r.buffered {
			// A task leased already goes first. It waits for d's ack,
			// which a BufferedFetcher does without a round trip, rather
			// than for the runner woken for it to be scheduled.
			if n, more := r.pop(); n != nil {
				if more {
					r.wake()
				}
				next = n
				<-r.slots // n holds a slot of its own
				return
			}
		}
		switch n := r.w.takeBuffered(r.ctx, r.queues, r.act, r.wg); {
		case n == nil:
			<-r.slots
		case inline:
			next = n
		default:
			r.push(n)
		}
	}
	// A task settled without calling release (dead-lettered, say) has
	// nothing left to hold the next one back: it runs here, as next.
	defer release(true)
	defer r.act.remove(d)
	if r.ctx.Err() != nil {
		// Fetched as shutdown began: hand it back unstarted.
		r.w.handBack(d, nil)
		return nil
	}
	r.w.process(r.hctx, d, release)
	return next
}
