package transporttest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/taskgen/taskgen/runtime"
)

func runDeadLetterCases(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	t.Run("DeadLetter", func(t *testing.T) {
		t.Parallel()

		t.Run("RecordsAndRemoves", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			first, second := b.msg(1), b.msg(2)
			b.publish(t, first)
			b.publish(t, second)

			before := time.Now()
			d := b.fetchOne(t)
			err := b.tr.DeadLetter(t.Context(), d, runtime.DeadLetter{
				Task: "tasks.Send", Reason: runtime.ReasonFailed, Error: "smtp: 550", Attempts: 4,
			})
			if err != nil {
				t.Fatalf("DeadLetter: %v", err)
			}
			d2 := b.fetchOne(t)
			at := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
			err = b.tr.DeadLetter(t.Context(), d2, runtime.DeadLetter{
				ID: d2.ID, Queue: d2.Queue, Reason: runtime.ReasonMalformed, Error: "not a taskgen message", At: at, Body: d2.Body,
			})
			if err != nil {
				t.Fatalf("DeadLetter: %v", err)
			}

			got, err := b.tr.DeadLetters(t.Context(), b.queue, 10)
			if err != nil {
				t.Fatalf("DeadLetters: %v", err)
			}
			if len(got) != 2 {
				t.Fatalf("DeadLetters returned %d letters, want 2: %+v", len(got), got)
			}
			// The transport fills ID, Queue, At and Body when left empty.
			if got[0].At.Before(before.Add(-time.Minute)) || got[0].At.After(time.Now().Add(time.Minute)) {
				t.Errorf("dead letter At = %v, want about now", got[0].At)
			}
			got[0].At = time.Time{}
			want := []runtime.DeadLetter{
				{ID: first.ID, Queue: b.queue, Task: "tasks.Send", Reason: runtime.ReasonFailed, Error: "smtp: 550", Attempts: 4, Body: first.Body},
				{ID: second.ID, Queue: b.queue, Reason: runtime.ReasonMalformed, Error: "not a taskgen message", At: at, Body: second.Body},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("DeadLetters, oldest first (-want +got):\n%s", diff)
			}

			oldest, err := b.tr.DeadLetters(t.Context(), b.queue, 1)
			if err != nil {
				t.Fatalf("DeadLetters: %v", err)
			}
			if len(oldest) != 1 || oldest[0].ID != first.ID {
				t.Fatalf("DeadLetters with limit 1 = %+v, want only %s", oldest, first.ID)
			}

			b.expectStats(t, b.queue, runtime.QueueStats{Dead: 2})
			b.expectNone(t, b.queue)
			expectLeaseLost(t, "Ack of a dead-lettered delivery", b.tr.Ack(t.Context(), d))
		})

		t.Run("EmptyQueue", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			got, err := b.tr.DeadLetters(t.Context(), b.queue, 10)
			if err != nil || len(got) != 0 {
				t.Fatalf("DeadLetters of a queue without any = %+v, %v; want none and no error", got, err)
			}
		})
	})
}
