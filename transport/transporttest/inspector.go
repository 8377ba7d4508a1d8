package transporttest

import (
	"errors"
	"testing"

	"github.com/taskgen/taskgen/runtime"
)

// runInspectorCases checks runtime.Inspector, for transports that have it.
func runInspectorCases(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	t.Run("Inspector", func(t *testing.T) {
		t.Parallel()

		// setupInspector returns the case's bundle and its inspector, and
		// skips transports without one.
		setupInspector := func(t *testing.T) (*bundle, runtime.Inspector) {
			t.Helper()
			b := setup(t, factory)
			in, ok := b.tr.(runtime.Inspector)
			if !ok {
				t.Skipf("%T does not implement runtime.Inspector", b.tr)
			}
			return b, in
		}
		// kill publishes msg, fetches it and dead-letters it.
		kill := func(t *testing.T, b *bundle, msg *runtime.Message) {
			t.Helper()
			b.publish(t, msg)
			d := b.fetchOne(t)
			if d.ID != msg.ID {
				t.Fatalf("delivered %s, want %s", d.ID, msg.ID)
			}
			if err := b.tr.DeadLetter(t.Context(), d, runtime.DeadLetter{Reason: runtime.ReasonFailed, Error: "boom", Attempts: 1}); err != nil {
				t.Fatalf("DeadLetter: %v", err)
			}
		}

		t.Run("RequeueDeadLetter", func(t *testing.T) {
			t.Parallel()
			b, in := setupInspector(t)
			dead := b.msg(1)
			dead.Priority = 7
			kill(t, b, dead)
			low := b.msg(2)
			low.Priority = 3
			b.publish(t, low)

			if err := in.RequeueDeadLetter(t.Context(), b.queue, dead.ID); err != nil {
				t.Fatalf("RequeueDeadLetter: %v", err)
			}
			b.expectStats(t, b.queue, runtime.QueueStats{Pending: 2})
			if dls, err := b.tr.DeadLetters(t.Context(), b.queue, 0); err != nil || len(dls) != 0 {
				t.Fatalf("DeadLetters after the requeue = %+v, %v; want none", dls, err)
			}
			// It keeps its priority, so it comes before the lower one
			// published earlier, and its deliveries start again.
			d := b.fetchOne(t)
			if d.ID != dead.ID || d.Priority != 7 || d.Deliveries != 1 || string(d.Body) != string(dead.Body) {
				t.Fatalf("delivered %s priority %d deliveries %d body %q; want %s priority 7 deliveries 1 body %q",
					d.ID, d.Priority, d.Deliveries, d.Body, dead.ID, dead.Body)
			}
			b.ack(t, d)
			if err := in.RequeueDeadLetter(t.Context(), b.queue, dead.ID); !errors.Is(err, runtime.ErrNotFound) {
				t.Fatalf("second RequeueDeadLetter: got %v, want runtime.ErrNotFound", err)
			}
		})

		t.Run("RequeueUnknown", func(t *testing.T) {
			t.Parallel()
			b, in := setupInspector(t)
			if err := in.RequeueDeadLetter(t.Context(), b.queue, "nope"); !errors.Is(err, runtime.ErrNotFound) {
				t.Fatalf("RequeueDeadLetter of a queue without dead letters: got %v, want runtime.ErrNotFound", err)
			}
			kill(t, b, b.msg(1))
			if err := in.RequeueDeadLetter(t.Context(), b.queue, "nope"); !errors.Is(err, runtime.ErrNotFound) {
				t.Fatalf("RequeueDeadLetter of an unknown ID: got %v, want runtime.ErrNotFound", err)
			}
		})

		t.Run("RequeueDuplicate", func(t *testing.T) {
			t.Parallel()
			b, in := setupInspector(t)
			msg := b.msg(1)
			kill(t, b, msg)
			// The ID is free once dead-lettered, so it may be used again.
			b.publish(t, msg)
			if err := in.RequeueDeadLetter(t.Context(), b.queue, msg.ID); !errors.Is(err, runtime.ErrDuplicateTask) {
				t.Fatalf("RequeueDeadLetter of an ID the queue holds: got %v, want runtime.ErrDuplicateTask", err)
			}
			b.expectStats(t, b.queue, runtime.QueueStats{Pending: 1, Dead: 1})
		})

		t.Run("PurgeDeadLetters", func(t *testing.T) {
			t.Parallel()
			b, in := setupInspector(t)
			for i := range 3 {
				kill(t, b, b.msg(i))
			}
			b.publish(t, b.msg(9))
			n, err := in.PurgeDeadLetters(t.Context(), b.queue)
			if err != nil || n != 3 {
				t.Fatalf("PurgeDeadLetters = %d, %v; want 3", n, err)
			}
			b.expectStats(t, b.queue, runtime.QueueStats{Pending: 1})
			if dls, err := b.tr.DeadLetters(t.Context(), b.queue, 0); err != nil || len(dls) != 0 {
				t.Fatalf("DeadLetters after a purge = %+v, %v; want none", dls, err)
			}
			if n, err := in.PurgeDeadLetters(t.Context(), b.queue); err != nil || n != 0 {
				t.Fatalf("second PurgeDeadLetters = %d, %v; want 0", n, err)
			}
		})
	})
}
