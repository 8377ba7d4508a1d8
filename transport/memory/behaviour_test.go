package memory_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/memory"
)

// These cases cover what the conformance suite leaves to each transport.

func newTransport(t *testing.T, cfg memory.Config) *memory.Transport {
	t.Helper()
	tr := memory.NewWithConfig(cfg)
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

func publish(t *testing.T, tr *memory.Transport, msg *runtime.Message) {
	t.Helper()
	if err := tr.Publish(t.Context(), msg); err != nil {
		t.Fatalf("Publish %s: %v", msg.ID, err)
	}
}

func fetch(t *testing.T, tr *memory.Transport, req runtime.FetchRequest) []*runtime.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ds, err := tr.Fetch(ctx, req)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	return ds
}

func ids(ds []*runtime.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

// Unlike a network broker, the memory transport fills a fetch to Max when
// it can, across queues in order.
func TestFetchFillsToMax(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, memory.Config{})
	for i := range 3 {
		publish(t, tr, &runtime.Message{ID: fmt.Sprint("a", i), Queue: "a"})
		publish(t, tr, &runtime.Message{ID: fmt.Sprint("b", i), Queue: "b"})
	}
	got := ids(fetch(t, tr, runtime.FetchRequest{Queues: []string{"b", "a"}, Max: 4}))
	if want := []string{"b0", "b1", "b2", "a0"}; !slices.Equal(got, want) {
		t.Fatalf("Fetch(max 4) = %v, want %v", got, want)
	}
	got = ids(fetch(t, tr, runtime.FetchRequest{Queues: []string{"a"}, Max: 0}))
	if want := []string{"a1"}; !slices.Equal(got, want) {
		t.Fatalf("Fetch(max 0) = %v, want %v: a Max below 1 means 1", got, want)
	}
}

// Messages that fall due together are delivered in ETA order, whatever
// order they were published in.
func TestDelayedInETAOrder(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, memory.Config{})
	const n = 200
	base := time.Now().Add(time.Second)
	for _, off := range rand.Perm(n) {
		publish(t, tr, &runtime.Message{ID: fmt.Sprint(off), Queue: "q", ETA: base.Add(time.Duration(off) * time.Millisecond)})
	}
	s, _ := tr.Stats(t.Context(), "q")
	if time.Now().After(base) {
		// A message published after its ETA is ready at once, in publish
		// order; the case is about messages that wait.
		t.Skipf("publishing %d messages took over a second; the ETAs passed before the case could start", n)
	}
	if s.Delayed != n {
		t.Fatalf("Stats before any ETA = %+v, want %d delayed", s, n)
	}
	time.Sleep(time.Until(base.Add(n * time.Millisecond)))

	got := ids(fetch(t, tr, runtime.FetchRequest{Queues: []string{"q"}, Max: n}))
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprint(i)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want ETA order %v", got, want)
	}
}

// Blocked consumers wake for each ETA as it comes, and never early.
func TestDelayedWakesConsumers(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, memory.Config{})
	const n, consumers = 60, 4
	base := time.Now()
	for i := range n {
		eta := base.Add(time.Duration(rand.IntN(600)) * time.Millisecond)
		publish(t, tr, &runtime.Message{ID: fmt.Sprint(i), Queue: "q", ETA: eta})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var (
		mu   sync.Mutex
		seen = make(map[string]bool)
		wg   sync.WaitGroup
	)
	for range consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ds, err := tr.Fetch(ctx, runtime.FetchRequest{Queues: []string{"q"}, Max: 1, Lease: time.Minute})
				if err != nil {
					return
				}
				at := time.Now()
				d := ds[0]
				if at.Before(d.ETA) {
					t.Errorf("%s delivered %v before its ETA", d.ID, d.ETA.Sub(at))
				}
				if err := tr.Ack(ctx, d); err != nil {
					t.Errorf("Ack %s: %v", d.ID, err)
				}
				mu.Lock()
				seen[d.ID] = true
				if len(seen) == n {
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("%d of %d delayed messages delivered", len(seen), n)
	}
}

