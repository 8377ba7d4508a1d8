package chaos

import (
	"context"
	"testing"
	"time"

	"github.com/taskgen/taskgen/transport/amqp"
)

// Scenario 1. A worker killed with SIGKILL in the middle of its tasks
// loses none: on Redis its leases lapse, on RabbitMQ its connection dies,
// and the other worker runs every task. Only the runs the killed worker
// had finished but not acked may run twice.
func TestKill9MidTask(t *testing.T) {
	if testing.Short() {
		t.Skip("runs worker processes on real brokers")
	}
	t.Parallel()
	for _, kind := range []string{"redis", "amqp"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			var h *harness
			if kind == "redis" {
				h = newRedisHarness(t, "", "")
			} else {
				h = newAMQPHarness(t, "", "", amqp.Config{})
			}
			const n, conc = 80, 4
			ctx := context.Background()
			if failed := h.enqueue(ctx, 0, n, work(50*time.Millisecond)); failed != 0 {
				t.Fatalf("%d enqueues failed", failed)
			}
			doomed := h.worker("-concurrency", "4", "-lease", "1s", "-prefetch", "8", "-verbose")
			h.waitRuns(8, time.Minute)
			survivor := h.worker("-concurrency", "4", "-lease", "1s")
			doomed.kill()
			h.checker.Fault("kill -9")
			// Mid-task: it had started runs it never finished.
			byPID, err := h.checker.RunsOf(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if started, done := int(doomed.nstart.Load()), byPID[doomed.Pid()]; started <= done {
				t.Errorf("the killed worker had started %d runs and finished %d: it was not killed mid-task", started, done)
			} else {
				t.Logf("killed with %d runs in flight", started-done)
			}
			r := h.settle(90 * time.Second)
			if r.ExtraRuns > conc {
				t.Errorf("%d runs beyond the first, want at most %d (the killed worker's unacked ones)", r.ExtraRuns, conc)
			}
			checkAckedTwice(t, kind, r, conc)
			h.drained(0)
			if f, running := survivor.term(30 * time.Second); running != 0 || f == 0 {
				t.Errorf("survivor finished %d runs and left %d running", f, running)
			}
		})
	}
}

// checkAckedTwice checks the tasks acked by two workers. On Redis an ack
// is a script's reply, so a task is never acked twice. On RabbitMQ an ack
// is a frame the broker does not answer: a worker killed just after its
// Ack returned nil may never have had it reach the broker, which then
// delivers the task again. At most the killed worker's slots can be so.
func checkAckedTwice(t testing.TB, kind string, r *Report, slots int) {
	t.Helper()
	want := 0
	if kind == "amqp" {
		want = slots
	}
	if r.AckedTwice > want {
		t.Errorf("%d tasks acked twice, want at most %d", r.AckedTwice, want)
	}
}
