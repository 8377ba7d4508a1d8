package memory

import (
	"time"

	"github.com/taskgen/taskgen/runtime"
)

// entryState is where a held message is.
type entryState uint8

const (
	stateReady   entryState = iota // in its queue's ready list
	stateDelayed                   // in the delayed heap, waiting for its ETA
	stateActive                    // leased to a consumer, in the lease heap
)

// entry is one message the transport holds, from Publish until Ack or
// DeadLetter.
type entry struct {
	msg runtime.Message // Body is the transport's own copy
	q   *queue
	// seq is the publish order; it breaks ETA and deadline ties so that
	// equal times keep FIFO order.
	seq   uint64
	state entryState
	// at is the ETA while delayed and the lease deadline while active.
	at time.Time
	// idx is the entry's index in whichever heap holds it.
	idx        int
	deliveries int
	// lease is the current delivery's token while active; nil otherwise.
	// A delivery whose token is not this one is stale.
	lease *lease
}

// lease is a delivery's token. Its identity is what fences stale acks: a
// new delivery of the same message gets a new lease.
type lease struct {
	t *Transport
	e *entry
}

// delivery allocates a delivery and its lease together.
type delivery struct {
	d runtime.Delivery
	l lease
}

// queue is one named queue: a FIFO list per priority, and counters.
type queue struct {
	name    string
	ready   [runtime.MaxPriority + 1]fifo
	nready  int
	delayed int
	active  int
	dead    []deadLetter // oldest first
}

// deadLetter is a dead letter and the priority its message had, which a
// requeue restores.
type deadLetter struct {
	runtime.DeadLetter
	priority int
}

// fifo is a first-in first-out list of entries.
type fifo struct {
	items []*entry
	head  int
}

func (f *fifo) push(e *entry) { f.items = append(f.items, e) }

func (f *fifo) pop() *entry {
	if f.head == len(f.items) {
		return nil
	}
	e := f.items[f.head]
	f.items[f.head] = nil // let the entry be collected once acked
	f.head++
	switch {
	case f.head == len(f.items):
		f.items, f.head = f.items[:0], 0
	case f.head >= 64 && f.head*2 >= len(f.items):
		// Compact so a list that never empties does not grow without bound.
		n := copy(f.items, f.items[f.head:])
		clear(f.items[n:])
		f.items, f.head = f.items[:n], 0
	}
	return e
}

// timeHeap orders entries by at, then by seq. It implements heap.Interface;
// the delayed messages and the leased ones each have one.
type timeHeap []*entry

func (h timeHeap) Len() int { return len(h) }

func (h timeHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}

func (h timeHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx = i
	h[j].idx = j
}

func (h *timeHeap) Push(x any) {
	e := x.(*entry)
	e.idx = len(*h)
	*h = append(*h, e)
}

func (h *timeHeap) Pop() any {
	old := *h
	n := len(old) - 1
	e := old[n]
	old[n] = nil
	*h = old[:n]
	e.idx = -1
	return e
}

// next returns the earliest time in h, or the zero time when h is empty.
func (h timeHeap) next() time.Time {
	if len(h) == 0 {
		return time.Time{}
	}
	return h[0].at
}