// A lease is lost once its deadline passes, even when nobody has fetched
// the message since: the check does not wait for a redelivery.
func TestLapsedLeaseWithoutRedelivery(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, memory.Config{})
	publish(t, tr, &runtime.Message{ID: "x", Queue: "q"})
	d := fetch(t, tr, runtime.FetchRequest{Queues: []string{"q"}, Max: 1, Lease: 20 * time.Millisecond})[0]
	time.Sleep(50 * time.Millisecond)
	if err := tr.Ack(t.Context(), d); !errors.Is(err, runtime.ErrLeaseLost) {
		t.Fatalf("Ack after the lease lapsed: got %v, want runtime.ErrLeaseLost", err)
	}
	if s, _ := tr.Stats(t.Context(), "q"); s.Pending != 1 || s.Active != 0 {
		t.Fatalf("Stats after a lapsed lease = %+v, want 1 pending", s)
	}
}

func TestDefaultLease(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, memory.Config{Lease: 30 * time.Millisecond})
	publish(t, tr, &runtime.Message{ID: "x", Queue: "q"})
	fetch(t, tr, runtime.FetchRequest{Queues: []string{"q"}})
	d := fetch(t, tr, runtime.FetchRequest{Queues: []string{"q"}, Lease: time.Minute})[0]
	if d.Deliveries != 2 {
		t.Fatalf("Deliveries = %d, want 2 after the configured lease lapsed", d.Deliveries)
	}
}

func TestForeignDelivery(t *testing.T) {
	t.Parallel()
	a, b := newTransport(t, memory.Config{}), newTransport(t, memory.Config{})
	publish(t, a, &runtime.Message{ID: "x", Queue: "q"})
	publish(t, b, &runtime.Message{ID: "x", Queue: "q"})
	da := fetch(t, a, runtime.FetchRequest{Queues: []string{"q"}})[0]
	if err := b.Ack(t.Context(), da); !errors.Is(err, runtime.ErrLeaseLost) {
		t.Fatalf("Ack of another transport's delivery: got %v, want runtime.ErrLeaseLost", err)
	}
	forged := *da
	forged.Lease = "forged"
	if err := a.Ack(t.Context(), &forged); !errors.Is(err, runtime.ErrLeaseLost) {
		t.Fatalf("Ack with a forged lease: got %v, want runtime.ErrLeaseLost", err)
	}
	// A copy of a delivery carries the same lease and may settle it.
	copied := *da
	if err := a.Ack(t.Context(), &copied); err != nil {
		t.Fatalf("Ack of a copied delivery: %v", err)
	}
	if err := a.Ack(t.Context(), nil); err == nil {
		t.Fatalf("Ack(nil) succeeded, want an error")
	}
}

func TestRejectsBadInput(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, memory.Config{})
	for _, msg := range []*runtime.Message{
		nil,
		{ID: "x", Queue: "q", Priority: -1},
		{ID: "x", Queue: "q", Priority: runtime.MaxPriority + 1},
	} {
		if err := tr.Publish(t.Context(), msg); err == nil {
			t.Errorf("Publish(%+v) succeeded, want an error", msg)
		}
	}
	if _, err := tr.Fetch(t.Context(), runtime.FetchRequest{Max: 1}); err == nil {
		t.Errorf("Fetch with no queues succeeded, want an error")
	}
	if err := tr.PutRecord(t.Context(), &runtime.Record{State: runtime.StateActive}, 0); err == nil {
		t.Errorf("PutRecord with no ID succeeded, want an error")
	}
}

// A delivery's body is shared but capped, so a consumer appending to it
// cannot change what the next delivery reads.
func TestDeliveryBodyAppendIsSafe(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, memory.Config{})
	publish(t, tr, &runtime.Message{ID: "x", Queue: "q", Body: make([]byte, 3, 64)})
	d := fetch(t, tr, runtime.FetchRequest{Queues: []string{"q"}})[0]
	_ = append(d.Body, "tail"...)
	if err := tr.Nack(t.Context(), d, runtime.NackOptions{}); err != nil {
		t.Fatalf("Nack: %v", err)
	}
	again := fetch(t, tr, runtime.FetchRequest{Queues: []string{"q"}})[0]
	if len(again.Body) != 3 || cap(again.Body) != 3 {
		t.Fatalf("redelivered body has len %d cap %d, want 3 and 3", len(again.Body), cap(again.Body))
	}
}

