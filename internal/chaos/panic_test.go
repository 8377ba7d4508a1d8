package chaos

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

// Scenario 6. A handler that panics on every run ends dead-lettered as
// panicked after its retries (PanicTask: 2 retries, so 3 runs), with the
// panic and its stack in the record, while a steady stream of other tasks
// keeps flowing through the same worker process. The stream's throughput
// with the panics is logged beside the one without; the bound checked is
// generous, since the machine is shared.
func TestPanicDeadLetters(t *testing.T) {
	onEachBroker(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		w := h.worker("-concurrency", "4", "-lease", "10s")
		const stream, panics = 200, 30
		// The stream alone, then the stream with the panicking tasks.
		alone := h.stream(ctx, 0, stream, nil)
		withPanics := h.stream(ctx, stream, 2*stream, func() {
			items := make([]runtime.BatchItem, panics)
			for i := range items {
				items[i] = runtime.NewBatchItem(PanicTask, &Args{N: i}, runtime.TaskID("panic-"+strconv.Itoa(i)))
			}
			if _, err := h.client.EnqueueBatch(ctx, items); err != nil {
				t.Fatal(err)
			}
		})
		t.Logf("%d tasks, 10ms each, on 4 slots: %v alone, %v beside %d tasks that always panic", stream, alone.Round(time.Millisecond), withPanics.Round(time.Millisecond), panics)
		if withPanics > 5*alone+20*time.Second {
			t.Errorf("the stream took %v beside the panicking tasks, and %v alone", withPanics, alone)
		}
		h.drainedWithin(time.Minute, panics)
		dls, err := h.tr.DeadLetters(ctx, Queue, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(dls) != panics {
			t.Fatalf("%d dead letters, want %d", len(dls), panics)
		}
		for _, dl := range dls {
			if dl.Reason != runtime.ReasonPanicked || dl.Attempts != 3 || dl.Task != PanicTask.Def.Name ||
				!strings.Contains(dl.Error, "panics on every run") || !strings.Contains(dl.Error, "goroutine") {
				t.Errorf("dead letter %s: reason %q, %d attempts, task %q, error %.300q; want panicked after 3 attempts, with the panic and its stack",
					dl.ID, dl.Reason, dl.Attempts, dl.Task, dl.Error)
			}
		}
		r := h.settle(30 * time.Second)
		if r.Panics != 3*panics {
			t.Errorf("%d panicking runs, want %d", r.Panics, 3*panics)
		}
		if r.Duplicates != 0 {
			t.Errorf("%d tasks of the stream ran twice", r.Duplicates)
		}
		w.term(30 * time.Second)
	})
}

// stream enqueues tasks from..to-1, 10ms of work each, 20 at a time
// every 10ms, calls also (if not nil) after the first 20, and returns how
// long they took until all had completed.
func (h *harness) stream(ctx context.Context, from, to int, also func()) time.Duration {
	h.t.Helper()
	start := time.Now()
	for lo := from; lo < to; lo += 20 {
		if failed := h.enqueue(ctx, lo, min(lo+20, to), work(10*time.Millisecond)); failed != 0 {
			h.t.Fatalf("%d enqueues failed", failed)
		}
		if lo == from && also != nil {
			also()
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitFor(h.t, 2*time.Minute, "the stream to complete", func() bool {
		r, err := h.checker.Report(ctx)
		return err == nil && r.Lost == 0
	})
	return time.Since(start)
}
