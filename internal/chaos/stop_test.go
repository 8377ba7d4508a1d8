package chaos

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// Scenario 3. A worker stopped with SIGSTOP in the middle of a task, for
// longer than its 1s lease, loses the task to another worker; once
// continued, its handler finishes, and its ack is refused as stale.
//
// On Redis the lease lapses in the broker and the next fetch takes the
// task over. On RabbitMQ the lease is kept in the worker process, whose
// timers do not run while it is stopped: the broker gets the task back
// because the stopped process misses its heartbeats (1s here) and the
// broker closes its connection. Either way the continued worker's ack
// returns runtime.ErrLeaseLost.
func TestSIGSTOPPastLease(t *testing.T) {
	onEachBroker(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		stopped := h.worker("-concurrency", "1", "-lease", "1s", "-verbose")
		if failed := h.enqueue(ctx, 0, 1, work(3*time.Second)); failed != 0 {
			t.Fatal("the enqueue failed")
		}
		select {
		case <-stopped.starts:
		case <-time.After(60 * time.Second):
			t.Fatalf("the task did not start within 60s\n%s", stopped.Stderr())
		}
		stopped.signal(syscall.SIGSTOP)
		h.checker.Fault("SIGSTOP")
		stoppedAt := time.Now()
		other := h.worker("-concurrency", "1", "-lease", "10s")
		waitFor(t, 90*time.Second, "the other worker to run the task", func() bool {
			byPID, err := h.checker.RunsOf(ctx)
			return err == nil && byPID[other.Pid()] == 1
		})
		// The other worker's ack lands before the stopped one goes on.
		waitFor(t, 30*time.Second, "the other worker's ack", func() bool {
			r, err := h.checker.Report(ctx)
			return err == nil && r.AcksRefused == 0 && h.acked(ctx, 0)
		})
		stopped.signal(syscall.SIGCONT)
		t.Logf("stopped for %v", time.Since(stoppedAt).Round(time.Millisecond))
		waitFor(t, 30*time.Second, "the stale ack to be refused", func() bool {
			r, err := h.checker.Report(ctx)
			return err == nil && r.AcksRefused >= 1
		})
		r := h.settle(30 * time.Second)
		if r.Runs != 2 || r.Duplicates != 1 {
			t.Errorf("%d runs, %d tasks run twice; want 2 runs of the one task, one by each worker", r.Runs, r.Duplicates)
		}
		if r.AckedTwice != 0 {
			t.Errorf("the task was acked %d more times; want once", r.AckedTwice)
		}
		byPID, err := h.checker.RunsOf(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if byPID[stopped.Pid()] != 1 {
			t.Errorf("the continued worker recorded %d runs; want its stale one", byPID[stopped.Pid()])
		}
		h.drained(0)
		stopped.term(30 * time.Second)
		other.term(30 * time.Second)
	})
}

// waitFor polls cond until it holds, or fails the test after d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
