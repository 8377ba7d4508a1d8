package transporttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

// RunReliability runs the worker's reliability cases against the
// transports factory returns, which must also be runtime.Stores (a Redis
// or memory transport, or a RabbitMQ transport given a store): a crash is
// not a handler failure, a task that keeps killing its workers is
// dead-lettered at the delivery limit, dead letters keep every error with
// its time and can be listed, fetched, requeued and purged, a handler that
// ignores its timeout is abandoned without freezing the worker, unique
// keys hold under contention, singleton tasks never overlap, and a drain
// loses nothing. Every case runs in parallel.
func RunReliability(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	t.Helper()
	t.Run("reliability", func(t *testing.T) {
		t.Parallel()
		for name, run := range map[string]func(*testing.T, func(*testing.T) runtime.Transport){
			"CrashIsNotAFailure":      testCrashIsNotAFailure,
			"DeliveryLimit":           testDeliveryLimit,
			"DeadLetterRecords":       testDeadLetterRecords,
			"TimeoutAbandonsHandler":  testTimeoutAbandonsHandler,
			"UniqueUnderContention":   testUniqueUnderContention,
			"SingletonNeverOverlaps":  testSingletonNeverOverlaps,
			"DrainLosesNothing":       testDrainLosesNothing,
			"DrainHandsBackAtOnce":    testDrainHandsBackAtOnce,
			"RetryPolicy":             testRetryPolicy,
			"ExpiredIsRecorded":       testExpiredIsRecorded,
			"LockOfDeadHolderExpires": testLockOfDeadHolderExpires,
			"DeferralsAreNotCrashes":  testDeferralsAreNotCrashes,
		} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				run(t, factory)
			})
		}
	})
}

// relBundle is a transport that is also a store, with a client.
type relBundle struct {
	*bundle
	store runtime.Store
	c     *runtime.Client
}

func setupRel(t *testing.T, factory func(t *testing.T) runtime.Transport) *relBundle {
	t.Helper()
	b := setup(t, factory)
	s, ok := b.tr.(runtime.Store)
	if !ok {
		t.Fatalf("%T is not a runtime.Store; give the transport a store", b.tr)
	}
	return &relBundle{bundle: b, store: s, c: runtime.NewClient(b.tr)}
}

// task returns a task on the case's queue with fast retries.
func (b *relBundle) task(name string, retries int) *runtime.Task[int] {
	task := flowTask(name, b.queue)
	task.Def.Retries = retries
	return task
}

// worker returns a quiet worker on the case's queue.
func (b *relBundle) worker(cfg runtime.WorkerConfig) *runtime.Worker {
	cfg.Queues = []string{b.queue}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	return runtime.NewWorker(b.tr, cfg)
}

func (b *relBundle) enqueue(t *testing.T, task *runtime.Task[int], a int, opts ...runtime.Option) *runtime.Handle[int] {
	t.Helper()
	h, err := runtime.Enqueue(t.Context(), b.c, task, &addArgs{A: a, B: 1}, opts...)
	if err != nil {
		t.Fatalf("enqueue %s(%d): %v", task.Def.Name, a, err)
	}
	return h
}

// deadLetters waits for n dead letters on the case's queue.
func (b *relBundle) deadLetters(t *testing.T, n int) []runtime.DeadLetter {
	t.Helper()
	var dls []runtime.DeadLetter
	waitFor(t, fmt.Sprintf("%d dead letters", n), func() bool {
		var err error
		dls, err = runtime.ListDeadLetters(t.Context(), b.tr, b.queue, runtime.DeadLetterFilter{}, 0)
		if err != nil {
			t.Fatalf("ListDeadLetters: %v", err)
		}
		return len(dls) >= n
	})
	if len(dls) != n {
		t.Fatalf("got %d dead letters, want %d: %+v", len(dls), n, dls)
	}
	return dls
}

// lapse fetches the task under a short lease and lets the lease lapse, as
// a worker that died mid-task would.
func (b *relBundle) lapse(t *testing.T, id string) {
	t.Helper()
	ds := b.fetch(t, 1, 200*time.Millisecond, b.queue)
	if ds[0].ID != id {
		t.Fatalf("fetched %s, want %s", ds[0].ID, id)
	}
}

