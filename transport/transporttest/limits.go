package transporttest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

// RunLimits runs the global limit cases (DESIGN §1, rate= and
// concurrency=) against the transports and stores factory returns: the
// store, a runtime.Limiter, is the one the workers share (the transport
// itself for memory and Redis, a Redis store for RabbitMQ). It checks the
// Limiter's token bucket and semaphore, then whole workers: a task over its
// limit is deferred, not failed, and does not hold back other tasks; a rate
// set at runtime takes effect; concurrency holds across two workers, per
// key with runtime.ConcurrencyKey; a slot outlives its lease while its
// handler runs, and a slot whose holder died frees when its lease lapses.
// Every case runs in parallel.
func RunLimits(t *testing.T, factory func(t *testing.T) (runtime.Transport, runtime.Store)) {
	t.Helper()
	t.Run("limits", func(t *testing.T) {
		t.Parallel()
		for name, run := range map[string]func(*testing.T, func(*testing.T) (runtime.Transport, runtime.Store)){
			"RateBucket":          testRateBucket,
			"RateChange":          testRateChange,
			"Semaphore":           testSemaphore,
			"SemaphoreLease":      testSemaphoreLease,
			"RateDefers":          testRateDefers,
			"SetRateLimit":        testSetRateLimit,
			"SetRateUnannotated":  testSetRateUnannotated,
			"ConcurrencyAcross":   testConcurrencyAcross,
			"ConcurrencyKey":      testConcurrencyKey,
			"SlotOutlivesLease":   testSlotOutlivesLease,
			"SlotOfDeadHolder":    testSlotOfDeadHolder,
			"NoLimiterFailsFast":  testNoLimiterFailsFast,
			"RateLimitRoundTrips": testRateLimitRoundTrips,
		} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				run(t, factory)
			})
		}
	})
}

// setupLimiter returns the case's store as a Limiter, with the transport
// closed when the case ends.
func setupLimiter(t *testing.T, factory func(*testing.T) (runtime.Transport, runtime.Store)) (runtime.Transport, runtime.Store, runtime.Limiter) {
	t.Helper()
	tr, s := factory(t)
	t.Cleanup(func() {
		if err := tr.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if c, ok := s.(io.Closer); ok && any(s) != any(tr) {
			_ = c.Close()
		}
	})
	lim, ok := s.(runtime.Limiter)
	if !ok {
		t.Fatalf("store %T is not a runtime.Limiter", s)
	}
	return tr, s, lim
}

// near fails the case unless got is within [want-slack, want]: a wait
// measured from a clock that moved on since it was given.
func near(t *testing.T, what string, got, want, slack time.Duration) {
	t.Helper()
	if got > want || got < want-slack {
		t.Fatalf("%s = %v, want %v (at most %v less)", what, got, want, slack)
	}
}

func takeRate(t *testing.T, lim runtime.Limiter, key string, r runtime.Rate, horizon, spread time.Duration) (time.Duration, bool) {
	t.Helper()
	wait, reserved, err := lim.TakeRate(t.Context(), key, r, horizon, spread)
	if err != nil {
		t.Fatalf("TakeRate(%s, %v): %v", key, r, err)
	}
	return wait, reserved
}

// The bucket spaces tokens one interval apart: it reserves those due
// within the horizon, then gives the callers it turns away places one
// interval apart, up to the spread.
func testRateBucket(t *testing.T, factory func(*testing.T) (runtime.Transport, runtime.Store)) {
	_, _, lim := setupLimiter(t, factory)
	key := queueName(t)
	r := runtime.Rate{N: 10, Period: time.Second} // 100ms apart
	const horizon, spread, slack = 250 * time.Millisecond, 400 * time.Millisecond, 200 * time.Millisecond
	for i, want := range []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond} {
		wait, reserved := takeRate(t, lim, key, r, horizon, spread)
		if !reserved {
			t.Fatalf("take %d: not reserved (wait %v), want a token within the horizon", i, wait)
		}
		near(t, fmt.Sprintf("take %d: wait", i), wait, want, slack)
	}
	// The next token is due at 300ms, past the horizon: come back once
	// it is within it, at 50ms, then one interval apart.
	for i, want := range []time.Duration{50 * time.Millisecond, 150 * time.Millisecond, 250 * time.Millisecond, 350 * time.Millisecond} {
		wait, reserved := takeRate(t, lim, key, r, horizon, spread)
		if reserved {
			t.Fatalf("turned-away take %d: reserved at %v, want no token", i, wait)
		}
		near(t, fmt.Sprintf("turned-away take %d: wait", i), wait, want, slack)
	}
	// Past the spread no place is given: the wait stays past it.
	for i := range 2 {
		if wait, reserved := takeRate(t, lim, key, r, horizon, spread); reserved || wait <= spread-slack {
			t.Fatalf("take %d past the spread: wait %v reserved %v, want no token and a wait near %v", i, wait, reserved, spread)
		}
	}
	// Another bucket is not affected.
	if wait, reserved := takeRate(t, lim, key+"-other", r, horizon, spread); !reserved || wait != 0 {
		t.Fatalf("another bucket: wait %v reserved %v, want a token now", wait, reserved)
	}
}

