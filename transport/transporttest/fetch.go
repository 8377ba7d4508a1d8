package transporttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

func runFetchCases(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	t.Run("Fetch", func(t *testing.T) {
		t.Parallel()

		t.Run("UpToMax", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			const n, max = 5, 3
			want := make([]string, n)
			for i := range n {
				msg := b.msg(i)
				b.publish(t, msg)
				want[i] = msg.ID
			}
			// A transport may return fewer than Max, never more; all five
			// arrive, each once.
			var got []string
			for len(got) < n {
				for _, d := range b.fetch(t, max, longLease, b.queue) {
					got = append(got, d.ID)
					b.ack(t, d)
				}
			}
			if len(got) != n {
				t.Fatalf("delivered %d messages, want %d: %v", len(got), n, got)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("delivered %v, want each of %v once", got, want)
			}
			b.expectNone(t, b.queue)
		})

		// A lone message wakes a Fetch blocked on its empty queue, well
		// before the lease-long wait that bounds a Fetch without one; so
		// does one with a fresh ID, which a transport may store otherwise.
		blocks := func(t *testing.T, fresh bool) {
			t.Parallel()
			b := setup(t, factory)
			msg := b.msg(1)
			if fresh {
				msg = b.freshMsg(1)
			}
			published := make(chan error, 1)
			go func() {
				time.Sleep(100 * time.Millisecond) // let Fetch block first
				published <- b.tr.Publish(context.Background(), msg)
			}()
			d := b.fetchOne(t)
			if err := <-published; err != nil {
				t.Fatalf("Publish: %v", err)
			}
			if d.ID != msg.ID {
				t.Fatalf("delivered %s, want %s", d.ID, msg.ID)
			}
		}
		t.Run("BlocksUntilPublish", func(t *testing.T) { blocks(t, false) })
		t.Run("BlocksUntilFreshPublish", func(t *testing.T) { blocks(t, true) })

		t.Run("ContextDeadline", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			ds, err := b.tr.Fetch(ctx, runtime.FetchRequest{Queues: []string{b.queue}, Max: 1, Lease: longLease})
			if len(ds) != 0 || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Fetch on an empty queue = %d deliveries, %v; want context.DeadlineExceeded", len(ds), err)
			}
		})

		t.Run("ContextCancel", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			ctx, cancel := context.WithCancel(t.Context())
			go func() {
				time.Sleep(100 * time.Millisecond)
				cancel()
			}()
			ds, err := b.tr.Fetch(ctx, runtime.FetchRequest{Queues: []string{b.queue}, Max: 1, Lease: longLease})
			if len(ds) != 0 || !errors.Is(err, context.Canceled) {
				t.Fatalf("Fetch cancelled on an empty queue = %d deliveries, %v; want context.Canceled", len(ds), err)
			}
		})

		// A consumer that is shutting down must not be handed messages it
		// would then have to give back.
		t.Run("DoneContextLeasesNothing", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			b.publish(t, b.msg(1))
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			ds, err := b.tr.Fetch(ctx, runtime.FetchRequest{Queues: []string{b.queue}, Max: 1, Lease: longLease})
			if len(ds) != 0 || !errors.Is(err, context.Canceled) {
				t.Fatalf("Fetch with a cancelled ctx = %d deliveries, %v; want context.Canceled", len(ds), err)
			}
			b.expectStats(t, b.queue, runtime.QueueStats{Pending: 1})
		})

		t.Run("PriorityOrder", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			priorities := []int{1, 9, 5, 9, 0, 5, 3, 9, 5, 0}
			type sent struct {
				id       string
				priority int
			}
			var msgs []sent
			for i, p := range priorities {
				msg := b.msg(i)
				msg.Priority = p
				b.publish(t, msg)
				msgs = append(msgs, sent{msg.ID, p})
			}
			// Highest priority first, publish order among equals.
			slices.SortStableFunc(msgs, func(a, b sent) int { return b.priority - a.priority })
			for i, want := range msgs {
				d := b.fetchOne(t)
				if d.ID != want.id || d.Priority != want.priority {
					t.Fatalf("delivery %d is %s (priority %d), want %s (priority %d)", i, d.ID, d.Priority, want.id, want.priority)
				}
				b.ack(t, d)
			}
		})

		t.Run("StrictQueueOrder", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			first, second := b.queue+".first", b.queue+".second"
			// The second queue's messages are older and of higher priority;
			// the first queue still wins.
			for i := range 3 {
				msg := b.msg(i)
				msg.Queue, msg.Priority = second, 9
				b.publish(t, msg)
			}
			for i := 3; i < 6; i++ {
				msg := b.msg(i)
				msg.Queue, msg.Priority = first, 0
				b.publish(t, msg)
			}
			for i := range 6 {
				want := first
				if i >= 3 {
					want = second
				}
				d := b.fetch(t, 1, longLease, first, second)[0]
				if d.Queue != want {
					t.Fatalf("delivery %d is %s from %s, want one from %s", i, d.ID, d.Queue, want)
				}
				b.ack(t, d)
			}
		})

		t.Run("ConcurrentConsumers", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			const consumers, producers, perProducer = 8, 4, 50
			const total = producers * perProducer

			ctx, cancel := context.WithTimeout(t.Context(), 3*eventually)
			defer cancel()
			var (
				mu   sync.Mutex
				seen = make(map[string]int)
				wg   sync.WaitGroup
				errs = make(chan error, consumers+producers)
			)
			for p := range producers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range perProducer {
						if err := b.tr.Publish(ctx, b.msg(p*perProducer+i)); err != nil {
							errs <- fmt.Errorf("Publish: %w", err)
							return
						}
					}
				}()
			}
			for range consumers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						ds, err := b.tr.Fetch(ctx, runtime.FetchRequest{Queues: []string{b.queue}, Max: 4, Lease: longLease})
						if err != nil {
							if ctx.Err() == nil {
								errs <- fmt.Errorf("Fetch: %w", err)
							}
							return
						}
						for _, d := range ds {
							if err := b.tr.Ack(ctx, d); err != nil {
								errs <- fmt.Errorf("Ack %s: %w", d.ID, err)
								return
							}
							mu.Lock()
							seen[d.ID]++
							if len(seen) == total {
								cancel() // everything arrived: stop the consumers
							}
							mu.Unlock()
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if len(seen) != total {
				t.Fatalf("%d distinct messages delivered, want %d", len(seen), total)
			}
			for id, n := range seen {
				if n != 1 {
					t.Errorf("%s delivered %d times, want once", id, n)
				}
			}
		})
	})
}
