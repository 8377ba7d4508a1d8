package memory

import (
	"container/heap"
	"slices"
	"time"
)

// waiter is a Fetch call blocked until one of its queues has a ready
// message. Each message that becomes ready signals at most one waiter, so a
// publish wakes one consumer, not all of them.
type waiter struct {
	queues []string
	ch     chan struct{} // capacity 1; receives the signal
	// signaled is set, under mu, when the waiter is taken off the list and
	// sent its signal.
	signaled bool
}

// readyLocked makes e deliverable at the tail of its priority's list and
// wakes a consumer of its queue.
func (t *Transport) readyLocked(e *entry) {
	e.state = stateReady
	e.at = time.Time{}
	q := e.q
	q.ready[e.msg.Priority].push(e)
	q.nready++
	t.wakeLocked(q.name)
}

// wakeLocked signals the oldest waiter that serves queue.
func (t *Transport) wakeLocked(queue string) {
	for i, w := range t.waiters {
		if slices.Contains(w.queues, queue) {
			t.waiters = slices.Delete(t.waiters, i, i+1)
			t.signalLocked(w)
			return
		}
	}
}

func (t *Transport) signalLocked(w *waiter) {
	w.signaled = true
	w.ch <- struct{}{} // never blocks: one signal per time on the list
}

// abandonLocked takes w off the list when its Fetch gives up. A signal w
// received but will not act on is passed on.
func (t *Transport) abandonLocked(w *waiter) {
	if !w.signaled {
		if i := slices.Index(t.waiters, w); i >= 0 {
			t.waiters = slices.Delete(t.waiters, i, i+1)
		}
		return
	}
	select {
	case <-w.ch:
	default:
	}
	t.passOnLocked()
}

// passOnLocked signals every waiter with a ready message in one of its
// queues. A signal is spent without taking the message that caused it when
// its Fetch gives up, or takes from an earlier queue instead; the message
// must not be left ready while its consumers sleep.
func (t *Transport) passOnLocked() {
	for i := 0; i < len(t.waiters); {
		w := t.waiters[i]
		if t.anyReadyLocked(w.queues) {
			t.waiters = slices.Delete(t.waiters, i, i+1)
			t.signalLocked(w)
			continue
		}
		i++
	}
}

func (t *Transport) anyReadyLocked(queues []string) bool {
	for _, name := range queues {
		if q := t.queues[name]; q != nil && q.nready > 0 {
			return true
		}
	}
	return false
}

// advanceLocked promotes the delayed messages that are due and requeues
// the deliveries whose lease lapsed. Both heaps keep their earliest entry
// on top, so when nothing is due this costs two comparisons.
func (t *Transport) advanceLocked(now time.Time) {
	for len(t.delayed) > 0 && !t.delayed[0].at.After(now) {
		e := heap.Pop(&t.delayed).(*entry)
		e.q.delayed--
		t.readyLocked(e)
	}
	for len(t.leased) > 0 && !t.leased[0].at.After(now) {
		e := heap.Pop(&t.leased).(*entry)
		e.q.active--
		e.lease = nil // fences the lapsed delivery
		t.readyLocked(e)
	}
}

// armLocked makes sure the timer fires by the next ETA or lease deadline,
// so blocked consumers wake for it. Without waiters nothing needs waking:
// every call advances the clock itself.
func (t *Transport) armLocked(now time.Time) {
	if len(t.waiters) == 0 {
		return
	}
	next := t.delayed.next()
	if l := t.leased.next(); !l.IsZero() && (next.IsZero() || l.Before(next)) {
		next = l
	}
	if next.IsZero() || (!t.timerAt.IsZero() && !t.timerAt.After(next)) {
		return
	}
	t.timerAt = next
	if t.timer == nil {
		t.timer = time.AfterFunc(next.Sub(now), t.onTimer)
		return
	}
	t.timer.Reset(next.Sub(now))
}

// onTimer runs when the next ETA or lease deadline is reached.
func (t *Transport) onTimer() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() {
		return
	}
	t.timerAt = time.Time{}
	now := time.Now()
	t.advanceLocked(now)
	t.armLocked(now)
}