// A bucket asked with a new rate applies it at once to the tokens it has
// not reserved.
func testRateChange(t *testing.T, factory func(*testing.T) (runtime.Transport, runtime.Store)) {
	_, _, lim := setupLimiter(t, factory)
	key := queueName(t)
	slow, fast := runtime.Rate{N: 1, Period: time.Hour}, runtime.Rate{N: 100, Period: time.Second}
	const horizon, spread = 100 * time.Millisecond, 2 * time.Hour
	if wait, reserved := takeRate(t, lim, key, slow, horizon, spread); !reserved || wait != 0 {
		t.Fatalf("first take: wait %v reserved %v, want a token now", wait, reserved)
	}
	if wait, reserved := takeRate(t, lim, key, slow, horizon, spread); reserved || wait < 59*time.Minute {
		t.Fatalf("second take at 1/h: wait %v reserved %v, want no token for about an hour", wait, reserved)
	}
	if wait, reserved := takeRate(t, lim, key, fast, horizon, spread); !reserved || wait > 10*time.Millisecond {
		t.Fatalf("take at 100/s after 1/h: wait %v reserved %v, want a token within 10ms", wait, reserved)
	}
	// Down again: the token already due stays, the next one is one new
	// interval later.
	slower := runtime.Rate{N: 2, Period: time.Second}
	if wait, reserved := takeRate(t, lim, key, slower, horizon, spread); !reserved || wait > 20*time.Millisecond {
		t.Fatalf("first take at 2/s: wait %v reserved %v, want the token due within 20ms", wait, reserved)
	}
	if wait, reserved := takeRate(t, lim, key, slower, horizon, spread); reserved || wait > 420*time.Millisecond || wait < 200*time.Millisecond {
		t.Fatalf("second take at 2/s: wait %v reserved %v, want no token and a wait near 400ms", wait, reserved)
	}
}

func acquire(t *testing.T, lim runtime.Limiter, key string, limit int, holder string, lease time.Duration) bool {
	t.Helper()
	ok, err := lim.AcquireSlot(t.Context(), key, limit, holder, lease)
	if err != nil {
		t.Fatalf("AcquireSlot(%s, %d, %s): %v", key, limit, holder, err)
	}
	return ok
}

// The semaphore gives limit slots, keeps a holder's slot when it asks
// again, and frees a released slot.
func testSemaphore(t *testing.T, factory func(*testing.T) (runtime.Transport, runtime.Store)) {
	_, _, lim := setupLimiter(t, factory)
	ctx, key := t.Context(), queueName(t)
	for _, h := range []string{"a", "b"} {
		if !acquire(t, lim, key, 2, h, longLease) {
			t.Fatalf("holder %s: no slot of 2, want one", h)
		}
	}
	if acquire(t, lim, key, 2, "c", longLease) {
		t.Fatal("holder c got a third slot of 2")
	}
	if !acquire(t, lim, key, 2, "a", longLease) {
		t.Fatal("holder a asking again lost its slot")
	}
	if !acquire(t, lim, key+"-other", 1, "c", longLease) {
		t.Fatal("another semaphore is full too")
	}
	if err := lim.ReleaseSlot(ctx, key, "a"); err != nil {
		t.Fatalf("ReleaseSlot: %v", err)
	}
	if err := lim.ReleaseSlot(ctx, key, "a"); err != nil {
		t.Fatalf("ReleaseSlot of a slot not held: %v", err)
	}
	if !acquire(t, lim, key, 2, "c", longLease) {
		t.Fatal("holder c: no slot after a released one")
	}
	if ok, err := lim.ExtendSlot(ctx, key, "a", longLease); err != nil || ok {
		t.Fatalf("ExtendSlot of a released slot = %v, %v; want false", ok, err)
	}
}

