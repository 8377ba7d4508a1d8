package redis_test

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/redis/internal/testtask"
)

// A worker process killed with SIGKILL in the middle of a chord, while it
// runs header tasks, advances the workflow and holds the leases of hung
// ones: the other worker finishes the chord, with the right result, and
// the body runs exactly once.
func TestWorkflowWorkerKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs worker processes")
	}
	t.Parallel()
	bin := buildWorker(t)
	tr, url := processTransport(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	const n = 300
	const lease = "1500ms"
	header := make([]runtime.Sig[int], n)
	want := 0
	for i := range header {
		header[i] = testtask.PartSig(i)
		want += i
	}
	h, err := runtime.Submit(ctx, runtime.NewClient(tr), runtime.Chord(header, testtask.SumStep()))
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}

	// The doomed worker runs header tasks and hangs in every
	// HangEvery-th; it is killed once two of its four slots are hung,
	// still running the others.
	doomed := startWorker(t, bin, url, "-hang", "-lease", lease, "-concurrency", "4", "-delay", "10ms")
	waitCount(t, ctx, tr, testtask.HungTotal, func(v int64) bool { return v >= 2 })
	survivor := startWorker(t, bin, url, "-lease", lease, "-concurrency", "8")
	if err := doomed.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-doomed.done; err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("doomed worker exited with %v, want killed", err)
	}
	doomed.done <- nil // for the cleanup
	done := count(t, ctx, tr, testtask.BodyRuns)
	if done != 0 {
		t.Fatalf("the body ran before the header finished")
	}

	got, err := h.Get(ctx)
	if err != nil || got != want {
		t.Fatalf("Get = %d, %v; want %d (survivor: %s)", got, err, want, survivor.stderr)
	}
	// A task killed between its handler and its ack runs again: header
	// tasks run at least once; the body exactly once.
	for i := range n {
		if runs := count(t, ctx, tr, testtask.PartsKey(i)); runs < 1 {
			t.Errorf("header task %d completed %d times, want at least once", i, runs)
		}
	}
	if hung := count(t, ctx, tr, testtask.HungTotal); hung < 2 || hung > 4 {
		t.Errorf("the doomed worker hung in %d tasks, want 2 to 4", hung)
	}
	waitFor := func(what string, ok func(runtime.QueueStats) bool) runtime.QueueStats {
		for {
			st, err := tr.Stats(ctx, testtask.Part.Def.Queue)
			if err != nil {
				t.Fatal(err)
			}
			if ok(st) {
				return st
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s: Stats = %+v", what, st)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	// Once the queue has settled, nothing runs the body again.
	waitFor("the queue to settle", func(st runtime.QueueStats) bool { return st == runtime.QueueStats{Queue: st.Queue} })
	time.Sleep(200 * time.Millisecond)
	if runs := count(t, ctx, tr, testtask.BodyRuns); runs != 1 {
		t.Errorf("the chord's body ran %d times, want exactly once", runs)
	}

	if err := survivor.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-survivor.done; err != nil {
		t.Errorf("survivor exited with %v: %s", err, survivor.stderr)
	}
	survivor.done <- nil
}
