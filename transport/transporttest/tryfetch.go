package transporttest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

// runTryFetchCases specifies runtime.BufferedFetcher, for the transports
// that implement it.
func runTryFetchCases(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	t.Run("TryFetch", func(t *testing.T) {
		t.Parallel()
		tr := factory(t)
		_, ok := tr.(runtime.BufferedFetcher)
		if err := tr.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if !ok {
			t.Skip("the transport is no runtime.BufferedFetcher")
		}

		// tryUntil calls TryFetch until it has n deliveries, checking that
		// no call returns more than max or waits.
		tryUntil := func(t *testing.T, b *bundle, n, max int, lease time.Duration) []*runtime.Delivery {
			t.Helper()
			bf := b.tr.(runtime.BufferedFetcher)
			var got []*runtime.Delivery
			deadline := time.Now().Add(eventually)
			for len(got) < n {
				if time.Now().After(deadline) {
					t.Fatalf("TryFetch gave %d deliveries in %v, want %d", len(got), eventually, n)
				}
				start := time.Now()
				ds := bf.TryFetch(runtime.FetchRequest{Queues: []string{b.queue}, Max: max, Lease: lease})
				if took := time.Since(start); took > time.Second {
					t.Fatalf("TryFetch took %v: it must not wait", took)
				}
				if len(ds) > max {
					t.Fatalf("TryFetch(max %d) returned %d deliveries", max, len(ds))
				}
				got = append(got, ds...)
				if len(ds) == 0 {
					time.Sleep(10 * time.Millisecond)
				}
			}
			return got
		}

		t.Run("NeverWaits", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			bf := b.tr.(runtime.BufferedFetcher)
			// Before any Fetch, and on a queue with nothing in it.
			if ds := bf.TryFetch(runtime.FetchRequest{Queues: []string{b.queue}, Max: 1, Lease: longLease}); len(ds) != 0 {
				t.Fatalf("TryFetch on an empty queue returned %d deliveries", len(ds))
			}
			b.expectNone(t, b.queue)
			start := time.Now()
			if ds := bf.TryFetch(runtime.FetchRequest{Queues: []string{b.queue}, Max: 1, Lease: longLease}); len(ds) != 0 {
				t.Fatalf("TryFetch on an empty queue returned %d deliveries", len(ds))
			}
			if took := time.Since(start); took > time.Second {
				t.Fatalf("TryFetch on an empty queue took %v: it must not wait", took)
			}
		})

		t.Run("LeasesEachOnce", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			const n = 6
			var want []string
			for i := range n {
				msg := b.msg(i)
				b.publish(t, msg)
				want = append(want, msg.ID)
			}
			first := b.fetchOne(t) // starts what TryFetch takes from
			got := append([]*runtime.Delivery{first}, tryUntil(t, b, n-1, 2, longLease)...)
			var ids []string
			for _, d := range got {
				if d.Deliveries != 1 {
					t.Errorf("%s delivered with Deliveries %d, want 1", d.ID, d.Deliveries)
				}
				if err := b.tr.Extend(t.Context(), d, longLease); err != nil {
					t.Errorf("Extend %s: %v", d.ID, err)
				}
				b.ack(t, d)
				ids = append(ids, d.ID)
			}
			slices.Sort(ids)
			if !slices.Equal(ids, want) {
				t.Fatalf("delivered %v, want each of %v once", ids, want)
			}
			b.expectNone(t, b.queue)
		})

		t.Run("LeaseLapses", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			b.publish(t, b.msg(1))
			b.publish(t, b.msg(2))
			first := b.fetchOne(t)
			d := tryUntil(t, b, 1, 1, time.Second)[0]
			b.ack(t, first)
			// Unsettled, its lease lapses and the message comes again.
			again := b.fetch(t, 1, longLease, b.queue)[0]
			if again.ID != d.ID || again.Deliveries != 2 {
				t.Fatalf("after the lease lapsed, got %s (delivery %d), want %s (delivery 2)", again.ID, again.Deliveries, d.ID)
			}
			expectLeaseLost(t, "Ack", b.tr.Ack(t.Context(), d))
			b.ack(t, again)
		})

		t.Run("StrictOrder", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			// Buffered messages come out highest priority first, as Fetch
			// gives them.
			for i, p := range []int{2, 9, 5} {
				msg := b.msg(i)
				msg.Priority = p
				b.publish(t, msg)
			}
			ctx, cancel := context.WithTimeout(t.Context(), eventually)
			defer cancel()
			var prios []int
			for len(prios) < 3 {
				ds := b.tr.(runtime.BufferedFetcher).TryFetch(runtime.FetchRequest{Queues: []string{b.queue}, Max: 1, Lease: longLease})
				if len(ds) == 0 {
					ds, _ = b.tr.Fetch(ctx, runtime.FetchRequest{Queues: []string{b.queue}, Max: 1, Lease: longLease})
					if len(ds) == 0 {
						t.Fatalf("Fetch gave nothing after %d deliveries", len(prios))
					}
				}
				prios = append(prios, ds[0].Priority)
				b.ack(t, ds[0])
			}
			if !slices.Equal(prios, []int{9, 5, 2}) {
				t.Fatalf("delivered priorities %v, want [9 5 2]", prios)
			}
		})

		t.Run("AfterClose", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			b.publish(t, b.msg(1))
			b.publish(t, b.msg(2))
			b.ack(t, b.fetchOne(t))
			if err := b.tr.Close(); err != nil {
				t.Fatal(err)
			}
			if ds := b.tr.(runtime.BufferedFetcher).TryFetch(runtime.FetchRequest{Queues: []string{b.queue}, Max: 1, Lease: longLease}); len(ds) != 0 {
				t.Fatalf("TryFetch on a closed transport returned %d deliveries", len(ds))
			}
		})
	})
}
