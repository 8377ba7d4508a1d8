package transporttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

func runPublishCases(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	t.Run("Publish", func(t *testing.T) {
		t.Parallel()

		t.Run("FetchAck", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			msg := b.msg(1)
			msg.Priority = 7
			b.publish(t, msg)
			b.expectStats(t, b.queue, runtime.QueueStats{Pending: 1})

			d := b.fetchOne(t)
			if d.ID != msg.ID || d.Queue != msg.Queue || d.Priority != msg.Priority || string(d.Body) != string(msg.Body) {
				t.Fatalf("delivered %s/%s priority %d body %q, want %s/%s priority %d body %q",
					d.Queue, d.ID, d.Priority, d.Body, msg.Queue, msg.ID, msg.Priority, msg.Body)
			}
			if d.Deliveries != 1 {
				t.Errorf("first delivery has Deliveries %d, want 1", d.Deliveries)
			}
			if d.Lease == nil {
				t.Errorf("delivery has no lease")
			}
			b.expectStats(t, b.queue, runtime.QueueStats{Active: 1})

			b.ack(t, d)
			b.expectStats(t, b.queue, runtime.QueueStats{})
			expectLeaseLost(t, "second Ack", b.tr.Ack(t.Context(), d))
			b.expectNone(t, b.queue)
		})

		t.Run("CopiesBody", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			msg := b.msg(1)
			msg.Body = []byte("original")
			b.publish(t, msg)
			copy(msg.Body, "CHANGED!") // a caller reusing its buffer

			if d := b.fetchOne(t); string(d.Body) != "original" {
				t.Fatalf("delivered body %q, want %q: Publish must copy the body", d.Body, "original")
			}
		})

		t.Run("RejectsNoQueue", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			msg := b.msg(1)
			msg.Queue = ""
			if err := b.tr.Publish(t.Context(), msg); err == nil {
				t.Fatalf("Publish with no queue succeeded, want an error")
			}
		})

		t.Run("RejectsNoID", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			msg := b.msg(1)
			msg.ID = ""
			if err := b.tr.Publish(t.Context(), msg); err == nil {
				t.Fatalf("Publish with no ID succeeded, want an error")
			}
		})

		t.Run("DuplicateID", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			expectDuplicate := func(state string, msg *runtime.Message) {
				t.Helper()
				if err := b.tr.Publish(t.Context(), msg); !errors.Is(err, runtime.ErrDuplicateTask) {
					t.Fatalf("Publish of an ID that is %s: got %v, want runtime.ErrDuplicateTask", state, err)
				}
			}

			pending := b.msg(1)
			b.publish(t, pending)
			expectDuplicate("pending", pending)

			delayed := b.msg(2)
			delayed.ETA = time.Now().Add(time.Hour)
			b.publish(t, delayed)
			expectDuplicate("delayed", delayed)
			again := *delayed
			again.ETA = time.Time{}
			expectDuplicate("delayed (republished without ETA)", &again)

			d := b.fetchOne(t)
			expectDuplicate("active", pending)

			// Once acked the transport no longer holds the ID.
			b.ack(t, d)
			b.publish(t, pending)
			b.expectStats(t, b.queue, runtime.QueueStats{Pending: 1, Delayed: 1})
		})

		t.Run("DelayedNotEarly", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			delayed := b.msg(1)
			delayed.ETA = time.Now().Add(time.Second)
			b.publish(t, delayed)
			now := b.msg(2)
			b.publish(t, now)

			s := b.stats(t, b.queue)
			if time.Now().Before(delayed.ETA) && (s.Delayed != 1 || s.Pending != 1) {
				t.Errorf("Stats before the ETA = %+v, want 1 delayed and 1 pending", s)
			}
			if d := b.fetchOne(t); d.ID != now.ID {
				t.Fatalf("first delivery is %s, want %s: the other one is delayed", d.ID, now.ID)
			}

			d := b.fetchOne(t)
			at := time.Now()
			if d.ID != delayed.ID {
				t.Fatalf("delivered %s, want %s", d.ID, delayed.ID)
			}
			if at.Before(delayed.ETA) {
				t.Fatalf("delayed message delivered at %v, %v before its ETA", at, delayed.ETA.Sub(at))
			}
			b.ack(t, d)
		})

		// A batch stores each message as Publish does. A message whose
		// FreshID is set has an ID drawn at random for it, which a
		// transport may store without checking for a duplicate; it is
		// delivered like any other.
		t.Run("Batch", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			priorities := []int{1, 9, 5, 9, 0, 5, 3, 9, 5, 0}
			msgs := make([]*runtime.Message, len(priorities))
			for i, p := range priorities {
				msgs[i] = b.freshMsg(i)
				msgs[i].Priority = p
			}
			expectBatchStored(t, msgs, b.publishBatch(t.Context(), msgs))
			want := slices.Clone(msgs)
			for _, m := range msgs {
				copy(m.Body, "CHANGED!") // a caller reusing its buffers
			}
			b.expectStats(t, b.queue, runtime.QueueStats{Pending: len(msgs)})

			// Highest priority first, batch order among equals.
			slices.SortStableFunc(want, func(x, y *runtime.Message) int { return y.Priority - x.Priority })
			for i, w := range want {
				d := b.fetchOne(t)
				if body := fmt.Sprintf("body %d", slices.Index(msgs, w)); d.ID != w.ID || d.Priority != w.Priority || string(d.Body) != body {
					t.Fatalf("delivery %d is %s (priority %d, body %q), want %s (priority %d, body %q)", i, d.ID, d.Priority, d.Body, w.ID, w.Priority, body)
				}
				b.ack(t, d)
			}
			b.expectNone(t, b.queue)
		})

		// More messages than a transport sends in one go are each
		// delivered once. (Batch checks their order; a transport that
		// prefetches may hand a large backlog out a little out of order.)
		t.Run("BatchLarge", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			msgs := make([]*runtime.Message, 1100)
			want := make([]string, len(msgs))
			for i := range msgs {
				msgs[i] = b.freshMsg(i)
				want[i] = msgs[i].ID
			}
			expectBatchStored(t, msgs, b.publishBatch(t.Context(), msgs))
			var got []string
			for len(got) < len(msgs) {
				for _, d := range b.fetch(t, 100, longLease, b.queue) {
					got = append(got, d.ID)
					b.ack(t, d)
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("delivered %d messages, want each of the %d once", len(got), len(want))
			}
			b.expectNone(t, b.queue)
		})

		t.Run("BatchDuplicateID", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			held := b.msg(0)
			held.ETA = time.Now().Add(time.Hour)
			b.publish(t, held)
			dup := b.msg(0)
			dup.Body = []byte("second")
			msgs := []*runtime.Message{b.freshMsg(1), dup, b.freshMsg(2)}
			errs := b.publishBatch(t.Context(), msgs)
			if len(errs) != len(msgs) {
				t.Fatalf("PublishBatch of %d messages returned %d outcomes", len(msgs), len(errs))
			}
			if !errors.Is(errs[1], runtime.ErrDuplicateTask) {
				t.Errorf("PublishBatch of an ID the queue holds: got %v, want runtime.ErrDuplicateTask", errs[1])
			}
			for _, i := range []int{0, 2} {
				if errs[i] != nil {
					t.Errorf("PublishBatch: message %d (%s): %v", i, msgs[i].ID, errs[i])
				}
				if d := b.fetchOne(t); d.ID != msgs[i].ID {
					t.Fatalf("delivered %s, want %s", d.ID, msgs[i].ID)
				}
			}
			b.expectNone(t, b.queue)
			b.expectStats(t, b.queue, runtime.QueueStats{Active: 2, Delayed: 1})
		})

		t.Run("BatchWakesFetch", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			msgs := []*runtime.Message{b.freshMsg(1), b.freshMsg(2)}
			published := make(chan []error, 1)
			go func() {
				time.Sleep(100 * time.Millisecond) // let Fetch block first
				published <- b.publishBatch(context.Background(), msgs)
			}()
			d := b.fetchOne(t)
			expectBatchStored(t, msgs, <-published)
			if d.ID != msgs[0].ID {
				t.Fatalf("delivered %s, want %s", d.ID, msgs[0].ID)
			}
		})

		t.Run("PastETA", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			msg := b.msg(1)
			msg.ETA = time.Now().Add(-time.Hour)
			b.publish(t, msg)
			if d := b.fetchOne(t); d.ID != msg.ID {
				t.Fatalf("delivered %s, want %s", d.ID, msg.ID)
			}
		})
	})
}