// A slot frees when its lease lapses, unless its holder renews it.
func testSemaphoreLease(t *testing.T, factory func(*testing.T) (runtime.Transport, runtime.Store)) {
	_, _, lim := setupLimiter(t, factory)
	ctx, key := t.Context(), queueName(t)
	const lease = 300 * time.Millisecond
	if !acquire(t, lim, key, 1, "dead", lease) || !acquire(t, lim, key+"-kept", 1, "alive", lease) {
		t.Fatal("no slot in an empty semaphore")
	}
	start := time.Now()
	for time.Since(start) < 3*lease {
		if ok, err := lim.ExtendSlot(ctx, key+"-kept", "alive", lease); err != nil || !ok {
			t.Fatalf("ExtendSlot of a held slot = %v, %v; want true", ok, err)
		}
		if acquire(t, lim, key+"-kept", 1, "other", lease) {
			t.Fatalf("a renewed slot was taken %v after it was acquired", time.Since(start))
		}
		time.Sleep(lease / 4)
	}
	// The holder that did not renew lost it long ago.
	if !acquire(t, lim, key, 1, "next", lease) {
		t.Fatalf("the slot of a holder that stopped renewing is still taken %v later", time.Since(start))
	}
	if ok, err := lim.ExtendSlot(ctx, key, "dead", lease); err != nil || ok {
		t.Fatalf("ExtendSlot of a lapsed slot taken by another = %v, %v; want false", ok, err)
	}
}

// limitBundle is a transport and store with workers of limited tasks whose
// handlers record their runs.
type limitBundle struct {
	tr     runtime.Transport
	store  runtime.Store
	lim    runtime.Limiter
	client *runtime.Client
	queue  string

	mu       sync.Mutex
	starts   map[string][]time.Time // task name → handler starts
	running  map[string]int         // key → handlers running
	peak     map[string]int         // key → most running at once
	attempts []int                  // Info.Attempt of every run
	done     chan string            // the task name of every run that ended
}

func setupLimits(t *testing.T, factory func(*testing.T) (runtime.Transport, runtime.Store)) *limitBundle {
	t.Helper()
	tr, s, lim := setupLimiter(t, factory)
	return &limitBundle{
		tr: tr, store: s, lim: lim, queue: queueName(t),
		client:  runtime.NewClient(tr, runtime.WithStore(s)),
		starts:  make(map[string][]time.Time),
		running: make(map[string]int),
		peak:    make(map[string]int),
		done:    make(chan string, 4096),
	}
}

// task returns a task of the case's queue named name with limits.
func (lb *limitBundle) task(name string, rate runtime.Rate, concurrency int) *runtime.Task[runtime.None] {
	return &runtime.Task[runtime.None]{
		Def: runtime.TaskDef{
			Name: "transporttest." + name + "." + lb.queue, Queue: lb.queue, Priority: runtime.DefaultPriority,
			BackoffMin: time.Millisecond, BackoffMax: time.Millisecond, Fingerprint: name + "-v1",
			Rate: rate, Concurrency: concurrency,
		},
		MarshalResult: runtime.MarshalNone, UnmarshalResult: runtime.UnmarshalNone,
	}
}

