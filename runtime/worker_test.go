package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/memory"
)

func TestWorkerRunsTaskAndStoresResult(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	task := newTask("test.Add", "math", 0)
	b.register(t, task, add)
	b.start(t)

	h := b.enqueue(t, task, 2, 3)
	got, err := h.Get(waitCtx(t))
	if err != nil || got != 5 {
		t.Fatalf("Get = %d, %v; want 5, nil", got, err)
	}
	st, err := h.Status(t.Context())
	if err != nil || st.State != runtime.StateSucceeded {
		t.Fatalf("Status = %+v, %v", st, err)
	}
}

func TestWorkerRetriesThenSucceeds(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	task := newTask("test.Flaky", "q", 3)
	var attempts []int
	var mu sync.Mutex
	b.register(t, task, func(ctx context.Context, a *addArgs) (int, error) {
		info, _ := runtime.Info(ctx)
		mu.Lock()
		defer mu.Unlock()
		attempts = append(attempts, info.Attempt)
		if info.Attempt < 2 {
			return 0, errors.New("transient")
		}
		return a.A, nil
	})
	b.start(t)
	if got, err := b.enqueue(t, task, 7, 0).Get(waitCtx(t)); err != nil || got != 7 {
		t.Fatalf("Get = %d, %v", got, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []int{0, 1, 2}; !slices.Equal(attempts, want) {
		t.Fatalf("attempts = %v, want %v", attempts, want)
	}
}

func TestWorkerDeadLettersAfterRetries(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	task := newTask("test.Fails", "q", 2)
	var calls atomic.Int32
	b.register(t, task, func(context.Context, *addArgs) (int, error) {
		calls.Add(1)
		return 0, errors.New("disk full")
	})
	b.start(t)
	_, err := b.enqueue(t, task, 1, 1).Get(waitCtx(t))
	te := asTaskError(t, err)
	if te.Task != "test.Fails" || te.Queue != "q" || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("error does not name the task, queue and cause: %v", err)
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("handler ran %d times, want 3 (1 + 2 retries)", n)
	}
	dl := deadLetters(t, b.tr, "q", 1)[0]
	if dl.Reason != runtime.ReasonFailed || dl.Attempts != 3 || dl.Task != "test.Fails" || !strings.Contains(dl.Error, "disk full") {
		t.Fatalf("dead letter = %+v", dl)
	}
}

func TestWorkerPermanentSkipsRetries(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	task := newTask("test.Permanent", "q", 5)
	var calls atomic.Int32
	b.register(t, task, func(context.Context, *addArgs) (int, error) {
		calls.Add(1)
		return 0, runtime.Permanent(errors.New("no such user"))
	})
	b.start(t)
	if err := b.enqueue(t, task, 1, 1).Wait(waitCtx(t)); err == nil || !strings.Contains(err.Error(), "no such user") {
		t.Fatalf("Wait = %v", err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want 1", n)
	}
	if dl := deadLetters(t, b.tr, "q", 1)[0]; dl.Reason != runtime.ReasonFailed {
		t.Fatalf("reason = %s", dl.Reason)
	}
}

func TestWorkerRecoversPanics(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	boom := newTask("test.Panics", "q", 1)
	fine := newTask("test.Fine", "q", 0)
	b.register(t, boom, func(context.Context, *addArgs) (int, error) { panic("nil map") })
	b.register(t, fine, add)
	b.start(t)
	h := b.enqueue(t, boom, 0, 0)
	if got, err := b.enqueue(t, fine, 1, 2).Get(waitCtx(t)); err != nil || got != 3 {
		t.Fatalf("the worker stopped serving after a panic: %d, %v", got, err)
	}
	if err := h.Wait(waitCtx(t)); err == nil || !strings.Contains(err.Error(), "panic: nil map") {
		t.Fatalf("Wait = %v", err)
	}
	dl := deadLetters(t, b.tr, "q", 1)[0]
	if dl.Reason != runtime.ReasonPanicked || !strings.Contains(dl.Error, "goroutine") {
		t.Fatalf("dead letter has no panicked reason or stack: %+v", dl)
	}
}

func TestWorkerRetryAfterIsNotEarly(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	task := newTask("test.RetryAfter", "q", 1)
	const wait = 300 * time.Millisecond
	var first time.Time
	b.register(t, task, func(ctx context.Context, a *addArgs) (int, error) {
		if info, _ := runtime.Info(ctx); info.Attempt == 0 {
			first = time.Now()
			return 0, runtime.RetryAfter(errors.New("rate limited upstream"), wait)
		}
		return int(time.Since(first)), nil
	})
	b.start(t)
	got, err := b.enqueue(t, task, 0, 0).Get(waitCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Duration(got); d < wait {
		t.Fatalf("retried after %v, before RetryAfter's %v", d, wait)
	}
}

func TestWorkerStrictQueueOrderAndPriority(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{Queues: []string{"high", "low"}, Concurrency: 1})
	task := newTask("test.Order", "low", 0)
	var mu sync.Mutex
	var order []string
	b.register(t, task, func(ctx context.Context, a *addArgs) (int, error) {
		info, _ := runtime.Info(ctx)
		mu.Lock()
		order = append(order, info.Queue+":"+info.Headers["n"])
		mu.Unlock()
		return 0, nil
	})
	// Enqueued before the worker starts, in an order the worker must undo.
	var hs []*runtime.Handle[int]
	for _, e := range []struct {
		queue, n string
		prio     int
	}{{"low", "l1", 5}, {"high", "h1", 1}, {"low", "l2", 9}, {"high", "h2", 8}, {"high", "h3", 8}} {
		hs = append(hs, b.enqueue(t, task, 0, 0, runtime.Queue(e.queue), runtime.Priority(e.prio), runtime.Header("n", e.n)))
	}
	b.start(t)
	for _, h := range hs {
		if err := h.Wait(waitCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"high:h2", "high:h3", "high:h1", "low:l2", "low:l1"}; !slices.Equal(order, want) {
		t.Fatalf("order = %v, want %v", order, want)
	}
}

func TestWorkerTimeoutSetsDeadline(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	task := newTask("test.Slow", "q", 0)
	b.register(t, task, func(ctx context.Context, _ *addArgs) (int, error) {
		if _, ok := ctx.Deadline(); !ok {
			return 0, runtime.Permanent(errors.New("no deadline"))
		}
		<-ctx.Done()
		return 0, ctx.Err()
	})
	b.start(t)
	err := b.enqueue(t, task, 0, 0, runtime.Timeout(50*time.Millisecond)).Wait(waitCtx(t))
	if !strings.Contains(fmtErr(err), "deadline exceeded") {
		t.Fatalf("Wait = %v, want a deadline error", err)
	}
}

func TestGetInsideHandlerReturnsErrWaitInTask(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{Concurrency: 1})
	inner := newTask("test.Inner", "q", 0)
	outer := newTask("test.Outer", "q", 0)
	b.register(t, inner, add)
	b.register(t, outer, func(ctx context.Context, _ *addArgs) (int, error) {
		h, err := runtime.Enqueue(ctx, b.c, inner, &addArgs{A: 1})
		if err != nil {
			return 0, err
		}
		if _, err := h.Get(ctx); !errors.Is(err, runtime.ErrWaitInTask) {
			return 0, runtime.Permanent(errors.New("Get inside a handler did not return ErrWaitInTask"))
		}
		return 1, nil
	})
	b.start(t)
	if _, err := b.enqueue(t, outer, 0, 0).Get(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
}

func TestProgressIsReadable(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	task := newTask("test.Progress", "q", 0)
	reported, release := make(chan struct{}), make(chan struct{})
	b.register(t, task, func(ctx context.Context, _ *addArgs) (int, error) {
		if err := runtime.Progress(ctx, "halfway", map[string]any{"done": 5, "total": 10}); err != nil {
			return 0, err
		}
		close(reported)
		<-release
		return 0, nil
	})
	b.start(t)
	h := b.enqueue(t, task, 0, 0)
	<-reported
	st, err := h.Status(t.Context())
	close(release)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != runtime.StateActive || st.Progress != "halfway" || string(st.ProgressMeta) != `{"done":5,"total":10}` {
		t.Fatalf("status = %+v (meta %s)", st, st.ProgressMeta)
	}
	if err := h.Wait(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	if st, _ := h.Status(t.Context()); st.Progress != "halfway" {
		t.Fatalf("progress lost when the result was stored: %+v", st)
	}
	if err := runtime.Progress(t.Context(), "x", nil); err == nil {
		t.Fatal("Progress outside a handler did not fail")
	}
}

func TestInfoCarriesHeadersAndRequest(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	parent := newTask("test.Parent", "q", 0)
	child := newTask("test.Child", "q", 0)
	got := make(chan runtime.TaskInfo, 2)
	b.register(t, parent, func(ctx context.Context, _ *addArgs) (int, error) {
		info, _ := runtime.Info(ctx)
		got <- info
		// Enqueued from the handler: inherits the request.
		_, err := runtime.Enqueue(ctx, b.c, child, &addArgs{})
		return 0, err
	})
	b.register(t, child, func(ctx context.Context, _ *addArgs) (int, error) {
		info, _ := runtime.Info(ctx)
		got <- info
		return 0, nil
	})
	b.start(t)
	ctx := runtime.WithRequest(t.Context(), runtime.Request{Source: "frontend", TenantID: "acme", UserID: "u7"})
	if _, err := runtime.Enqueue(ctx, b.c, parent, &addArgs{}, runtime.Header("trace", "t-1"), runtime.TaskID("parent-1")); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"test.Parent", "test.Child"} {
		select {
		case info := <-got:
			if info.Task != name || info.Request == nil || info.Request.Source != "frontend" || info.Request.TenantID != "acme" {
				t.Fatalf("hop %d: info = %+v", i, info)
			}
			if i == 0 && (info.ID != "parent-1" || info.Headers["trace"] != "t-1" || info.Queue != "q" || info.Deliveries != 1) {
				t.Fatalf("parent info = %+v", info)
			}
		case <-time.After(eventually):
			t.Fatalf("hop %d never ran", i)
		}
	}
}

func TestUniqueKey(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	task := newTask("test.Unique", "q", 0)
	b.register(t, task, add)
	const n = 50
	var ok atomic.Int32
	var wg sync.WaitGroup
	var hs sync.Map
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := runtime.Enqueue(t.Context(), b.c, task, &addArgs{A: 1}, runtime.UniqueKey("order-9"))
			switch {
			case err == nil:
				ok.Add(1)
				hs.Store(h.ID(), h)
			case !errors.Is(err, runtime.ErrDuplicate):
				t.Errorf("enqueue: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Fatalf("%d of %d enqueues with one unique key succeeded, want 1", ok.Load(), n)
	}
	b.start(t)
	hs.Range(func(_, h any) bool {
		if err := h.(*runtime.Handle[int]).Wait(waitCtx(t)); err != nil {
			t.Fatal(err)
		}
		return true
	})
	// Completion frees the key.
	if _, err := runtime.Enqueue(t.Context(), b.c, task, &addArgs{}, runtime.UniqueKey("order-9")); err != nil {
		t.Fatalf("key not freed on completion: %v", err)
	}
}

// A task that finishes after its unique window lapsed, and its key went to
// another task, leaves the other task's claim alone.
func TestUniqueKeyReleaseOwnClaimOnly(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	short := newTask("test.UniqueShort", "q", 0)
	short.Def.Unique = 100 * time.Millisecond
	long := newTask("test.UniqueLong", "q", 0)
	long.Def.Unique = time.Hour
	b.register(t, short, add)
	release := make(chan struct{})
	b.register(t, long, func(context.Context, *addArgs) (int, error) {
		<-release // holds its claim until the test ends
		return 0, nil
	})
	first := b.enqueue(t, short, 1, 1, runtime.UniqueKey("k"))
	// Once the short window lapses, the key goes to a task of the other.
	for deadline := time.Now().Add(eventually); ; time.Sleep(10 * time.Millisecond) {
		_, err := runtime.Enqueue(t.Context(), b.c, long, &addArgs{}, runtime.UniqueKey("k"))
		if err == nil {
			break
		}
		if !errors.Is(err, runtime.ErrDuplicate) || time.Now().After(deadline) {
			t.Fatalf("enqueue with the key after the first task's window: %v", err)
		}
	}
	b.start(t)
	t.Cleanup(func() { close(release) }) // before the worker stops
	if err := first.Wait(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := runtime.Enqueue(t.Context(), b.c, long, &addArgs{}, runtime.UniqueKey("k")); !errors.Is(err, runtime.ErrDuplicate) {
		t.Fatalf("enqueue while the second task holds the key: %v; want runtime.ErrDuplicate (the first task's completion freed the second's claim)", err)
	}
}

func TestExpiredTaskIsDroppedAndRecorded(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	task := newTask("test.Expiring", "q", 0)
	var ran atomic.Bool
	b.register(t, task, func(context.Context, *addArgs) (int, error) { ran.Store(true); return 0, nil })
	h := b.enqueue(t, task, 0, 0, runtime.Expires(10*time.Millisecond))
	time.Sleep(50 * time.Millisecond)
	b.start(t)
	err := h.Wait(waitCtx(t))
	if err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("Wait = %v, want expired", err)
	}
	if st, _ := h.Status(t.Context()); st.State != runtime.StateExpired {
		t.Fatalf("state = %s", st.State)
	}
	if ran.Load() {
		t.Fatal("an expired task ran")
	}
	if dl := deadLetters(t, b.tr, "q", 1)[0]; dl.Reason != runtime.ReasonExpired {
		t.Fatalf("reason = %s", dl.Reason)
	}
}

func TestDelayIsNotEarly(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	task := newTask("test.Delayed", "q", 0)
	started := make(chan time.Time, 1)
	b.register(t, task, func(context.Context, *addArgs) (int, error) { started <- time.Now(); return 0, nil })
	b.start(t)
	const delay = 200 * time.Millisecond
	at := time.Now().Add(delay)
	b.enqueue(t, task, 0, 0, runtime.Delay(delay))
	select {
	case s := <-started:
		if s.Before(at) {
			t.Fatalf("started %v before its ETA", at.Sub(s))
		}
	case <-time.After(eventually):
		t.Fatal("delayed task never ran")
	}
}

func TestLeaseIsRenewedWhileRunning(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{Lease: 150 * time.Millisecond, Concurrency: 2})
	task := newTask("test.Long", "q", 0)
	var runs atomic.Int32
	b.register(t, task, func(ctx context.Context, _ *addArgs) (int, error) {
		runs.Add(1)
		time.Sleep(600 * time.Millisecond) // four leases
		info, _ := runtime.Info(ctx)
		return info.Deliveries, nil
	})
	b.start(t)
	got, err := b.enqueue(t, task, 0, 0).Get(waitCtx(t))
	if err != nil || got != 1 || runs.Load() != 1 {
		t.Fatalf("deliveries %d, runs %d, err %v: the lease lapsed while the handler ran", got, runs.Load(), err)
	}
}

func TestGracefulDrain(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{Concurrency: 1})
	task := newTask("test.Drain", "q", 0)
	started, finished := make(chan struct{}), make(chan struct{})
	var once sync.Once
	b.register(t, task, func(ctx context.Context, _ *addArgs) (int, error) {
		once.Do(func() { close(started) })
		time.Sleep(200 * time.Millisecond)
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		select {
		case finished <- struct{}{}:
		default:
		}
		return 1, nil
	})
	first := b.enqueue(t, task, 0, 0)
	for range 3 {
		b.enqueue(t, task, 0, 0)
	}
	stop := b.start(t)
	<-started
	if err := stop(); err != nil {
		t.Fatalf("Run after drain = %v", err)
	}
	if got, err := first.Get(waitCtx(t)); err != nil || got != 1 {
		t.Fatalf("the running task did not finish during the drain: %d, %v", got, err)
	}
	st, err := b.tr.Stats(t.Context(), "q")
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending != 3 || st.Active != 0 {
		t.Fatalf("after drain: %+v; want the 3 unstarted tasks pending and none active", st)
	}
}

func TestDrainTimeoutHandsTasksBack(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{Concurrency: 1, DrainTimeout: 100 * time.Millisecond})
	task := newTask("test.Stuck", "q", 3)
	started := make(chan struct{})
	b.register(t, task, func(ctx context.Context, _ *addArgs) (int, error) {
		close(started)
		<-ctx.Done()
		return 0, ctx.Err()
	})
	h := b.enqueue(t, task, 0, 0)
	stop := b.start(t)
	<-started
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st, _ := b.tr.Stats(t.Context(), "q")
	if st.Pending != 1 || st.Active != 0 || st.Dead != 0 {
		t.Fatalf("after a drain timeout: %+v; want the task handed back", st)
	}
	// Active if the active record was written before the drain (20 ms
	// into the run), pending otherwise; never an attempt.
	if s, _ := h.Status(t.Context()); (s.State != runtime.StateActive && s.State != runtime.StatePending) || s.Attempt != 0 {
		t.Fatalf("the cancelled run counted as an attempt: %+v", s)
	}
}

func TestRegisterRejectsDuplicates(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	task := newTask("test.Dup", "q", 0)
	b.register(t, task, add)
	if err := runtime.Register(b.w, task, add); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Fatalf("duplicate Register = %v", err)
	}
	if err := runtime.NewWorker(b.tr, runtime.WorkerConfig{}).Run(t.Context()); err == nil {
		t.Fatal("Run without tasks did not fail")
	}
}

