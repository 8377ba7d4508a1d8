package chaos

import (
	"context"
	"testing"
	"time"
)

// Scenario 1. A worker killed with SIGKILL in the middle of its tasks
// loses none: on Redis its leases lapse, on RabbitMQ its connection dies,
// and the other worker runs every task. Only the runs the killed worker
// had finished but not acked may run twice.
func TestKill9MidTask(t *testing.T) {
	onEachBroker(t, func(t *testing.T, h *harness) {
		const n, conc = 60, 4
		ctx := context.Background()
		if failed := h.enqueue(ctx, 0, n, work(300*time.Millisecond)); failed != 0 {
			t.Fatalf("%d enqueues failed", failed)
		}
		doomed := h.worker("-concurrency", "4", "-lease", "1s", "-prefetch", "8", "-verbose")
		// The survivor starts once the doomed worker holds tasks: started
		// together, a survivor whose consumer came first could take
		// every task into its prefetch and leave the other none.
		waitFor(t, time.Minute, "the worker to start tasks", func() bool { return doomed.nstart.Load() >= 2 })
		survivor := h.worker("-concurrency", "4", "-lease", "1s", "-prefetch", "8")
		// Kill it once it has finished some runs and is in the middle of
		// others: two it started less than a third of a run ago, so that they
		// cannot finish first.
		waitFor(t, time.Minute, "the worker to be mid-task", func() bool {
			byPID, err := h.checker.RunsOf(ctx)
			return err == nil && byPID[doomed.Pid()] >= 2 && doomed.startedWithin(100*time.Millisecond) >= 2
		})
		doomed.kill()
		h.checker.Fault("kill -9")
		byPID, err := h.checker.RunsOf(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if started, done := int(doomed.nstart.Load()), byPID[doomed.Pid()]; started <= done {
			t.Errorf("the killed worker had started %d runs and finished %d: it was not killed mid-task", started, done)
		} else {
			t.Logf("killed with %d runs in flight, after %d", started-done, done)
		}
		r := h.settle(90 * time.Second)
		checkExtraRuns(t, r, conc)
		checkAckedTwice(t, h.kind, r, conc)
		h.drained(0)
		if f, running := survivor.term(30 * time.Second); running != 0 || f == 0 {
			t.Errorf("survivor finished %d runs and left %d running", f, running)
		}
	})
}

// checkAckedTwice checks the tasks acked by two workers. On Redis an ack
// is a script's reply, so a task is never acked twice. On RabbitMQ an ack
// is a frame the broker does not answer: a worker killed just after its
// Ack returned nil may never have had it reach the broker, which then
// delivers the task again: at most the runs it had in flight or settling.
func checkAckedTwice(t testing.TB, kind string, r *Report, slots int) {
	t.Helper()
	want := 0
	if kind == "amqp" {
		want = 2 * slots
	}
	if r.AckedTwice > want {
		t.Errorf("%d tasks acked twice, want at most %d", r.AckedTwice, want)
	}
}

// checkExtraRuns bounds the runs beyond each task's first after one
// worker with slots handler slots was killed: the runs it had finished but
// not acked (at most its slots, and as many settling), plus those whose
// lease lapsed on a loaded machine, each of which shows as a refused ack.
func checkExtraRuns(t testing.TB, r *Report, slots int) {
	t.Helper()
	if want := 2*slots + r.AcksRefused; r.ExtraRuns > want {
		t.Errorf("%d runs beyond the first, want at most %d (the killed worker's unacked ones, and %d refused stale acks)", r.ExtraRuns, want, r.AcksRefused)
	}
}