// worker starts a worker of tasks until the case ends; each handler
// records its start, counts itself running under its task's name and its
// concurrency key, and works for hold.
func (lb *limitBundle) worker(t *testing.T, lease, hold time.Duration, tasks ...*runtime.Task[runtime.None]) {
	t.Helper()
	w := runtime.NewWorker(lb.tr, runtime.WorkerConfig{
		Queues: []string{lb.queue}, Concurrency: 8, Lease: lease, Store: lb.store,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	for _, task := range tasks {
		name := task.Def.Name
		err := runtime.Register(w, task, func(ctx context.Context, _ *echoArgs) (runtime.None, error) {
			info, _ := runtime.Info(ctx)
			key := name + "/" + info.Headers["taskgen.concurrency-key"]
			lb.mu.Lock()
			lb.starts[name] = append(lb.starts[name], time.Now())
			lb.attempts = append(lb.attempts, info.Attempt)
			lb.running[key]++
			lb.running[name]++
			lb.peak[key] = max(lb.peak[key], lb.running[key])
			lb.peak[name] = max(lb.peak[name], lb.running[name])
			lb.mu.Unlock()
			time.Sleep(hold)
			lb.mu.Lock()
			lb.running[key]--
			lb.running[name]--
			lb.mu.Unlock()
			lb.done <- name
			return runtime.None{}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker Run: %v", err)
		}
	})
}

func (lb *limitBundle) enqueue(t *testing.T, task *runtime.Task[runtime.None], n int, opts ...runtime.Option) {
	t.Helper()
	for i := range n {
		if _, err := runtime.Enqueue(t.Context(), lb.client, task, &echoArgs{N: i}, opts...); err != nil {
			t.Fatalf("enqueue %s: %v", task.Def.Name, err)
		}
	}
}

// await waits until want[name] runs of each task have ended.
func (lb *limitBundle) await(t *testing.T, within time.Duration, want map[string]int) {
	t.Helper()
	left := 0
	for _, n := range want {
		left += n
	}
	timeout := time.After(within)
	for left > 0 {
		select {
		case name := <-lb.done:
			if want[name] > 0 {
				want[name]--
				left--
			}
		case <-timeout:
			t.Fatalf("runs still missing after %v: %v", within, want)
		}
	}
}

// noRetries fails the case if a run was a retry: deferral by a limit
// must not count an attempt.
func (lb *limitBundle) noRetries(t *testing.T) {
	t.Helper()
	lb.mu.Lock()
	defer lb.mu.Unlock()
	for _, a := range lb.attempts {
		if a != 0 {
			t.Fatalf("a run had Attempt %d; deferring for a limit must not count attempts", a)
		}
	}
}

// Rate-limited tasks start no faster than their rate, none fails, and an
// unlimited task of the same queue enqueued after them runs at once.
func testRateDefers(t *testing.T, factory func(*testing.T) (runtime.Transport, runtime.Store)) {
	lb := setupLimits(t, factory)
	limited := lb.task("Limited", runtime.Rate{N: 10, Period: time.Second}, 0)
	free := lb.task("Free", runtime.Rate{}, 0)
	lb.worker(t, longLease, 0, limited, free)
	const n = 12
	lb.enqueue(t, limited, n)
	lb.enqueue(t, free, 5)
	lb.await(t, 4*eventually, map[string]int{limited.Def.Name: n, free.Def.Name: 5})
	lb.noRetries(t)
	lb.mu.Lock()
	defer lb.mu.Unlock()
	starts := lb.starts[limited.Def.Name]
	slices.SortFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
	// 12 starts at 10/s span 1.1s; the store's and the process's
	// clocks tick alike, so allow only a little for scheduling.
	if span := starts[n-1].Sub(starts[0]); span < 1000*time.Millisecond {
		t.Fatalf("%d starts at 10/s spanned %v, want at least 1s", n, span)
	}
	last := starts[n-1]
	for _, s := range lb.starts[free.Def.Name] {
		if !s.Before(last) {
			t.Fatalf("an unlimited task started at %v, after the last rate-limited one (%v): the limit held it back", s.Sub(starts[0]), last.Sub(starts[0]))
		}
	}
}

// A rate set with SetRateLimit while the worker runs takes effect: tasks
// of a task annotated 1/s all finish within seconds once it is raised.
func testSetRateLimit(t *testing.T, factory func(*testing.T) (runtime.Transport, runtime.Store)) {
	lb := setupLimits(t, factory)
	task := lb.task("Slow", runtime.Rate{N: 1, Period: time.Second}, 0)
	lb.worker(t, longLease, 0, task)
	const n = 30
	lb.enqueue(t, task, n)
	lb.await(t, eventually, map[string]int{task.Def.Name: 1})
	// Through the transport's Inspector, as an operator would.
	if err := lb.setRate(t.Context(), task.Def.Name, runtime.Rate{N: 100, Period: time.Second}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = runtime.SetRateLimit(context.Background(), lb.store, task.Def.Name, runtime.Rate{}) })
	// At 1/s the rest would take 29s; raised, the ones turned away come
	// back within the spread (5s) and go at 100/s.
	start := time.Now()
	lb.await(t, 20*time.Second, map[string]int{task.Def.Name: n - 1})
	if took := time.Since(start); took > 15*time.Second {
		t.Fatalf("29 tasks took %v after the rate went from 1/s to 100/s", took)
	}
	lb.noRetries(t)
}

// SetRateLimit also limits a task that has no rate= annotation.
func testSetRateUnannotated(t *testing.T, factory func(*testing.T) (runtime.Transport, runtime.Store)) {
	lb := setupLimits(t, factory)
	task := lb.task("Plain", runtime.Rate{}, 0)
	if err := runtime.SetRateLimit(t.Context(), lb.store, task.Def.Name, runtime.Rate{N: 5, Period: time.Second}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = runtime.SetRateLimit(context.Background(), lb.store, task.Def.Name, runtime.Rate{}) })
	lb.worker(t, longLease, 0, task)
	const n = 6
	lb.enqueue(t, task, n)
	lb.await(t, 4*eventually, map[string]int{task.Def.Name: n})
	lb.noRetries(t)
	lb.mu.Lock()
	defer lb.mu.Unlock()
	starts := lb.starts[task.Def.Name]
	slices.SortFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
	if span := starts[n-1].Sub(starts[0]); span < 900*time.Millisecond {
		t.Fatalf("%d starts at a rate set to 5/s spanned %v, want at least 1s", n, span)
	}
}