func TestHandleWithoutStore(t *testing.T) {
	t.Parallel()
	h := runtime.NewHandle[int]("x", nil, nil)
	if _, err := h.Get(t.Context()); !errors.Is(err, runtime.ErrNoStore) {
		t.Fatalf("Get = %v", err)
	}
}

func TestGetRespectsContext(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	task := newTask("test.NeverRuns", "q", 0)
	h := b.enqueue(t, task, 0, 0)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := h.Get(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get = %v, want DeadlineExceeded", err)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// countingFetcher counts the tasks a worker takes with TryFetch.
type countingFetcher struct {
	*memory.Transport
	tried atomic.Int64
}

func (c *countingFetcher) TryFetch(req runtime.FetchRequest) []*runtime.Delivery {
	ds := c.Transport.TryFetch(req)
	c.tried.Add(int64(len(ds)))
	return ds
}

// fetchOnly hides the memory transport's TryFetch.
type fetchOnly struct{ runtime.Transport }

// A worker runs at most Concurrency handlers at once, whether it takes its
// next task from the transport's buffer in the slot just freed (a
// runtime.BufferedFetcher) or waits for Fetch.
func TestConcurrencyBound(t *testing.T) {
	t.Parallel()
	for _, buffered := range []bool{true, false} {
		t.Run(fmt.Sprintf("buffered=%v", buffered), func(t *testing.T) {
			t.Parallel()
			mem := memory.New()
			t.Cleanup(func() { mem.Close() })
			cf := &countingFetcher{Transport: mem}
			var tr runtime.Transport = cf
			if !buffered {
				tr = fetchOnly{mem}
			}
			const n, conc = 40, 3
			w := runtime.NewWorker(tr, runtime.WorkerConfig{Concurrency: conc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			var running, most, done atomic.Int64
			all := make(chan struct{})
			task := newTask("test.Bound", "q", 0)
			if err := runtime.Register(w, task, func(_ context.Context, a *addArgs) (int, error) {
				now := running.Add(1)
				defer running.Add(-1)
				for m := most.Load(); now > m && !most.CompareAndSwap(m, now); m = most.Load() {
				}
				time.Sleep(5 * time.Millisecond)
				if done.Add(1) == n {
					close(all)
				}
				return a.A, nil
			}); err != nil {
				t.Fatal(err)
			}
			c := runtime.NewClient(tr)
			for i := range n {
				if _, err := runtime.Enqueue(t.Context(), c, task, &addArgs{A: i}); err != nil {
					t.Fatal(err)
				}
			}
			b := &bundle{tr: mem, c: c, w: w}
			stop := b.start(t)
			select {
			case <-all:
			case <-time.After(eventually):
				t.Fatalf("%d of %d tasks ran", done.Load(), n)
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if st, err := mem.Stats(t.Context(), "q"); err != nil || st.Pending+st.Active != 0 {
				t.Fatalf("after the run: %+v, %v; want nothing left", st, err)
			}
			if m := most.Load(); m > conc || m == 0 {
				t.Errorf("%d handlers ran at once, want at most %d", m, conc)
			}
			switch tried := cf.tried.Load(); {
			case buffered && tried == 0:
				t.Errorf("no task was taken from the buffer")
			case !buffered && tried != 0:
				t.Errorf("%d tasks were taken with TryFetch through a transport without it", tried)
			}
			t.Logf("%d of %d tasks taken in a freed slot; at most %d at once", cf.tried.Load(), n, most.Load())
		})
	}
}

// goroutineID returns the ID of the calling goroutine, from its stack.
func goroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:goruntime.Stack(buf, false)]
	id, _, _ := strings.Cut(strings.TrimPrefix(string(buf), "goroutine "), " ")
	return id
}

// bufferedNoStore is the memory transport as a BufferedFetcher that is no
// Store, with an Ack slow enough that a task handed to another runner
// would start there before the Ack returned.
type bufferedNoStore struct {
	runtime.Transport
	runtime.BufferedFetcher
}

func (b bufferedNoStore) Ack(ctx context.Context, d *runtime.Delivery) error {
	time.Sleep(20 * time.Millisecond)
	return b.Transport.Ack(ctx, d)
}

// A task that settles with an ack alone is followed, in the same
// goroutine, by the next task the transport has buffered.
func TestBufferedTaskRunsInline(t *testing.T) {
	t.Parallel()
	mem := memory.New()
	t.Cleanup(func() { mem.Close() })
	// Without a store, a succeeded task settles with an ack alone.
	tr := bufferedNoStore{Transport: mem, BufferedFetcher: mem}
	b := &bundle{tr: mem, c: runtime.NewClient(mem), w: runtime.NewWorker(tr, runtime.WorkerConfig{
		Concurrency: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})}
	const n = 4
	ids := make(chan string, n)
	task := newTask("test.Inline", "q", 0)
	b.register(t, task, func(context.Context, *addArgs) (int, error) {
		ids <- goroutineID()
		return 0, nil
	})
	for i := range n {
		if _, err := runtime.Enqueue(t.Context(), b.c, task, &addArgs{A: i}); err != nil {
			t.Fatal(err)
		}
	}
	b.start(t)
	var got []string
	for range n {
		select {
		case id := <-ids:
			got = append(got, id)
		case <-time.After(eventually):
			t.Fatalf("%d of %d tasks ran", len(got), n)
		}
	}
	for _, id := range got[1:] {
		if id != got[0] {
			t.Fatalf("tasks ran in goroutines %v, want one", got)
		}
	}
}

// blockingStore holds PutRecord of one task until released.
type blockingStore struct {
	runtime.Store
	id      string
	held    chan struct{} // closed when the record's PutRecord waits
	release chan struct{}
	once    sync.Once
}

func (s *blockingStore) PutRecord(ctx context.Context, r *runtime.Record, ttl time.Duration) error {
	if r.ID == s.id && r.State == runtime.StateSucceeded {
		s.once.Do(func() { close(s.held) })
		<-s.release
	}
	return s.Store.PutRecord(ctx, r, ttl)
}

// A task whose settle writes to the store frees its slot before that
// write: the next buffered task runs while it is under way.
func TestNextTaskDoesNotWaitForRecord(t *testing.T) {
	t.Parallel()
	mem := memory.New()
	t.Cleanup(func() { mem.Close() })
	st := &blockingStore{Store: mem, held: make(chan struct{}), release: make(chan struct{})}
	w := runtime.NewWorker(mem, runtime.WorkerConfig{
		Concurrency: 1, Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	b := &bundle{tr: mem, c: runtime.NewClient(mem), w: w}
	task := newTask("test.Record", "q", 0)
	second := make(chan struct{})
	b.register(t, task, func(_ context.Context, a *addArgs) (int, error) {
		if a.A == 2 {
			close(second)
		}
		return a.A, nil
	})
	h, err := runtime.Enqueue(t.Context(), b.c, task, &addArgs{A: 1})
	if err != nil {
		t.Fatal(err)
	}
	st.id = h.ID()
	if _, err := runtime.Enqueue(t.Context(), b.c, task, &addArgs{A: 2}); err != nil {
		t.Fatal(err)
	}
	b.start(t)
	defer close(st.release)
	select {
	case <-st.held:
	case <-time.After(eventually):
		t.Fatal("the first task's record was never written")
	}
	select {
	case <-second:
	case <-time.After(eventually):
		t.Fatal("the second task did not start while the first one's record was being written")
	}
}

// Tasks fetched together all start, each in a runner of its own, even
// though each runs until all of them have started.
func TestFetchedBatchStartsTogether(t *testing.T) {
	t.Parallel()
	for _, buffered := range []bool{true, false} {
		t.Run(fmt.Sprintf("buffered=%v", buffered), func(t *testing.T) {
			t.Parallel()
			mem := memory.New()
			t.Cleanup(func() { mem.Close() })
			var tr runtime.Transport = mem
			if !buffered {
				tr = fetchOnly{mem}
			}
			const n = 6
			w := runtime.NewWorker(tr, runtime.WorkerConfig{Concurrency: n, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			b := &bundle{tr: mem, c: runtime.NewClient(mem), w: w}
			var started sync.WaitGroup
			started.Add(n)
			all := make(chan struct{})
			go func() { started.Wait(); close(all) }()
			task := newTask("test.Together", "q", 0)
			b.register(t, task, func(ctx context.Context, a *addArgs) (int, error) {
				started.Done()
				select {
				case <-all:
					return a.A, nil
				case <-ctx.Done():
					return 0, ctx.Err()
				}
			})
			for i := range n {
				if _, err := runtime.Enqueue(t.Context(), b.c, task, &addArgs{A: i}); err != nil {
					t.Fatal(err)
				}
			}
			b.start(t)
			select {
			case <-all:
			case <-time.After(eventually):
				t.Fatalf("not all %d tasks started", n)
			}
		})
	}
}
