package redis_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/taskgen/taskgen/internal/testenv"
	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/redis"
	"github.com/taskgen/taskgen/transport/redis/internal/limittask"
)

// The global limits hold across worker processes (internal/limitworker):
// a rate, measured over 10s and changed while they run; a concurrency
// limit, checked by the handlers themselves; and a slot held by a worker
// killed mid-task, which comes back after its lease.
func TestLimitsAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs worker processes")
	}
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "limitworker")
	if out, err := exec.Command("go", "build", "-o", bin, "./internal/limitworker").CombinedOutput(); err != nil {
		t.Fatalf("go build ./internal/limitworker: %v\n%s", err, out)
	}
	t.Run("Rate", func(t *testing.T) {
		t.Parallel()
		testRateAcrossProcesses(t, bin)
	})
	t.Run("Concurrency", func(t *testing.T) {
		t.Parallel()
		testConcurrencyAcrossProcesses(t, bin)
	})
	t.Run("DeadHolder", func(t *testing.T) {
		t.Parallel()
		testSlotOfKilledWorker(t, bin)
	})
}

// limitSetup returns a transport under a prefix of the test's own, and
// its URL for worker processes.
func limitSetup(t *testing.T) (*redis.Transport, string) {
	t.Helper()
	prefix := uniquePrefix(t)
	cleanup(t, newClient(t), prefix)
	url := testenv.RedisURL(t)
	if strings.Contains(url, "?") {
		url += "&prefix=" + prefix
	} else {
		url += "?prefix=" + prefix
	}
	tr, err := redis.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr, url
}

func enqueueN(t *testing.T, ctx context.Context, tr *redis.Transport, task *runtime.Task[runtime.None], n int) {
	t.Helper()
	items := make([]runtime.BatchItem, n)
	for i := range items {
		items[i] = runtime.NewBatchItem(task, &limittask.Args{N: i})
	}
	if _, err := runtime.NewClient(tr).EnqueueBatch(ctx, items); err != nil {
		t.Fatalf("EnqueueBatch %s: %v", task.Def.Name, err)
	}
}

// measureRate counts the runs of key over d.
func measureRate(t *testing.T, ctx context.Context, tr *redis.Transport, key string, d time.Duration) float64 {
	t.Helper()
	c0, t0 := count(t, ctx, tr, key), time.Now()
	time.Sleep(d)
	c1, t1 := count(t, ctx, tr, key), time.Now()
	return float64(c1-c0) / t1.Sub(t0).Seconds()
}

// rate=50/s across two worker processes of 8 handlers each, with a
// backlog: the measured rate stays within 15% over 10s. Lowered to 20/s
// with SetRateLimit while they run, it follows within a couple of seconds.
func testRateAcrossProcesses(t *testing.T, bin string) {
	tr, url := limitSetup(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	enqueueN(t, ctx, tr, limittask.Rated, 800)
	for range 2 {
		startWorker(t, bin, url, "-lease", "5s", "-concurrency", "8")
	}
	waitCount(t, ctx, tr, limittask.RatedRuns, func(v int64) bool { return v >= 25 })
	rate := measureRate(t, ctx, tr, limittask.RatedRuns, 10*time.Second)
	t.Logf("rate=50/s across 2 processes: measured %.1f/s over 10s", rate)
	if rate < 50*0.85 || rate > 50*1.15 {
		t.Errorf("rate=50/s across 2 processes: measured %.1f/s over 10s, want within 15%%", rate)
	}

	if err := runtime.SetRateLimit(ctx, tr, limittask.Rated.Def.Name, runtime.Rate{N: 20, Period: time.Second}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // rateRefresh + rateHorizon, and some
	rate = measureRate(t, ctx, tr, limittask.RatedRuns, 4*time.Second)
	t.Logf("after SetRateLimit 20/s: measured %.1f/s over 4s", rate)
	if rate < 20*0.8 || rate > 20*1.2 {
		t.Errorf("after SetRateLimit 20/s: measured %.1f/s over 4s, want within 20%%", rate)
	}
}

// concurrency=3 across two worker processes of 8 handlers each: no
// handler ever sees more than 3 running, counting in Redis as it starts.
func testConcurrencyAcrossProcesses(t *testing.T, bin string) {
	tr, url := limitSetup(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	const n = 60
	enqueueN(t, ctx, tr, limittask.Capped, n)
	for range 2 {
		startWorker(t, bin, url, "-lease", "5s", "-concurrency", "8")
	}
	waitCount(t, ctx, tr, limittask.CappedRuns, func(v int64) bool { return v >= n })
	seen := make([]int64, 17)
	for i := range seen {
		seen[i] = count(t, ctx, tr, limittask.CappedSeen(int64(i)))
	}
	t.Logf("runs by handlers running as they started (index): %v", seen)
	for i := 4; i < len(seen); i++ {
		if seen[i] > 0 {
			t.Errorf("%d runs started with %d handlers running, want at most concurrency=3", seen[i], i)
		}
	}
	if seen[3] == 0 {
		t.Errorf("no run started with 3 handlers running: the limit was never reached, so the test shows nothing")
	}
}

// A worker killed while its handler holds the only slot of concurrency=1:
// while it lives, the other worker does not run the task's second message;
// once it is killed, the slot comes back after its lease, and the other
// worker runs both.
func testSlotOfKilledWorker(t *testing.T, bin string) {
	tr, url := limitSetup(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	const lease = 1500 * time.Millisecond
	doomed := startWorker(t, bin, url, "-hang", "-lease", lease.String(), "-concurrency", "2")
	enqueueN(t, ctx, tr, limittask.Held, 1)
	waitCount(t, ctx, tr, limittask.HeldStarts, func(v int64) bool { return v >= 1 })
	survivor := startWorker(t, bin, url, "-lease", lease.String(), "-concurrency", "2")
	enqueueN(t, ctx, tr, limittask.Held, 1)
	// Two leases: the doomed worker renews its slot meanwhile.
	time.Sleep(2 * lease)
	if v := count(t, ctx, tr, limittask.HeldStarts); v != 1 {
		t.Fatalf("%d starts of the concurrency=1 task while the first one still runs, want 1", v)
	}

	if err := doomed.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-doomed.done
	doomed.done <- nil // for the cleanup
	killed := time.Now()
	waitCount(t, ctx, tr, limittask.HeldStarts, func(v int64) bool { return v >= 2 })
	// The slot was renewed at most a third of the lease before the kill.
	if after := time.Since(killed); after < lease/2 {
		t.Errorf("the next task started %v after the slot holder was killed, before its lease of %v lapsed", after, lease)
	}
	// The hung task too, once its delivery lease lapsed.
	waitCount(t, ctx, tr, limittask.HeldStarts, func(v int64) bool { return v >= 3 })
	if err := survivor.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-survivor.done; err != nil {
		t.Errorf("survivor exited with %v: %s", err, survivor.stderr)
	}
	survivor.done <- nil
}