// A worker that died holding a task is a crash, not a failure: the task
// runs again with its attempt count unchanged, and a task with no retries
// left is not dead-lettered for it.
func testCrashIsNotAFailure(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	b := setupRel(t, factory)
	task := b.task("rel.Once", 0)
	h := b.enqueue(t, task, 1)
	b.lapse(t, h.ID())
	logs := new(logBuffer)
	w := b.worker(runtime.WorkerConfig{Lease: 2 * time.Second, Logger: logs.logger()})
	infos := make(chan runtime.TaskInfo, 4)
	register(t, w, task, func(ctx context.Context, a *addArgs) (int, error) {
		info, _ := runtime.Info(ctx)
		infos <- info
		return a.A + a.B, nil
	})
	startWorker(t, w)
	if got, err := h.Get(waitCtx(t)); err != nil || got != 2 {
		t.Fatalf("Get = %d, %v; want 2", got, err)
	}
	info := <-infos
	if info.Attempt != 0 || info.Deliveries < 2 || info.Crashes != info.Deliveries-1 {
		t.Fatalf("after a crash the handler saw attempt %d, delivery %d, crashes %d; want attempt 0 (a crash is not a failure), delivery 2 or more, every earlier one a crash",
			info.Attempt, info.Deliveries, info.Crashes)
	}
	if log := logs.String(); !strings.Contains(log, "redelivered after its worker died") || !strings.Contains(log, "crashes=") {
		t.Fatalf("the crash was not logged:\n%s", log)
	}
	if dls, err := b.tr.DeadLetters(t.Context(), b.queue, 0); err != nil || len(dls) != 0 {
		t.Fatalf("DeadLetters = %+v, %v; want none", dls, err)
	}
}

// A task whose workers keep dying (its lease lapses DeliveryLimit times)
// is dead-lettered as a poison message, never run again, and the failure
// is recorded; other tasks keep flowing.
func testDeliveryLimit(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	b := setupRel(t, factory)
	task := b.task("rel.Poison", 5)
	h := b.enqueue(t, task, 1)
	for range 2 {
		b.lapse(t, h.ID())
	}
	w := b.worker(runtime.WorkerConfig{DeliveryLimit: 2})
	var runs atomic.Int32
	register(t, w, task, func(_ context.Context, a *addArgs) (int, error) {
		if a.A == 1 {
			runs.Add(1)
		}
		return a.A + a.B, nil
	})
	startWorker(t, w)
	err := h.Wait(waitCtx(t))
	if err == nil || !strings.Contains(err.Error(), string(runtime.ReasonDeliveryLimit)) {
		t.Fatalf("Wait = %v; want the delivery limit", err)
	}
	if got, err := b.enqueue(t, task, 5).Get(waitCtx(t)); err != nil || got != 6 {
		t.Fatalf("a later task: %d, %v", got, err)
	}
	dl := b.deadLetters(t, 1)[0]
	if dl.Reason != runtime.ReasonDeliveryLimit || dl.Task != task.Def.Name || !strings.Contains(dl.Error, "abandoned 2 times") {
		t.Fatalf("dead letter %+v; want reason delivery_limit after 2 abandoned deliveries", dl)
	}
	if n := runs.Load(); n != 0 {
		t.Fatalf("the poison task ran %d times", n)
	}
}

