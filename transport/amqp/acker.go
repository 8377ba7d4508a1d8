package amqp

import (
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Settled states of a delivery tag in an acker.
const (
	tagOutstanding uint8 = iota // not settled yet
	tagAckPending               // acked by the transport, not yet sent
	tagSent                     // acked or rejected on the channel
)

// acker sends the acks of one consumer channel. Acks are marked and then
// sent by a flusher goroutine, which acks a run of consecutive tags with
// one basic.ack with multiple set: a quorum queue then commits one settle
// for the run instead of one per message, and the client makes one write.
// Acks that do not extend the run (an older delivery is still being
// handled) are sent one by one. Rejections are sent at once.
//
// Every frame that settles a tag is written under mu, so that a multiple
// ack never covers a tag rejected after it was computed.
type acker struct {
	ch   *amqp.Channel
	wake chan struct{}
	now  chan struct{}   // flush at once
	done <-chan struct{} // the transport's
	// hold is how many acks may wait behind an outstanding tag: the
	// prefetch. A consumer they starve has its Fetch hurry the flush
	// (flushHurried), which frees credit with the run, or else sends
	// them hurryWait later.
	hold int

	mu      sync.Mutex
	low     uint64  // every tag below low was sent
	states  []uint8 // states[i] is the state of tag low+i
	pending int     // tags in state tagAckPending
	fresh   int     // of them, those marked since the last flush
	// unsent mirrors pending for readers that must not take mu.
	unsent atomic.Int64
	// straggling is when acks began waiting behind the outstanding tag
	// that now heads the window; hurried, that a Fetch has been waiting
	// for credit since.
	straggling time.Time
	hurried    bool
	// straggled is when acks began waiting at all: none waits longer
	// than maxStraggle, however the head moves.
	straggled time.Time
	closed    bool
}

// Ack batching: the flusher waits up to ackDelay for ackBatch acks, and
// acks behind a delivery still being handled wait up to stragglerWait for
// it. The waits hold back prefetch credit, never a delivery; a process
// that dies meanwhile has those messages delivered again.
const (
	ackBatch      = 64
	ackDelay      = time.Millisecond
	stragglerWait = 20 * time.Millisecond
	hurryWait     = 2 * time.Millisecond
	maxStraggle   = 4 * stragglerWait
)

func newAcker(ch *amqp.Channel, prefetch int, done <-chan struct{}) *acker {
	return &acker{ch: ch, wake: make(chan struct{}, 1), now: make(chan struct{}, 1), done: done, low: 1, hold: max(prefetch, 1)}
}

// waiting returns how many acks are marked and not sent; a nil acker has
// none.
func (a *acker) waiting() int {
	if a == nil {
		return 0
	}
	return int(a.unsent.Load())
}

// hurry flushes the marked acks at once, with their prefetch credit: a
// Fetch is waiting for it. It reports whether there were any.
func (a *acker) hurry() bool {
	a.mu.Lock()
	any := a.pending > 0 && !a.closed
	a.mu.Unlock()
	if any {
		select {
		case a.now <- struct{}{}:
		default:
		}
	}
	return any
}

// markLocked sets tag's state, growing the window as needed.
func (a *acker) markLocked(tag uint64, s uint8) {
	if tag < a.low {
		return
	}
	i := int(tag - a.low)
	for len(a.states) <= i {
		a.states = append(a.states, tagOutstanding)
	}
	a.states[i] = s
}

// ack marks tag acked; the flusher sends it. It reports false once the
// channel has closed (the broker then requeues the message).
func (a *acker) ack(tag uint64) bool {
	a.mu.Lock()
	if a.closed || a.ch.IsClosed() {
		a.mu.Unlock()
		return false
	}
	a.markLocked(tag, tagAckPending)
	a.pending++
	a.fresh++
	a.unsent.Store(int64(a.pending))
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
	return true
}

// reject sends a requeueing basic.nack for tag at once.
func (a *acker) reject(tag uint64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	if err := a.ch.Nack(tag, false /* multiple */, true /* requeue */); err != nil {
		return false
	}
	a.markLocked(tag, tagSent)
	return true
}

// run sends marked acks until the channel closes or the transport does.
// closed is the channel's close notification.
func (a *acker) run(closed <-chan *amqp.Error) {
	batch := time.NewTimer(0)
	<-batch.C
	defer batch.Stop()
	late := time.NewTimer(0)
	<-late.C
	defer late.Stop()
	var lateC <-chan time.Time // armed while stragglers wait
	for {
		urgent := false
		select {
		case <-a.wake:
			// Let more acks join a small batch, so that they go out as
			// one; a lone ack waits ackDelay at most. Acks left waiting
			// behind an outstanding tag do not count: a flush cannot
			// send them, so flushing at each new ack while they wait
			// would send a run of one or two each time.
			a.mu.Lock()
			few := a.fresh < ackBatch
			a.mu.Unlock()
			if few {
				batch.Reset(ackDelay)
				select {
				case <-batch.C:
				case <-a.now:
					urgent = true
				case <-closed:
					a.stop()
					return
				case <-a.done:
				}
			}
		case <-a.now:
			urgent = true
		case <-lateC:
		case <-closed:
			a.stop()
			return
		case <-a.done:
			a.flush(flushAll)
			a.stop()
			return
		}
		how := flushBatched
		if urgent {
			how = flushHurried
		}
		if wait := a.flush(how); wait > 0 {
			late.Reset(wait)
			lateC = late.C
		} else {
			lateC = nil
		}
	}
}

func (a *acker) stop() {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
}

// flushMode says how much a flush must send.
type flushMode int

const (
	// flushBatched sends the run, and the stragglers once due.
	flushBatched flushMode = iota
	// flushHurried frees prefetch credit for a waiting Fetch: the run,
	// or, when there is none, the stragglers hurryWait later.
	flushHurried
	// flushAll sends every pending ack: the channel is closing.
	flushAll
)

// flush sends the leading run of settled tags as one multiple ack. Acks
// behind an outstanding tag (stragglers) wait for the run to reach them,
// unless hold are waiting, or the head has not moved for stragglerWait (or
// hurryWait, since a hurried flush found no run to send), or acks have
// been waiting for maxStraggle, or the channel is closing: then they go
// one by one. It returns how long until the
// stragglers left are due.
func (a *acker) flush(how flushMode) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	defer func() { a.unsent.Store(int64(a.pending)) }()
	if a.closed {
		return 0
	}
	a.fresh = 0
	// Multiple ack up to the run's last pending tag, which the broker
	// still holds; the run's other tags are pending or already sent.
	run, last := 0, -1
	for run < len(a.states) && a.states[run] != tagOutstanding {
		if a.states[run] == tagAckPending {
			last = run
			a.pending--
		}
		run++
	}
	if last >= 0 {
		if err := a.ch.Ack(a.low+uint64(last), true /* multiple */); err != nil {
			a.closed = true
			return 0
		}
	}
	n := copy(a.states, a.states[run:])
	a.states = a.states[:n]
	a.low += uint64(run)
	if a.pending == 0 {
		a.straggling, a.straggled, a.hurried = time.Time{}, time.Time{}, false
		return 0
	}
	// Stragglers wait for the head of the window: stragglerWait counts
	// from its last move, so that a steady flow, always with a few acks
	// behind a handler still running, keeps batching them.
	now := time.Now()
	if a.straggled.IsZero() {
		a.straggled = now
	}
	if a.straggling.IsZero() || run > 0 {
		a.straggling, a.hurried = now, false
	}
	// One by one, each straggler would cost the broker a settle of its
	// own, so they wait while they can. A hurried flush that freed credit
	// with the run leaves them waiting too; one that could not gives the
	// head hurryWait more to move, as it is most likely about to.
	if how == flushHurried && last < 0 {
		a.hurried = true
	}
	limit := stragglerWait
	if a.hurried {
		limit = hurryWait
	}
	wait := min(limit-now.Sub(a.straggling), maxStraggle-now.Sub(a.straggled))
	if how != flushAll && a.pending < a.hold && wait > 0 {
		return wait
	}
	for i, s := range a.states {
		if s != tagAckPending {
			continue
		}
		if err := a.ch.Ack(a.low+uint64(i), false /* multiple */); err != nil {
			a.closed = true
			return 0
		}
		a.states[i] = tagSent
		a.pending--
	}
	a.straggling, a.straggled, a.hurried = time.Time{}, time.Time{}, false
	return 0
}
