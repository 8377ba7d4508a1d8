package transporttest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

const (
	// eventually bounds what must happen: generous, because shared CI
	// machines stall and the race detector slows everything down.
	eventually = 10 * time.Second
	// quiet is how long a case watches for something that must not happen.
	quiet = 300 * time.Millisecond
	// longLease outlives any case, so deliveries under it never lapse.
	longLease = time.Minute
)

// bundle is what a transport case works with.
type bundle struct {
	tr    runtime.Transport
	queue string // unique to the case
}

// setup returns a fresh transport, closed when the case ends, and a queue
// name unique to the case.
func setup(t *testing.T, factory func(t *testing.T) runtime.Transport) *bundle {
	t.Helper()
	tr := factory(t)
	t.Cleanup(func() {
		if err := tr.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &bundle{tr: tr, queue: queueName(t)}
}

// setupStore returns a fresh store, closed when the case ends if it has a
// Close method.
func setupStore(t *testing.T, factory func(t *testing.T) runtime.Store) runtime.Store {
	t.Helper()
	s := factory(t)
	if c, ok := s.(io.Closer); ok {
		t.Cleanup(func() { _ = c.Close() })
	}
	return s
}

// queueName derives a queue name from the case's name, so that cases stay
// apart even on a broker shared with other tests.
func queueName(t *testing.T) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '.'
	}, t.Name())
	return "taskgen.test." + name
}

// msg returns a message on the case's queue with ID queue-i.
func (b *bundle) msg(i int) *runtime.Message {
	return &runtime.Message{
		ID:       fmt.Sprintf("%s-%d", b.queue, i),
		Queue:    b.queue,
		Priority: runtime.DefaultPriority,
		Body:     fmt.Appendf(nil, "body %d", i),
	}
}

// freshMsg is msg(i) with a fresh ID: drawn at random for it.
func (b *bundle) freshMsg(i int) *runtime.Message {
	m := b.msg(i)
	m.ID = fmt.Sprintf("%s-%d-%s", b.queue, i, rand.Text())
	m.FreshID = true
	return m
}

// publishBatch publishes msgs with the transport's PublishBatch, or one by
// one when it has none.
func (b *bundle) publishBatch(ctx context.Context, msgs []*runtime.Message) []error {
	if bp, ok := b.tr.(runtime.BatchPublisher); ok {
		return bp.PublishBatch(ctx, msgs)
	}
	errs := make([]error, len(msgs))
	for i, m := range msgs {
		errs[i] = b.tr.Publish(ctx, m)
	}
	return errs
}

// expectBatchStored fails the case unless PublishBatch stored every
// message of errs.
func expectBatchStored(t *testing.T, msgs []*runtime.Message, errs []error) {
	t.Helper()
	if len(errs) != len(msgs) {
		t.Fatalf("PublishBatch of %d messages returned %d outcomes", len(msgs), len(errs))
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("PublishBatch: message %d (%s): %v", i, msgs[i].ID, err)
		}
	}
}

func (b *bundle) publish(t *testing.T, msg *runtime.Message) {
	t.Helper()
	if err := b.tr.Publish(t.Context(), msg); err != nil {
		t.Fatalf("Publish %s to %s: %v", msg.ID, msg.Queue, err)
	}
}

// fetch fetches from queues, failing the case unless something arrives
// within eventually.
func (b *bundle) fetch(t *testing.T, max int, lease time.Duration, queues ...string) []*runtime.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), eventually)
	defer cancel()
	ds, err := b.tr.Fetch(ctx, runtime.FetchRequest{Queues: queues, Max: max, Lease: lease})
	if err != nil {
		t.Fatalf("Fetch(%v, max %d): %v", queues, max, err)
	}
	if len(ds) == 0 || len(ds) > max {
		t.Fatalf("Fetch(%v, max %d) returned %d deliveries", queues, max, len(ds))
	}
	return ds
}

// fetchOne fetches one delivery from the case's queue under a long lease.
func (b *bundle) fetchOne(t *testing.T) *runtime.Delivery {
	t.Helper()
	return b.fetch(t, 1, longLease, b.queue)[0]
}

// expectNone fails the case if queues deliver anything within quiet.
func (b *bundle) expectNone(t *testing.T, queues ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), quiet)
	defer cancel()
	ds, err := b.tr.Fetch(ctx, runtime.FetchRequest{Queues: queues, Max: 1, Lease: longLease})
	if len(ds) > 0 {
		t.Fatalf("Fetch(%v) delivered %s (delivery %d), want nothing", queues, ds[0].ID, ds[0].Deliveries)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Fetch(%v) with nothing to deliver: got error %v, want context.DeadlineExceeded", queues, err)
	}
}

func (b *bundle) ack(t *testing.T, d *runtime.Delivery) {
	t.Helper()
	if err := b.tr.Ack(t.Context(), d); err != nil {
		t.Fatalf("Ack %s: %v", d.ID, err)
	}
}

func (b *bundle) stats(t *testing.T, queue string) runtime.QueueStats {
	t.Helper()
	s, err := b.tr.Stats(t.Context(), queue)
	if err != nil {
		t.Fatalf("Stats(%s): %v", queue, err)
	}
	return s
}

// expectStats compares queue's counters with want; the Queue field of want
// is filled in.
func (b *bundle) expectStats(t *testing.T, queue string, want runtime.QueueStats) {
	t.Helper()
	want.Queue = queue
	if got := b.stats(t, queue); got != want {
		t.Fatalf("Stats(%s) = %+v, want %+v", queue, got, want)
	}
}

func expectLeaseLost(t *testing.T, op string, err error) {
	t.Helper()
	if !errors.Is(err, runtime.ErrLeaseLost) {
		t.Fatalf("%s with a stale lease: got %v, want runtime.ErrLeaseLost", op, err)
	}
}

// waitFor polls cond until it holds, failing the case after eventually.
// Only the store's expiry cases poll: nothing notifies them.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(eventually)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting after %v: %s", eventually, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