func TestMaxDeadLetters(t *testing.T) {
	t.Parallel()
	const keep = 3
	tr := newTransport(t, memory.Config{MaxDeadLetters: keep})
	for i := range 10 {
		publish(t, tr, &runtime.Message{ID: fmt.Sprint(i), Queue: "q"})
		d := fetch(t, tr, runtime.FetchRequest{Queues: []string{"q"}})[0]
		if err := tr.DeadLetter(t.Context(), d, runtime.DeadLetter{Reason: runtime.ReasonFailed}); err != nil {
			t.Fatalf("DeadLetter: %v", err)
		}
	}
	dead, err := tr.DeadLetters(t.Context(), "q", 0)
	if err != nil {
		t.Fatalf("DeadLetters: %v", err)
	}
	var got []string
	for _, dl := range dead {
		got = append(got, dl.ID)
	}
	if want := []string{"7", "8", "9"}; !slices.Equal(got, want) {
		t.Fatalf("DeadLetters = %v, want the newest %d oldest first: %v", got, keep, want)
	}
	if s, _ := tr.Stats(t.Context(), "q"); s.Dead != keep {
		t.Fatalf("Stats.Dead = %d, want %d", s.Dead, keep)
	}
}

// A dead letter naming another queue is listed under that queue.
func TestDeadLetterToNamedQueue(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, memory.Config{})
	publish(t, tr, &runtime.Message{ID: "x", Queue: "q"})
	d := fetch(t, tr, runtime.FetchRequest{Queues: []string{"q"}})[0]
	if err := tr.DeadLetter(t.Context(), d, runtime.DeadLetter{Queue: "graveyard", Reason: runtime.ReasonFailed}); err != nil {
		t.Fatalf("DeadLetter: %v", err)
	}
	if dead, _ := tr.DeadLetters(t.Context(), "graveyard", 0); len(dead) != 1 || dead[0].ID != "x" {
		t.Fatalf("DeadLetters(graveyard) = %+v, want x", dead)
	}
	if s, _ := tr.Stats(t.Context(), "q"); s != (runtime.QueueStats{Queue: "q"}) {
		t.Fatalf("Stats(q) = %+v, want empty", s)
	}
}

func TestCloseReleasesWaitRecord(t *testing.T) {
	t.Parallel()
	tr := memory.New()
	done := make(chan error, 1)
	go func() {
		_, err := tr.WaitRecord(context.Background(), "never")
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := tr.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, runtime.ErrClosed) {
			t.Fatalf("WaitRecord at Close: got %v, want runtime.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("WaitRecord still blocked after Close")
	}
	if err := tr.Put(t.Context(), "k", nil, 0); !errors.Is(err, runtime.ErrClosed) {
		t.Fatalf("Put after Close: got %v, want runtime.ErrClosed", err)
	}
	if err := tr.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// Close stops the timer that wakes consumers, so a pending ETA leaves
// nothing running (goleak checks at the end).
func TestCloseWithPendingTimer(t *testing.T) {
	t.Parallel()
	tr := memory.New()
	publish(t, tr, &runtime.Message{ID: "x", Queue: "q", ETA: time.Now().Add(time.Hour)})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := tr.Fetch(ctx, runtime.FetchRequest{Queues: []string{"q"}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Fetch: got %v, want context.DeadlineExceeded", err)
	}
	_ = tr.Close()
}

func TestProgressOnFreshPutRecord(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, memory.Config{})
	r := &runtime.Record{ID: "x", State: runtime.StateActive, Progress: "start", ProgressMeta: []byte("m")}
	if err := tr.PutRecord(t.Context(), r, 0); err != nil {
		t.Fatalf("PutRecord: %v", err)
	}
	got, err := tr.GetRecord(t.Context(), "x")
	if err != nil || got.Progress != "start" || string(got.ProgressMeta) != "m" {
		t.Fatalf("GetRecord = %+v, %v; want the progress given to the first PutRecord", got, err)
	}
}