// concurrency=2 holds across two workers on the same store.
func testConcurrencyAcross(t *testing.T, factory func(*testing.T) (runtime.Transport, runtime.Store)) {
	lb := setupLimits(t, factory)
	task := lb.task("Pair", runtime.Rate{}, 2)
	lb.worker(t, longLease, 50*time.Millisecond, task)
	lb.worker(t, longLease, 50*time.Millisecond, task)
	const n = 16
	lb.enqueue(t, task, n)
	lb.await(t, 4*eventually, map[string]int{task.Def.Name: n})
	lb.noRetries(t)
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if p := lb.peak[task.Def.Name]; p > 2 || p < 1 {
		t.Fatalf("%d handlers ran at once, want at most concurrency=2", p)
	}
}

// With ConcurrencyKey the limit applies per key: one task of each key
// runs at a time, and the keys do not wait for each other.
func testConcurrencyKey(t *testing.T, factory func(*testing.T) (runtime.Transport, runtime.Store)) {
	lb := setupLimits(t, factory)
	task := lb.task("Tenant", runtime.Rate{}, 1)
	lb.worker(t, longLease, 300*time.Millisecond, task)
	lb.enqueue(t, task, 3, runtime.ConcurrencyKey("a"))
	lb.enqueue(t, task, 3, runtime.ConcurrencyKey("b"))
	lb.await(t, 4*eventually, map[string]int{task.Def.Name: 6})
	lb.noRetries(t)
	lb.mu.Lock()
	defer lb.mu.Unlock()
	for _, k := range []string{"a", "b"} {
		if p := lb.peak[task.Def.Name+"/"+k]; p != 1 {
			t.Fatalf("key %s: %d handlers ran at once, want 1", k, p)
		}
	}
	if p := lb.peak[task.Def.Name]; p != 2 {
		t.Fatalf("%d handlers of keys a and b ran at once, want 2: one key waited for the other", p)
	}
}

// A handler that runs longer than the lease keeps its slot: the worker
// renews it, so the next task starts only after the first returns.
func testSlotOutlivesLease(t *testing.T, factory func(*testing.T) (runtime.Transport, runtime.Store)) {
	lb := setupLimits(t, factory)
	task := lb.task("Long", runtime.Rate{}, 1)
	const lease, hold = 600 * time.Millisecond, 1500 * time.Millisecond
	lb.worker(t, lease, hold, task)
	lb.enqueue(t, task, 2)
	lb.await(t, 4*eventually, map[string]int{task.Def.Name: 2})
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if p := lb.peak[task.Def.Name]; p != 1 {
		t.Fatalf("%d handlers ran at once under concurrency=1 with handlers longer than the lease", p)
	}
}

