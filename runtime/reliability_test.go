package runtime_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

// Backoff overrides the annotation's backoff for one call: the retry waits
// at least its minimum.
func TestBackoffOption(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	task := newTask("test.Backoff", "q", 1) // 1ms..5ms by default
	var (
		mu   sync.Mutex
		runs []time.Time
	)
	b.register(t, task, func(context.Context, *addArgs) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		runs = append(runs, time.Now())
		if len(runs) == 1 {
			return 0, errors.New("once")
		}
		return 1, nil
	})
	b.start(t)
	const lo = 300 * time.Millisecond
	if _, err := b.enqueue(t, task, 0, 0, runtime.Backoff(lo, lo)).Get(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if gap := runs[1].Sub(runs[0]); gap < lo {
		t.Fatalf("retried %v after the failure, before the %v backoff", gap, lo)
	}
}

// A singleton lock left by a worker that died frees at the end of its TTL,
// and the task waiting for it then runs, its retries untouched.
func TestSingletonLockOfDeadWorkerExpires(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	task := newTask("test.Single", "q", 0)
	started := make(chan runtime.TaskInfo, 1)
	b.register(t, task, func(ctx context.Context, a *addArgs) (int, error) {
		info, _ := runtime.Info(ctx)
		started <- info
		return a.A + a.B, nil
	})
	const ttl = 400 * time.Millisecond
	// The lock as a dead worker's would be: taken, never released.
	if err := b.tr.Put(t.Context(), "lock:report", []byte("dead"), ttl); err != nil {
		t.Fatal(err)
	}
	taken := time.Now()
	h := b.enqueue(t, task, 1, 2, runtime.Singleton("report"))
	b.start(t)
	if got, err := h.Get(waitCtx(t)); err != nil || got != 3 {
		t.Fatalf("Get = %d, %v", got, err)
	}
	info := <-started
	if since := time.Since(taken); since < ttl {
		t.Fatalf("ran %v after the lock was taken, before its %v TTL", since, ttl)
	}
	if info.Attempt != 0 {
		t.Fatalf("deferrals counted as attempts: attempt %d", info.Attempt)
	}
	if _, err := b.tr.Get(t.Context(), "lock:report"); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("the lock is still held after the task: %v", err)
	}
}

// storeless hides a transport's store from a worker.
type storeless struct{ runtime.Transport }

// A singleton task on a worker without a store to lock in is
// dead-lettered with an error that says so.
func TestSingletonNeedsStore(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	task := newTask("test.Single", "q", 0)
	b.enqueue(t, task, 1, 2, runtime.Singleton("k"))
	w := runtime.NewWorker(storeless{b.tr}, runtime.WorkerConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := runtime.Register(w, task, add); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	dl := deadLetters(t, b.tr, "q", 1)[0]
	if dl.Reason != runtime.ReasonFailed || !strings.Contains(dl.Error, `singleton "k"`) || !strings.Contains(dl.Error, "no result store") {
		t.Fatalf("dead letter %+v; want a failure naming the singleton key and the missing store", dl)
	}
}
