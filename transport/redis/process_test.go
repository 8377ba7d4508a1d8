package redis_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/taskgen/taskgen/internal/testenv"
	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/redis"
	"github.com/taskgen/taskgen/transport/redis/internal/testtask"
)

// buildWorker builds internal/testworker into a directory removed when
// the test ends.
func buildWorker(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "testworker")
	out, err := exec.Command("go", "build", "-o", bin, "./internal/testworker").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./internal/testworker: %v\n%s", err, out)
	}
	return bin
}

// workerProc is a running testworker.
type workerProc struct {
	cmd    *exec.Cmd
	stderr *strings.Builder
	done   chan error
}

// processTransport gives a process test its own key prefix: the URL its
// worker processes open, and a transport on it, closed when the test ends
// (before its keys are deleted).
func processTransport(t *testing.T) (*redis.Transport, string) {
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

// startWorker starts the testworker bin on url and waits until it is
// ready. The process is killed, if still running, when the test ends.
func startWorker(t *testing.T, bin, url string, args ...string) *workerProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-url", url}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &workerProc{cmd: cmd, stderr: new(strings.Builder), done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ready <- sc.Scan() && sc.Text() == "ready"
		_, _ = io.Copy(io.Discard, stdout)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("testworker %v did not start: %s", args, p.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("testworker %v not ready after 30s: %s", args, p.stderr)
	}
	return p
}

// A worker killed with SIGKILL in the middle of its tasks loses none of
// them: once their leases lapse, the other worker runs each exactly once,
// and the queue ends with nothing pending or active.
func TestProcessKilledMidTask(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs worker processes")
	}
	t.Parallel()
	bin := buildWorker(t)
	tr, url := processTransport(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	const n = 200
	const lease = "1500ms"
	c := runtime.NewClient(tr)
	items := make([]runtime.BatchItem, n)
	for i := range items {
		items[i] = runtime.NewBatchItem(testtask.Task, &testtask.Args{N: i})
	}
	receipts, err := c.EnqueueBatch(ctx, items)
	if err != nil {
		t.Fatalf("EnqueueBatch: %v", err)
	}

	// The doomed worker takes tasks and hangs in each one.
	doomed := startWorker(t, bin, url, "-hang", "-lease", lease, "-concurrency", "3")
	waitCount(t, ctx, tr, testtask.HungTotal, func(v int64) bool { return v >= 1 })
	survivor := startWorker(t, bin, url, "-lease", lease, "-concurrency", "8")

	// Mid-task, with its leases still held.
	if err := doomed.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-doomed.done; err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("doomed worker exited with %v, want killed", err)
	}
	doomed.done <- nil // for the cleanup

	// Every task succeeds, the hung ones on the survivor once their
	// leases lapse.
	for _, rc := range receipts {
		h := runtime.NewHandle(rc.ID, tr, runtime.UnmarshalNone)
		if err := h.Wait(ctx); err != nil {
			t.Fatalf("task %s: %v (survivor: %s)", rc.ID, err, survivor.stderr)
		}
	}
	hung, err := tr.Get(ctx, testtask.HungTotal)
	if err != nil {
		t.Fatal(err)
	}
	hungRuns := 0
	for i := range n {
		runs := count(t, ctx, tr, testtask.RunsKey(i))
		if runs != 1 {
			t.Errorf("task %d completed %d times, want exactly once", i, runs)
		}
		hungRuns += int(count(t, ctx, tr, testtask.HungKey(i)))
	}
	if fmt.Sprint(hungRuns) != string(hung) || hungRuns < 1 || hungRuns > 3 {
		t.Errorf("the doomed worker hung in %d tasks (counter %s), want 1 to 3, counted once each", hungRuns, hung)
	}
	stats, err := tr.Stats(ctx, testtask.Task.Def.Queue)
	if err != nil {
		t.Fatal(err)
	}
	if want := (runtime.QueueStats{Queue: testtask.Task.Def.Queue}); stats != want {
		t.Errorf("Stats after every task ran = %+v, want nothing pending, delayed, active or dead", stats)
	}

	// The survivor drains and stops on SIGTERM.
	if err := survivor.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-survivor.done; err != nil {
		t.Errorf("survivor exited with %v: %s", err, survivor.stderr)
	}
	survivor.done <- nil
}

// count reads a counter; absent is 0.
func count(t *testing.T, ctx context.Context, s runtime.Store, key string) int64 {
	t.Helper()
	v, err := s.Get(ctx, key)
	if errors.Is(err, runtime.ErrNotFound) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	if _, err := fmt.Sscan(string(v), &n); err != nil {
		t.Fatalf("counter %s = %q: %v", key, v, err)
	}
	return n
}

// waitCount polls a counter the worker processes write until ok holds:
// nothing in another process can notify the test.
func waitCount(t *testing.T, ctx context.Context, s runtime.Store, key string, ok func(int64) bool) {
	t.Helper()
	for !ok(count(t, ctx, s, key)) {
		select {
		case <-ctx.Done():
			t.Fatalf("counter %s never reached its mark", key)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
