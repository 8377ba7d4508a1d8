package chaos

import (
	"context"
	"testing"
	"time"
)

// Scenario 2. SIGTERM while a worker has tasks running and more fetched
// (RabbitMQ prefetches beyond the running ones): the worker stops
// fetching, hands back what it has not started, lets the running handlers
// finish and exits 0 with none still running. Nothing is lost, nothing
// runs twice, and every run it finished was recorded before it exited.
func TestSIGTERMDrains(t *testing.T) {
	onEachBroker(t, func(t *testing.T, h *harness) {
		const n = 60
		ctx := context.Background()
		if failed := h.enqueue(ctx, 0, n, work(300*time.Millisecond)); failed != 0 {
			t.Fatalf("%d enqueues failed", failed)
		}
		a := h.worker("-concurrency", "4", "-prefetch", "16", "-drain", "20s", "-lease", "10s", "-verbose")
		h.waitRuns(4, time.Minute)
		// SIGTERM with runs in flight.
		inFlight := 0
		for deadline := time.Now().Add(30 * time.Second); inFlight < 2; {
			byPID, err := h.checker.RunsOf(ctx)
			if err != nil || time.Now().After(deadline) {
				t.Fatalf("no runs in flight: %v", err)
			}
			inFlight = int(a.nstart.Load()) - byPID[a.Pid()]
		}
		h.checker.Fault("SIGTERM")
		finished, running := a.term(time.Minute)
		if running != 0 {
			t.Errorf("%d handlers still running when the worker exited", running)
		}
		byPID, err := h.checker.RunsOf(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if byPID[a.Pid()] != finished {
			t.Errorf("the worker finished %d runs, and %d are recorded for it", finished, byPID[a.Pid()])
		}
		if started := int(a.nstart.Load()); started != finished {
			t.Errorf("the worker started %d runs and finished %d before it exited", started, finished)
		}
		t.Logf("SIGTERM with %d runs in flight; the worker finished %d runs in all, and handed back the rest", inFlight, finished)

		b := h.worker("-concurrency", "8", "-lease", "10s")
		r := h.settle(90 * time.Second)
		if r.Duplicates != 0 {
			t.Errorf("%d tasks ran twice after a graceful shutdown", r.Duplicates)
		}
		h.drained(0)
		b.term(30 * time.Second)
		// Nothing more from the first worker after it exited.
		if byPID, _ = h.checker.RunsOf(ctx); byPID[a.Pid()] != finished {
			t.Errorf("runs recorded for the exited worker went from %d to %d", finished, byPID[a.Pid()])
		}
	})
}