// A dead letter records the task, its arguments, its attempts, every
// error with its time and the reason; a panic keeps its stack in the dead
// letter and the task's record. Dead letters are listed by reason, fetched
// by ID, requeued by filter and purged.
func testDeadLetterRecords(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	b := setupRel(t, factory)
	fails := b.task("rel.Fails", 2)
	panics := b.task("rel.Panics", 0)
	w := b.worker(runtime.WorkerConfig{})
	var panicked atomic.Int32
	register(t, w, fails, func(ctx context.Context, _ *addArgs) (int, error) {
		info, _ := runtime.Info(ctx)
		return 0, fmt.Errorf("boom %d", info.Attempt)
	})
	register(t, w, panics, func(_ context.Context, a *addArgs) (int, error) {
		if panicked.Add(1) == 1 {
			var m map[string]int
			m["x"] = a.A // the first run panics
		}
		return a.A + a.B, nil
	})
	start := time.Now()
	hf := b.enqueue(t, fails, 7)
	hp := b.enqueue(t, panics, 8)
	startWorker(t, w)
	if err := hp.Wait(waitCtx(t)); err == nil || !strings.Contains(err.Error(), "goroutine ") {
		t.Fatalf("the panicked task's error %v has no stack", err)
	}
	if got, err := b.enqueue(t, b.task("rel.Panics", 0), 1).Get(waitCtx(t)); err != nil || got != 2 {
		t.Fatalf("the worker stopped serving after a panic: %d, %v", got, err)
	}
	if err := hf.Wait(waitCtx(t)); err == nil {
		t.Fatal("the failing task succeeded")
	}
	b.deadLetters(t, 2)

	failed, err := runtime.ListDeadLetters(t.Context(), b.tr, b.queue, runtime.DeadLetterFilter{Reason: runtime.ReasonFailed}, 0)
	if err != nil || len(failed) != 1 {
		t.Fatalf("ListDeadLetters(failed) = %+v, %v; want 1", failed, err)
	}
	dl := failed[0]
	if dl.ID != hf.ID() || dl.Task != fails.Def.Name || dl.Attempts != 3 || string(dl.Args) != `{"a":7,"b":1}` {
		t.Fatalf("dead letter %s task %s attempts %d args %s; want %s %s 3 {\"a\":7,\"b\":1}", dl.ID, dl.Task, dl.Attempts, dl.Args, hf.ID(), fails.Def.Name)
	}
	if len(dl.Errors) != 3 {
		t.Fatalf("dead letter has %d errors, want 3: %+v", len(dl.Errors), dl.Errors)
	}
	prev := start.Add(-time.Second) // clocks of brokers and workers may differ a little
	for i, e := range dl.Errors {
		if !strings.Contains(e.Error, fmt.Sprintf("boom %d", i)) || e.At.Before(prev) {
			t.Fatalf("error %d is %q at %v; want boom %d, no earlier than %v", i, e.Error, e.At, i, prev)
		}
		prev = e.At
	}
	got, err := runtime.GetDeadLetter(t.Context(), b.tr, b.queue, hp.ID())
	if err != nil || got.Reason != runtime.ReasonPanicked || !strings.Contains(got.Error, "goroutine ") || len(got.Errors) != 1 {
		t.Fatalf("GetDeadLetter(panicked) = %+v, %v; want reason panicked with its stack", got, err)
	}
	if _, err := runtime.GetDeadLetter(t.Context(), b.tr, b.queue, "nope"); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("GetDeadLetter(unknown) = %v; want runtime.ErrNotFound", err)
	}

	in, ok := b.tr.(runtime.Inspector)
	if !ok {
		return
	}
	n, err := runtime.RequeueDeadLetters(t.Context(), b.tr, b.queue, runtime.DeadLetterFilter{Task: panics.Def.Name})
	if err != nil || n != 1 {
		t.Fatalf("RequeueDeadLetters(%s) = %d, %v; want 1", panics.Def.Name, n, err)
	}
	waitFor(t, "the requeued task ran", func() bool {
		r, err := hp.Status(t.Context())
		return err == nil && r.State == runtime.StateSucceeded
	})
	if n, err := in.PurgeDeadLetters(t.Context(), b.queue); err != nil || n != 1 {
		t.Fatalf("PurgeDeadLetters = %d, %v; want 1", n, err)
	}
}

