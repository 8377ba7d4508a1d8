package runtime

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// activeSet is the deliveries a worker holds, whose leases it renews.
type activeSet struct {
	mu sync.Mutex
	m  map[*Delivery]struct{}
}

func newActiveSet() *activeSet { return &activeSet{m: make(map[*Delivery]struct{})} }

func (a *activeSet) add(d *Delivery) {
	a.mu.Lock()
	a.m[d] = struct{}{}
	a.mu.Unlock()
}

func (a *activeSet) remove(d *Delivery) {
	a.mu.Lock()
	delete(a.m, d)
	a.mu.Unlock()
}

func (a *activeSet) snapshot() []*Delivery {
	a.mu.Lock()
	defer a.mu.Unlock()
	ds := make([]*Delivery, 0, len(a.m))
	for d := range a.m {
		ds = append(ds, d)
	}
	return ds
}

// heartbeat renews the leases of a worker's active deliveries at a third
// of the lease, so a live worker never loses a task to lease expiry.
type heartbeat struct {
	tr     Transport
	active *activeSet
	lease  time.Duration
	log    *slog.Logger
}

// start renews leases until ctx is done; the returned channel closes when
// it has stopped.
func (h *heartbeat) start(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(h.lease / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				h.beat(ctx)
			}
		}
	}()
	return done
}

func (h *heartbeat) beat(ctx context.Context) {
	for _, d := range h.active.snapshot() {
		err := h.tr.Extend(ctx, d, h.lease)
		switch {
		case err == nil, ctx.Err() != nil:
		case errors.Is(err, ErrLeaseLost):
			// Another worker may run it too; the stale ack will be refused.
			h.log.Warn("taskgen: lease lost while running", "id", d.ID, "queue", d.Queue)
			h.active.remove(d)
		default:
			h.log.Warn("taskgen: lease renewal failed", "id", d.ID, "queue", d.Queue, "err", err)
		}
	}
}
