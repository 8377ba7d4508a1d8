package chaos

import (
	"context"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

// longRun reports whether the long versions run (make chaos).
func longRun() bool { return os.Getenv("TASKGEN_CHAOS") == "1" }

// Scenario 7. Tasks delayed at random, with one of two workers killed
// with SIGKILL midway: every task runs, none before its ETA, and none
// twice except those the killed worker was running. The short version
// delays 1,000 tasks by 0–5s; with TASKGEN_CHAOS=1, 10,000 by 0–20s.
func TestDelayedWithKill(t *testing.T) {
	n, spread := 1000, 5*time.Second
	if longRun() {
		n, spread = 10000, 20*time.Second
	}
	onEachBroker(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		const conc = 8
		doomed := h.worker("-concurrency", "8", "-lease", "1s", "-prefetch", "16")
		survivor := h.worker("-concurrency", "8", "-lease", "1s", "-prefetch", "16")
		start := time.Now()
		failed := h.enqueue(ctx, 0, n, func(n int) (*Args, []runtime.Option) {
			// Whole milliseconds, the ETA's precision on the wire.
			eta := time.UnixMilli(time.Now().Add(rand.N(spread)).UnixMilli())
			return &Args{N: n, ETA: eta.UnixNano()}, []runtime.Option{runtime.At(eta)}
		})
		if failed != 0 {
			t.Fatalf("%d enqueues failed", failed)
		}
		t.Logf("enqueued %d tasks in %v", n, time.Since(start).Round(time.Millisecond))
		time.Sleep(time.Until(start.Add(spread / 2)))
		doomed.kill()
		h.checker.Fault("kill -9")
		r := h.settle(spread + 90*time.Second)
		if r.Early != 0 {
			t.Errorf("%d runs started before their task's ETA", r.Early)
		}
		checkExtraRuns(t, r, conc)
		checkAckedTwice(t, h.kind, r, conc)
		byPID, err := h.checker.RunsOf(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("runs by the killed worker %d, by the survivor %d; latest start %v past its ETA",
			byPID[doomed.Pid()], byPID[survivor.Pid()], r.MaxLateness.Round(time.Millisecond))
		if byPID[doomed.Pid()] == 0 {
			t.Errorf("the killed worker ran nothing before it was killed: not midway")
		}
		h.drained(0)
		survivor.term(30 * time.Second)
	})
}
