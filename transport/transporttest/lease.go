package transporttest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

func runLeaseCases(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	t.Run("Lease", func(t *testing.T) {
		t.Parallel()

		// A consumer that dies without acking loses nothing: the message
		// comes back when the lease lapses, and the dead consumer's lease
		// can no longer settle it.
		t.Run("ExpiryRedelivers", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			msg := b.msg(1)
			b.publish(t, msg)

			const lease = 500 * time.Millisecond
			start := time.Now() // the lease starts no earlier than this
			stale := b.fetch(t, 1, lease, b.queue)[0]

			// This Fetch blocks until the lease lapses; the transport must
			// wake it, not wait for a publish.
			d := b.fetchOne(t)
			at := time.Now()
			if d.ID != msg.ID || d.Deliveries != 2 {
				t.Fatalf("redelivered %s with Deliveries %d, want %s with 2", d.ID, d.Deliveries, msg.ID)
			}
			if at.Before(start.Add(lease)) {
				t.Fatalf("redelivered %v after the first Fetch began, before its %v lease could lapse", at.Sub(start), lease)
			}

			ctx := t.Context()
			expectLeaseLost(t, "Ack", b.tr.Ack(ctx, stale))
			expectLeaseLost(t, "Nack", b.tr.Nack(ctx, stale, runtime.NackOptions{}))
			expectLeaseLost(t, "Extend", b.tr.Extend(ctx, stale, longLease))
			expectLeaseLost(t, "DeadLetter", b.tr.DeadLetter(ctx, stale, runtime.DeadLetter{Reason: runtime.ReasonFailed}))
			b.expectStats(t, b.queue, runtime.QueueStats{Active: 1})

			b.ack(t, d)
			b.expectStats(t, b.queue, runtime.QueueStats{})
		})

		// The consumer that takes a message dies; another, already blocked
		// in Fetch when the lease was taken, must get it when the lease
		// lapses.
		t.Run("ExpiryWakesWaitingConsumer", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			type result struct {
				d   *runtime.Delivery
				err error
			}
			results := make(chan result, 2)
			ctx, cancel := context.WithTimeout(t.Context(), 3*eventually)
			defer cancel()
			for range 2 {
				go func() {
					ds, err := b.tr.Fetch(ctx, runtime.FetchRequest{Queues: []string{b.queue}, Max: 1, Lease: 500 * time.Millisecond})
					if err != nil {
						results <- result{err: err}
						return
					}
					results <- result{d: ds[0]} // and die without settling it
				}()
			}
			time.Sleep(100 * time.Millisecond) // let both consumers block first
			msg := b.msg(1)
			b.publish(t, msg)

			for want := 1; want <= 2; want++ {
				select {
				case r := <-results:
					if r.err != nil {
						t.Fatalf("Fetch: %v", r.err)
					}
					if r.d.ID != msg.ID || r.d.Deliveries != want {
						t.Fatalf("delivered %s with Deliveries %d, want %s with %d", r.d.ID, r.d.Deliveries, msg.ID, want)
					}
				case <-time.After(eventually):
					t.Fatalf("delivery %d of %s did not arrive within %v", want, msg.ID, eventually)
				}
			}
		})

		t.Run("ExtendOutlivesLease", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			b.publish(t, b.msg(1))

			const lease = 2 * time.Second
			start := time.Now()
			d := b.fetch(t, 1, lease, b.queue)[0]
			if err := b.tr.Extend(t.Context(), d, longLease); err != nil {
				t.Fatalf("Extend: %v", err)
			}
			// Watch until well past the original lease: nothing comes back.
			ctx, cancel := context.WithDeadline(t.Context(), start.Add(lease+time.Second))
			defer cancel()
			ds, err := b.tr.Fetch(ctx, runtime.FetchRequest{Queues: []string{b.queue}, Max: 1, Lease: longLease})
			if len(ds) > 0 {
				t.Fatalf("%s redelivered (Deliveries %d) although its lease was extended", ds[0].ID, ds[0].Deliveries)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Fetch: got %v, want context.DeadlineExceeded", err)
			}
			b.ack(t, d)
		})

		t.Run("NackDelay", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			msg := b.msg(1)
			b.publish(t, msg)
			d := b.fetchOne(t)

			const delay = time.Second
			due := time.Now().Add(delay) // the transport's clock reads no earlier
			if err := b.tr.Nack(t.Context(), d, runtime.NackOptions{Delay: delay, Body: []byte("second attempt")}); err != nil {
				t.Fatalf("Nack: %v", err)
			}
			s := b.stats(t, b.queue)
			if time.Now().Before(due) && (s.Delayed != 1 || s.Active != 0 || s.Pending != 0) {
				t.Errorf("Stats right after a delayed Nack = %+v, want 1 delayed", s)
			}
			expectLeaseLost(t, "Ack after Nack", b.tr.Ack(t.Context(), d))

			again := b.fetchOne(t)
			at := time.Now()
			if at.Before(due) {
				t.Fatalf("nacked message redelivered %v before its delay ran out", due.Sub(at))
			}
			if again.ID != msg.ID || again.Deliveries != 2 {
				t.Fatalf("redelivered %s with Deliveries %d, want %s with 2", again.ID, again.Deliveries, msg.ID)
			}
			if string(again.Body) != "second attempt" {
				t.Fatalf("redelivered body %q, want the one given to Nack", again.Body)
			}
			b.ack(t, again)
		})

		t.Run("NackAtOnce", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			msg := b.msg(1)
			b.publish(t, msg)
			d := b.fetchOne(t)
			if err := b.tr.Nack(t.Context(), d, runtime.NackOptions{}); err != nil {
				t.Fatalf("Nack: %v", err)
			}
			again := b.fetchOne(t)
			if again.ID != msg.ID || again.Deliveries != 2 || string(again.Body) != string(msg.Body) {
				t.Fatalf("redelivered %s, Deliveries %d, body %q; want %s, 2, %q", again.ID, again.Deliveries, again.Body, msg.ID, msg.Body)
			}
			expectLeaseLost(t, "Nack of a delivery already nacked", b.tr.Nack(t.Context(), d, runtime.NackOptions{}))
			b.ack(t, again)
		})
	})
}