// A task's timeout is its handler's ctx deadline: a handler that honours
// it fails the attempt, which retries. A handler that ignores its ctx is
// abandoned once its timeout and grace have passed, counted and logged:
// the worker, with a single slot, keeps serving other tasks, and the stuck
// task retries, then is dead-lettered as timed out.
func testTimeoutAbandonsHandler(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	b := setupRel(t, factory)
	stuck := b.task("rel.Stuck", 1)
	polite := b.task("rel.Polite", 1)
	fine := b.task("rel.Fine", 0)
	logs := new(logBuffer)
	w := b.worker(runtime.WorkerConfig{Concurrency: 1, TimeoutGrace: time.Second, Logger: logs.logger()})
	unblock := make(chan struct{})
	t.Cleanup(func() { close(unblock) }) // the abandoned handlers return at the end
	var stuckRuns, politeRuns atomic.Int32
	register(t, w, stuck, func(context.Context, *addArgs) (int, error) {
		stuckRuns.Add(1)
		<-unblock // ignores its ctx
		return 0, nil
	})
	const timeout = 200 * time.Millisecond
	register(t, w, polite, func(ctx context.Context, _ *addArgs) (int, error) {
		politeRuns.Add(1)
		deadline, ok := ctx.Deadline()
		if left := time.Until(deadline); !ok || left > timeout {
			return 0, runtime.Permanent(fmt.Errorf("ctx deadline %v away (set: %v); want at most the %v timeout", left, ok, timeout))
		}
		<-ctx.Done()
		return 0, ctx.Err()
	})
	register(t, w, fine, func(_ context.Context, a *addArgs) (int, error) { return a.A + a.B, nil })
	hs := b.enqueue(t, stuck, 0, runtime.Timeout(timeout))
	hp := b.enqueue(t, polite, 0, runtime.Timeout(timeout))
	var hs2 []*runtime.Handle[int]
	for i := range 5 {
		hs2 = append(hs2, b.enqueue(t, fine, i))
	}
	startWorker(t, w)
	for i, h := range hs2 {
		if got, err := h.Get(waitCtx(t)); err != nil || got != i+1 {
			t.Fatalf("task %d behind a stuck one: %d, %v", i, got, err)
		}
	}
	err := hs.Wait(waitCtx(t))
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("stuck task: Wait = %v; want a timeout", err)
	}
	if err := hp.Wait(waitCtx(t)); err == nil || !strings.Contains(err.Error(), context.DeadlineExceeded.Error()) {
		t.Fatalf("task honouring its timeout: Wait = %v; want %v", err, context.DeadlineExceeded)
	}
	dls := b.deadLetters(t, 2)
	for _, dl := range dls {
		switch dl.ID {
		case hs.ID():
			for _, s := range []string{"timed out", stuck.Def.Name, b.queue, "abandoned"} {
				if !strings.Contains(dl.Error, s) {
					t.Errorf("dead letter error %q does not mention %q", dl.Error, s)
				}
			}
			if dl.Attempts != 2 || stuckRuns.Load() != 2 || w.Abandoned() != 2 {
				t.Fatalf("attempts %d, runs %d, abandoned %d; want 2 each", dl.Attempts, stuckRuns.Load(), w.Abandoned())
			}
		case hp.ID():
			if dl.Attempts != 2 || politeRuns.Load() != 2 || dl.Reason != runtime.ReasonFailed {
				t.Fatalf("task honouring its timeout: attempts %d, runs %d, reason %s; want 2, 2, failed", dl.Attempts, politeRuns.Load(), dl.Reason)
			}
		default:
			t.Fatalf("unexpected dead letter %+v", dl)
		}
	}
	if log := logs.String(); strings.Count(log, "abandoned") < 2 || !strings.Contains(log, stuck.Def.Name) {
		t.Fatalf("the abandoned handlers were not logged:\n%s", log)
	}
}