// A slot whose holder died (it never renews nor releases it) comes back
// once its lease lapses, and the task waiting for it runs then.
func testSlotOfDeadHolder(t *testing.T, factory func(*testing.T) (runtime.Transport, runtime.Store)) {
	lb := setupLimits(t, factory)
	task := lb.task("Orphan", runtime.Rate{}, 1)
	const lease = 2 * time.Second
	// The slot key the worker uses (runtime/limit.go); a dead worker's
	// holder took the only slot.
	key := "taskgen:limit:slots:" + task.Def.Name
	taken := time.Now()
	if !acquire(t, lb.lim, key, 1, "dead-worker", lease) {
		t.Fatal("no slot in an empty semaphore")
	}
	lb.worker(t, longLease, 0, task)
	lb.enqueue(t, task, 1)
	lb.await(t, eventually+lease, map[string]int{task.Def.Name: 1})
	lb.noRetries(t)
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if at := lb.starts[task.Def.Name][0].Sub(taken); at < lease-100*time.Millisecond {
		t.Fatalf("the task ran %v after a dead holder took the only slot for %v", at, lease)
	}
}

// A worker whose store keeps no limits refuses to run a limited task.
func testNoLimiterFailsFast(t *testing.T, factory func(*testing.T) (runtime.Transport, runtime.Store)) {
	lb := setupLimits(t, factory)
	task := lb.task("Orphan", runtime.Rate{N: 1, Period: time.Second}, 0)
	w := runtime.NewWorker(lb.tr, runtime.WorkerConfig{Queues: []string{lb.queue}, Store: plainStore{lb.store}})
	if err := runtime.Register(w, task, func(context.Context, *echoArgs) (runtime.None, error) { return runtime.None{}, nil }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), eventually)
	defer cancel()
	err := w.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), task.Def.Name) || !errors.Is(err, runtime.ErrNoLimiter) {
		t.Fatalf("Run with a store that keeps no limits: got %v, want runtime.ErrNoLimiter naming the task", err)
	}
}

// plainStore hides every method but the Store's.
type plainStore struct{ runtime.Store }

// SetRateLimit and RateLimit round-trip through the store, and so does
// the transport's Inspector.SetRateLimit.
func testRateLimitRoundTrips(t *testing.T, factory func(*testing.T) (runtime.Transport, runtime.Store)) {
	lb := setupLimits(t, factory)
	ctx, name := t.Context(), "transporttest.Set."+lb.queue
	for _, r := range []runtime.Rate{{N: 5, Period: time.Minute}, {N: 3, Period: 250 * time.Millisecond}, runtime.Unlimited, {}} {
		if err := runtime.SetRateLimit(ctx, lb.store, name, r); err != nil {
			t.Fatalf("SetRateLimit(%v): %v", r, err)
		}
		got, err := runtime.RateLimit(ctx, lb.store, name)
		if err != nil || got != r {
			t.Fatalf("RateLimit after SetRateLimit(%v) = %v, %v", r, got, err)
		}
	}
	in, ok := lb.tr.(runtime.Inspector)
	if !ok {
		return
	}
	for _, r := range []runtime.Rate{{N: 7, Period: time.Hour}, {}} {
		if err := in.SetRateLimit(ctx, name, r); err != nil {
			t.Fatalf("Inspector.SetRateLimit(%v): %v", r, err)
		}
		got, err := runtime.RateLimit(ctx, lb.store, name)
		if err != nil || got != r {
			t.Fatalf("RateLimit after Inspector.SetRateLimit(%v) = %v, %v", r, got, err)
		}
	}
}

// setRate changes task's rate limit through the transport's Inspector,
// or through the store for a transport without one.
func (lb *limitBundle) setRate(ctx context.Context, task string, r runtime.Rate) error {
	if in, ok := lb.tr.(runtime.Inspector); ok {
		return in.SetRateLimit(ctx, task, r)
	}
	return runtime.SetRateLimit(ctx, lb.store, task, r)
}