// Fifty concurrent enqueues of one unique key make exactly one task; the
// key frees when the task completes, and at the end of its window.
func testUniqueUnderContention(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	b := setupRel(t, factory)
	task := b.task("rel.Unique", 0)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		handles  []*runtime.Handle[int]
		dups     int
		unwanted []error
	)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := runtime.Enqueue(t.Context(), b.c, task, &addArgs{A: i, B: 1}, runtime.UniqueKey("k"))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				handles = append(handles, h)
			case errors.Is(err, runtime.ErrDuplicate):
				dups++
			default:
				unwanted = append(unwanted, err)
			}
		}()
	}
	wg.Wait()
	if len(handles) != 1 || dups != 49 || len(unwanted) != 0 {
		t.Fatalf("50 concurrent enqueues of one key: %d tasks, %d duplicates, errors %v; want 1 and 49", len(handles), dups, unwanted)
	}
	w := b.worker(runtime.WorkerConfig{})
	register(t, w, task, func(_ context.Context, a *addArgs) (int, error) { return a.A + a.B, nil })
	startWorker(t, w)
	if _, err := handles[0].Get(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.enqueue(t, task, 1, runtime.UniqueKey("k")).Get(waitCtx(t)); err != nil {
		t.Fatalf("the key did not free on completion: %v", err)
	}

	// A window's end frees the key of a task that never ran.
	idle := flowTask("rel.Idle", b.queue+".idle")
	idle.Def.Unique = 500 * time.Millisecond
	if _, err := runtime.Enqueue(t.Context(), b.c, idle, &addArgs{A: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := runtime.Enqueue(t.Context(), b.c, idle, &addArgs{A: 1}); !errors.Is(err, runtime.ErrDuplicate) {
		t.Fatalf("second enqueue within the window: %v; want runtime.ErrDuplicate", err)
	}
	waitFor(t, "the unique window to end", func() bool {
		_, err := runtime.Enqueue(t.Context(), b.c, idle, &addArgs{A: 1})
		return err == nil
	})
}

// Tasks with one singleton key never run at the same time, even on two
// workers with free slots; the ones deferred meanwhile use up none of
// their retries.
func testSingletonNeverOverlaps(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	b := setupRel(t, factory)
	task := b.task("rel.Single", 0)
	free := b.task("rel.Free", 0)
	var running, most atomic.Int32
	handler := func(ctx context.Context, a *addArgs) (int, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(30 * time.Millisecond)
		if info, _ := runtime.Info(ctx); info.Attempt != 0 {
			return 0, fmt.Errorf("attempt %d", info.Attempt)
		}
		return a.A + a.B, nil
	}
	for range 2 {
		w := b.worker(runtime.WorkerConfig{Concurrency: 4})
		register(t, w, task, handler)
		register(t, w, free, func(_ context.Context, a *addArgs) (int, error) { return a.A, nil })
		startWorker(t, w)
	}
	var hs []*runtime.Handle[int]
	for i := range 6 {
		hs = append(hs, b.enqueue(t, task, i, runtime.Singleton("only-one")))
	}
	if _, err := b.enqueue(t, free, 1).Get(waitCtx(t)); err != nil {
		t.Fatalf("a task without the key: %v", err)
	}
	for i, h := range hs {
		if got, err := h.Get(waitCtx(t)); err != nil || got != i+1 {
			t.Fatalf("singleton task %d: %d, %v", i, got, err)
		}
	}
	if m := most.Load(); m != 1 {
		t.Fatalf("%d singleton tasks ran at once; want 1", m)
	}
}

// Cancelling Run hands back what has not started at once and, after the
// drain timeout, the tasks whose handlers were cancelled: another worker
// then runs every one, none counted as a failed attempt.
func testDrainLosesNothing(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	b := setupRel(t, factory)
	task := b.task("rel.Drain", 0)
	var hs []*runtime.Handle[int]
	for i := range 6 {
		hs = append(hs, b.enqueue(t, task, i))
	}
	first := b.worker(runtime.WorkerConfig{Concurrency: 2, DrainTimeout: 200 * time.Millisecond})
	started := make(chan struct{}, 6)
	register(t, first, task, func(ctx context.Context, _ *addArgs) (int, error) {
		started <- struct{}{}
		<-ctx.Done() // runs until cancelled by the drain timeout
		return 0, ctx.Err()
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- first.Run(ctx) }()
	for range 2 {
		select {
		case <-started:
		case <-time.After(eventually):
			cancel()
			t.Fatal("the first worker never started two tasks")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after a drain: %v", err)
	}

	second := b.worker(runtime.WorkerConfig{Concurrency: 4})
	infos := make(chan runtime.TaskInfo, 6)
	register(t, second, task, func(ctx context.Context, a *addArgs) (int, error) {
		info, _ := runtime.Info(ctx)
		infos <- info
		return a.A + a.B, nil
	})
	startWorker(t, second)
	for i, h := range hs {
		if got, err := h.Get(waitCtx(t)); err != nil || got != i+1 {
			t.Fatalf("task %d after the drain: %d, %v", i, got, err)
		}
	}
	for range 6 {
		if info := <-infos; info.Attempt != 0 {
			t.Fatalf("task %s ran as attempt %d; a drain must not count as a failure", info.ID, info.Attempt)
		}
	}
	if dls, err := b.tr.DeadLetters(t.Context(), b.queue, 0); err != nil || len(dls) != 0 {
		t.Fatalf("DeadLetters = %+v, %v; want none", dls, err)
	}
}

// Cancelling Run stops fetching and hands back at once the tasks not
// started: another worker runs them while the first still drains, and the
// running handlers finish within the drain timeout, each task run once.
func testDrainHandsBackAtOnce(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	b := setupRel(t, factory)
	task := b.task("rel.Drain", 0)
	var hs []*runtime.Handle[int]
	for i := range 6 {
		hs = append(hs, b.enqueue(t, task, i))
	}
	var (
		mu   sync.Mutex
		runs = make(map[int]int)
	)
	count := func(a *addArgs) {
		mu.Lock()
		defer mu.Unlock()
		runs[a.A]++
	}
	first := b.worker(runtime.WorkerConfig{Concurrency: 2, DrainTimeout: time.Minute})
	started := make(chan struct{}, 6)
	finish := make(chan struct{})
	register(t, first, task, func(_ context.Context, a *addArgs) (int, error) {
		count(a)
		started <- struct{}{}
		<-finish // finishes only when the case says so, past the cancel
		return a.A + a.B, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	var runErr error
	stopped := make(chan struct{})
	go func() { runErr = first.Run(ctx); close(stopped) }()
	var once sync.Once
	release := func() { once.Do(func() { close(finish) }) }
	defer func() { cancel(); release(); <-stopped }()
	for range 2 {
		select {
		case <-started:
		case <-time.After(eventually):
			t.Fatal("the first worker never started two tasks")
		}
	}
	cancel()

	second := b.worker(runtime.WorkerConfig{Concurrency: 4})
	register(t, second, task, func(_ context.Context, a *addArgs) (int, error) {
		count(a)
		return a.A + a.B, nil
	})
	startWorker(t, second)
	waitFor(t, "the second worker to run the 4 tasks the first had not started", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(runs) == 6
	})
	select {
	case <-stopped:
		t.Fatalf("the first worker's Run returned (%v) while its handlers ran", runErr)
	default:
	}
	release()
	<-stopped
	if runErr != nil {
		t.Fatalf("Run after a drain: %v", runErr)
	}
	for i, h := range hs {
		if got, err := h.Get(waitCtx(t)); err != nil || got != i+1 {
			t.Fatalf("task %d: %d, %v", i, got, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for a, n := range runs {
		if n != 1 {
			t.Errorf("task %d ran %d times", a, n)
		}
	}
}

// A task's retry waits for its call's Backoff rather than its
// annotation's, or for the RetryAfter its handler returned; a Permanent
// error dead-letters it at once, with its retries unused.
func testRetryPolicy(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	b := setupRel(t, factory)
	task := b.task("rel.Retry", 3) // backoff 1ms..5ms
	const (
		backoff = 300 * time.Millisecond
		after   = 400 * time.Millisecond
	)
	var (
		mu   sync.Mutex
		runs = make(map[int][]time.Time)
	)
	w := b.worker(runtime.WorkerConfig{})
	register(t, w, task, func(_ context.Context, a *addArgs) (int, error) {
		mu.Lock()
		runs[a.A] = append(runs[a.A], time.Now())
		n := len(runs[a.A])
		mu.Unlock()
		switch {
		case a.A == 3:
			return 0, runtime.Permanent(errors.New("bad input"))
		case n > 1:
			return a.A + a.B, nil
		case a.A == 2:
			return 0, runtime.RetryAfter(errors.New("busy"), after)
		default:
			return 0, errors.New("once")
		}
	})
	hb := b.enqueue(t, task, 1, runtime.Backoff(backoff, backoff))
	ha := b.enqueue(t, task, 2)
	hp := b.enqueue(t, task, 3)
	startWorker(t, w)
	for _, c := range []struct {
		h    *runtime.Handle[int]
		a    int
		wait time.Duration
		what string
	}{{hb, 1, backoff, "the call's Backoff"}, {ha, 2, after, "RetryAfter"}} {
		if got, err := c.h.Get(waitCtx(t)); err != nil || got != c.a+1 {
			t.Fatalf("task %d: %d, %v", c.a, got, err)
		}
		mu.Lock()
		r := runs[c.a]
		mu.Unlock()
		if len(r) != 2 {
			t.Fatalf("task %d ran %d times, want 2", c.a, len(r))
		}
		if gap := r[1].Sub(r[0]); gap < c.wait {
			t.Errorf("task %d retried %v after its failure, before the %v of %s", c.a, gap, c.wait, c.what)
		}
	}
	if err := hp.Wait(waitCtx(t)); err == nil || !strings.Contains(err.Error(), "bad input") {
		t.Fatalf("permanent failure: Wait = %v; want bad input", err)
	}
	dl := b.deadLetters(t, 1)[0]
	mu.Lock()
	n := len(runs[3])
	mu.Unlock()
	if dl.ID != hp.ID() || dl.Reason != runtime.ReasonFailed || dl.Attempts != 1 || n != 1 || len(dl.Errors) != 1 {
		t.Fatalf("permanent failure: dead letter %s reason %s attempts %d, %d errors, %d runs; want %s failed after 1 run",
			dl.ID, dl.Reason, dl.Attempts, len(dl.Errors), n, hp.ID())
	}
}

// A task not started before it expires is dead-lettered as expired,
// never run, and recorded as expired; one that has not expired runs.
func testExpiredIsRecorded(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	b := setupRel(t, factory)
	task := b.task("rel.Expiring", 0)
	var ran atomic.Int32
	w := b.worker(runtime.WorkerConfig{})
	register(t, w, task, func(_ context.Context, a *addArgs) (int, error) {
		if a.A == 1 {
			ran.Add(1)
		}
		return a.A + a.B, nil
	})
	h := b.enqueue(t, task, 1, runtime.Expires(50*time.Millisecond))
	fresh := b.enqueue(t, task, 2, runtime.Expires(time.Hour))
	time.Sleep(150 * time.Millisecond)
	startWorker(t, w)
	if got, err := fresh.Get(waitCtx(t)); err != nil || got != 3 {
		t.Fatalf("a task within its expiry: %d, %v", got, err)
	}
	if err := h.Wait(waitCtx(t)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("Wait = %v; want expired", err)
	}
	if r, err := h.Status(t.Context()); err != nil || r.State != runtime.StateExpired {
		t.Fatalf("Status = %+v, %v; want state %s", r, err, runtime.StateExpired)
	}
	dl := b.deadLetters(t, 1)[0]
	if dl.ID != h.ID() || dl.Reason != runtime.ReasonExpired || dl.Task != task.Def.Name || !strings.Contains(dl.Error, "not started before") {
		t.Fatalf("dead letter %+v; want %s expired", dl, h.ID())
	}
	if n := ran.Load(); n != 0 {
		t.Fatalf("the expired task ran %d times", n)
	}
}

// A lock taken with TryLock excludes other holders and Singleton tasks of
// its key; left by a holder that died (never released), it frees at the
// end of its TTL, and the singleton task waiting for it then runs, its
// retries untouched. Unlock frees a lock at once; Extend renews it, and
// fails once it has expired.
func testLockOfDeadHolderExpires(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	b := setupRel(t, factory)
	key := b.queue + ".report"
	const ttl = 400 * time.Millisecond
	if _, err := runtime.TryLock(t.Context(), b.store, key, ttl); err != nil {
		t.Fatalf("TryLock: %v", err)
	}
	taken := time.Now()
	if _, err := runtime.TryLock(t.Context(), b.store, key, ttl); !errors.Is(err, runtime.ErrLocked) {
		t.Fatalf("second TryLock = %v; want runtime.ErrLocked", err)
	}
	task := b.task("rel.Single", 0)
	w := b.worker(runtime.WorkerConfig{})
	infos := make(chan runtime.TaskInfo, 1)
	register(t, w, task, func(ctx context.Context, a *addArgs) (int, error) {
		info, _ := runtime.Info(ctx)
		infos <- info
		return a.A + a.B, nil
	})
	h := b.enqueue(t, task, 1, runtime.Singleton(key))
	startWorker(t, w)
	if got, err := h.Get(waitCtx(t)); err != nil || got != 2 {
		t.Fatalf("Get = %d, %v", got, err)
	}
	if since := time.Since(taken); since < ttl {
		t.Fatalf("ran %v after the lock was taken, before its %v TTL", since, ttl)
	}
	if info := <-infos; info.Attempt != 0 {
		t.Fatalf("deferrals counted as attempts: attempt %d", info.Attempt)
	}

	// The task released the lock; a live holder unlocks at once.
	lk, err := runtime.TryLock(t.Context(), b.store, key, ttl)
	if err != nil {
		t.Fatalf("TryLock after the task: %v", err)
	}
	if err := lk.Extend(t.Context()); err != nil {
		t.Fatalf("Extend: %v", err)
	}
	if err := lk.Unlock(t.Context()); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	lk, err = runtime.TryLock(t.Context(), b.store, key, 100*time.Millisecond)
	if err != nil {
		t.Fatalf("TryLock after Unlock: %v", err)
	}
	waitFor(t, "the lock's TTL to pass", func() bool {
		_, err := runtime.TryLock(t.Context(), b.store, key, ttl)
		if err != nil && !errors.Is(err, runtime.ErrLocked) {
			t.Fatalf("TryLock: %v", err)
		}
		return err == nil
	})
	if err := lk.Extend(t.Context()); !errors.Is(err, runtime.ErrLockLost) {
		t.Fatalf("Extend of an expired lock = %v; want runtime.ErrLockLost", err)
	}
}

// Tasks deferred, again and again, by a global concurrency limit or a
// singleton lock are neither crashes nor failures: with a delivery limit
// of 1 none is dead-lettered, and each runs once, as its first attempt.
func testDeferralsAreNotCrashes(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	b := setupRel(t, factory)
	if _, ok := b.store.(runtime.Limiter); !ok {
		t.Skipf("%T keeps no global limits (runtime.Limiter)", b.store)
	}
	limited := b.task("rel.Limited", 0)
	limited.Def.Concurrency = 1
	single := b.task("rel.Single", 0)
	w := b.worker(runtime.WorkerConfig{Concurrency: 8, DeliveryLimit: 1})
	var runs atomic.Int32
	handler := func(ctx context.Context, a *addArgs) (int, error) {
		runs.Add(1)
		if info, _ := runtime.Info(ctx); info.Attempt != 0 || info.Crashes != 0 {
			return 0, runtime.Permanent(fmt.Errorf("attempt %d, crashes %d; want 0 and 0", info.Attempt, info.Crashes))
		}
		time.Sleep(50 * time.Millisecond)
		return a.A + a.B, nil
	}
	register(t, w, limited, handler)
	register(t, w, single, handler)
	var hs []*runtime.Handle[int]
	for i := range 4 {
		hs = append(hs, b.enqueue(t, limited, i), b.enqueue(t, single, i, runtime.Singleton(b.queue)))
	}
	startWorker(t, w)
	for i, h := range hs {
		if got, err := h.Get(waitCtx(t)); err != nil || got != i/2+1 {
			t.Fatalf("task %d: %d, %v", i, got, err)
		}
	}
	if n := runs.Load(); n != int32(len(hs)) {
		t.Fatalf("%d runs of %d tasks", n, len(hs))
	}
	if dls, err := b.tr.DeadLetters(t.Context(), b.queue, 0); err != nil || len(dls) != 0 {
		t.Fatalf("DeadLetters = %+v, %v; want none", dls, err)
	}
}

// logBuffer collects a worker's logs for a case to read.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }
