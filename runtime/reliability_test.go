package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/memory"
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

// TryLock rejects what cannot be a lock, before it touches the store.
func TestTryLockArguments(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	for _, c := range []struct {
		store runtime.Store
		key   string
		ttl   time.Duration
		want  string
	}{
		{nil, "k", time.Second, "no result store"},
		{b.tr, "", time.Second, "empty key"},
		{b.tr, "k", 0, "not positive"},
	} {
		if _, err := runtime.TryLock(t.Context(), c.store, c.key, c.ttl); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("TryLock(%v, %q, %v) = %v; want an error saying %q", c.store != nil, c.key, c.ttl, err, c.want)
		}
	}
}

// handover is a store in which a lock passes to another holder at a
// holder's next read or check of it, as if its TTL ran out just then.
type handover struct {
	runtime.Store
	once sync.Once
}

func (h *handover) pass(ctx context.Context, key string) {
	h.once.Do(func() { _ = h.Store.Put(ctx, key, []byte("the next holder"), time.Minute) })
}

func (h *handover) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := h.Store.Get(ctx, key)
	h.pass(ctx, key)
	return v, err
}

func (h *handover) CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	h.pass(ctx, key)
	return h.Store.CompareAndSwap(ctx, key, old, value, ttl)
}

func (h *handover) CompareAndDelete(ctx context.Context, key string, old []byte) (bool, error) {
	h.pass(ctx, key)
	return h.Store.CompareAndDelete(ctx, key, old)
}

// A holder whose lock passed to another holder neither renews nor
// releases the new holder's lock, however close the hand-over comes to
// its Extend or Unlock.
func TestLockHandover(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	for _, op := range []string{"Extend", "Unlock"} {
		s := &handover{Store: b.tr}
		l, err := runtime.TryLock(t.Context(), s, op, time.Minute)
		if err != nil {
			t.Fatalf("TryLock: %v", err)
		}
		if op == "Extend" {
			if err := l.Extend(t.Context()); !errors.Is(err, runtime.ErrLockLost) {
				t.Errorf("Extend of a lock that passed to another holder: %v, want runtime.ErrLockLost", err)
			}
		} else if err := l.Unlock(t.Context()); err != nil {
			t.Errorf("Unlock of a lock that passed to another holder: %v, want nil", err)
		}
		if _, err := runtime.TryLock(t.Context(), b.tr, op, time.Minute); !errors.Is(err, runtime.ErrLocked) {
			t.Errorf("after the old holder's %s, TryLock: %v; want runtime.ErrLocked, the new holder's lock intact", op, err)
		}
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

// failPublish is a transport that fails the first publish of a message
// whose ID ends with suffix, as a broker's blip does.
type failPublish struct {
	*memory.Transport
	suffix   string
	failed   atomic.Bool
	gaveBack atomic.Bool // a workflow start claim was given back
}

func (f *failPublish) CompareAndDelete(ctx context.Context, key string, old []byte) (bool, error) {
	ok, err := f.Transport.CompareAndDelete(ctx, key, old)
	if ok && strings.Contains(key, "}:s:") {
		f.gaveBack.Store(true)
	}
	return ok, err
}

func (f *failPublish) Publish(ctx context.Context, m *runtime.Message) error {
	if strings.HasSuffix(m.ID, f.suffix) && f.failed.CompareAndSwap(false, true) {
		return errors.New("connection reset")
	}
	return f.Transport.Publish(ctx, m)
}

// A chain step whose publish failed is published when the task before it
// runs again: the start claim the failed try took does not keep the step
// from ever starting.
func TestWorkflowStepAfterPublishFailure(t *testing.T) {
	t.Parallel()
	base := memory.New()
	t.Cleanup(func() { base.Close() })
	tr := &failPublish{Transport: base, suffix: ".2"}
	w := runtime.NewWorker(tr, runtime.WorkerConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	task := newTask("wf.Add", "q", 0)
	if err := runtime.Register(w, task, add); err != nil {
		t.Fatal(err)
	}
	runWorker(t, w)
	step := runtime.NewStep(task, "a", &addArgs{B: 10}, func(v int) ([]byte, error) { return json.Marshal(v) })
	h, err := runtime.Submit(t.Context(), runtime.NewClient(tr), runtime.Then(runtime.NewSig(task, &addArgs{A: 1, B: 2}), step))
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.Get(waitCtx(t))
	if err != nil || got != 13 {
		t.Fatalf("Get = %d, %v; want 13 (the step's publish failed once: publish failed %v)", got, err, tr.failed.Load())
	}
	if !tr.failed.Load() {
		t.Fatal("the step's publish never failed: the test tested nothing")
	}
	if !tr.gaveBack.Load() {
		t.Fatal("the try whose publish failed did not give its start claim back")
	}
}

// blipStore is a store whose next terminal PutRecord calls of one ID
// (records), or next PutNX calls of a workflow's failure (claims), fail.
type blipStore struct {
	*memory.Transport
	id      atomic.Value // the ID whose record writes fail
	records atomic.Int32
	claims  atomic.Int32
	blips   atomic.Int32
}

func (s *blipStore) PutRecord(ctx context.Context, r *runtime.Record, ttl time.Duration) error {
	if s.id.Load() == r.ID && r.State.Terminal() && s.records.Add(-1) >= 0 {
		s.blips.Add(1)
		return errors.New("connection reset")
	}
	return s.Transport.PutRecord(ctx, r, ttl)
}

func (s *blipStore) PutNX(ctx context.Context, key string, v []byte, ttl time.Duration) (bool, error) {
	if strings.HasSuffix(key, ":failed") && s.claims.Add(-1) >= 0 {
		s.blips.Add(1)
		return false, errors.New("connection reset")
	}
	return s.Transport.PutNX(ctx, key, v, ttl)
}

// setupBlipStore returns a memory transport and a worker on it whose store
// is a blipStore over another memory transport, base.
func setupBlipStore(t *testing.T) (tr, base *memory.Transport, st *blipStore, w *runtime.Worker) {
	t.Helper()
	tr = memory.New()
	t.Cleanup(func() { tr.Close() })
	base = memory.New()
	t.Cleanup(func() { base.Close() })
	st = &blipStore{Transport: base}
	w = runtime.NewWorker(tr, runtime.WorkerConfig{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return tr, base, st, w
}

// With a store apart from the transport, a task whose result could not be
// stored runs again rather than being acked without it.
func TestResultStoredBeforeAck(t *testing.T) {
	t.Parallel()
	tr, base, st, w := setupBlipStore(t)
	task := newTask("rel.Result", "q", 0)
	var runs atomic.Int32
	if err := runtime.Register(w, task, func(_ context.Context, a *addArgs) (int, error) {
		runs.Add(1)
		return a.A + a.B, nil
	}); err != nil {
		t.Fatal(err)
	}
	c := runtime.NewClient(tr, runtime.WithStore(st))
	h, err := runtime.Enqueue(t.Context(), c, task, &addArgs{A: 1, B: 2}, runtime.UniqueKey("k"))
	if err != nil {
		t.Fatal(err)
	}
	st.id.Store(h.ID())
	st.records.Store(1) // the store blips as the result is written
	runWorker(t, w)
	// Handed back to run again, the task holds its unique key again.
	for deadline := time.Now().Add(eventually); st.blips.Load() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the result write never failed")
		}
	}
	for deadline := time.Now().Add(eventually); ; time.Sleep(5 * time.Millisecond) {
		if v, err := base.Get(t.Context(), "unique:k"); err == nil && string(v) == h.ID() {
			break
		}
		if time.Now().After(deadline) || runs.Load() > 1 {
			t.Fatal("the task handed back did not take its unique key again before it ran again")
		}
	}
	if _, err := runtime.Enqueue(t.Context(), c, task, &addArgs{A: 1, B: 2}, runtime.UniqueKey("k")); !errors.Is(err, runtime.ErrDuplicate) {
		t.Fatalf("enqueue with the key of a task handed back to run again: %v; want runtime.ErrDuplicate", err)
	}
	if got, err := h.Get(waitCtx(t)); err != nil || got != 3 {
		t.Fatalf("Get = %d, %v after a failed result write; want 3 (runs %d)", got, err, runs.Load())
	}
	if n := runs.Load(); n != 2 {
		t.Fatalf("the handler ran %d times, want 2: once, then again after its result failed to store", n)
	}
}

// A workflow whose task is dead-lettered while the store blips still ends,
// failed, whether the blip hit the failure's claim or the workflow's
// record: the task comes back, and is dead-lettered again without running.
func TestWorkflowFailureAfterStoreError(t *testing.T) {
	t.Parallel()
	for _, blip := range []string{"claim", "record"} {
		t.Run(blip, func(t *testing.T) {
			t.Parallel()
			tr := memory.New()
			t.Cleanup(func() { tr.Close() })
			st := &blipStore{Transport: tr}
			w := runtime.NewWorker(st, runtime.WorkerConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			task := newTask("rel.Bad", "q", 0)
			var runs atomic.Int32
			if err := runtime.Register(w, task, func(context.Context, *addArgs) (int, error) {
				runs.Add(1)
				return 0, runtime.Permanent(errors.New("boom"))
			}); err != nil {
				t.Fatal(err)
			}
			h, err := runtime.Submit(t.Context(), runtime.NewClient(st), runtime.NewSig(task, &addArgs{}))
			if err != nil {
				t.Fatal(err)
			}
			if blip == "claim" {
				st.claims.Store(2)
			} else {
				st.id.Store(h.ID()) // the workflow's own record
				st.records.Store(2)
			}
			runWorker(t, w)
			if _, err := h.Get(waitCtx(t)); err == nil || !strings.Contains(err.Error(), "boom") {
				t.Fatalf("Get of a workflow whose task failed while the store blipped: %v; want its failure", err)
			}
			if n := st.blips.Load(); n != 2 {
				t.Fatalf("the store blipped %d times, want 2", n)
			}
			if n := runs.Load(); n != 1 {
				t.Fatalf("the handler ran %d times, want once: a Permanent failure is not run again", n)
			}
			dls := deadLetters(t, tr, "q", 1)
			if strings.Contains(string(dls[0].Body), "taskgen.deadletter") {
				t.Fatalf("the dead letter's body keeps the hand-back marks: %q", dls[0].Body)
			}
		})
	}
}

// A singleton task whose handler ignored its timeout and was abandoned
// keeps its lock until the handler returns: its retry does not run beside
// it.
func TestSingletonHeldByAbandonedHandler(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{TimeoutGrace: 50 * time.Millisecond, Lease: 5 * time.Second})
	task := newTask("rel.Single", "q", 3)
	var (
		running, most atomic.Int32
		runs          atomic.Int32
	)
	b.register(t, task, func(context.Context, *addArgs) (int, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		if runs.Add(1) == 1 {
			time.Sleep(time.Second) // ignores its ctx, and is abandoned
		}
		return 1, nil
	})
	b.start(t)
	h := b.enqueue(t, task, 0, 0, runtime.Singleton("k"), runtime.Timeout(100*time.Millisecond))
	if _, err := h.Get(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	if n := most.Load(); n != 1 {
		t.Fatalf("%d handlers of one singleton key ran at once, want 1", n)
	}
	if n := runs.Load(); n < 2 {
		t.Fatalf("the handler ran %d times, want its abandoned run and a retry", n)
	}
}

// slowUnlock is a store whose lock releases take a while.
type slowUnlock struct{ *memory.Transport }

func (s slowUnlock) CompareAndDelete(ctx context.Context, key string, old []byte) (bool, error) {
	if strings.HasPrefix(key, "lock:") {
		time.Sleep(200 * time.Millisecond)
	}
	return s.Transport.CompareAndDelete(ctx, key, old)
}

// A singleton handler that returns in time is not abandoned, however long
// releasing its lock takes: the release does not count against its
// timeout.
func TestSingletonSlowReleaseNotAbandoned(t *testing.T) {
	t.Parallel()
	tr := memory.New()
	t.Cleanup(func() { tr.Close() })
	st := slowUnlock{tr}
	w := runtime.NewWorker(st, runtime.WorkerConfig{TimeoutGrace: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	task := newTask("rel.SlowUnlock", "q", 0)
	if err := runtime.Register(w, task, add); err != nil {
		t.Fatal(err)
	}
	runWorker(t, w)
	h, err := runtime.Enqueue(t.Context(), runtime.NewClient(st), task, &addArgs{A: 1, B: 2}, runtime.Singleton("k"), runtime.Timeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := h.Get(waitCtx(t)); err != nil || got != 3 {
		t.Fatalf("Get = %d, %v; want 3", got, err)
	}
	if n := w.Abandoned(); n != 0 {
		t.Fatalf("%d handlers abandoned, want none: the handler returned at once", n)
	}
}

// recordAckStore is a memory transport that is its worker's store and a
// RecordAcker whose next blips calls fail without acking, as a record
// write Redis refuses leaves the task leased.
type recordAckStore struct {
	*memory.Transport
	blips atomic.Int32
	// lostReplies: the next calls write and ack, then fail as if the
	// reply were lost.
	lostReplies atomic.Int32
}

func newRecordAckStore(t *testing.T) *recordAckStore {
	st := &recordAckStore{Transport: memory.New()}
	t.Cleanup(func() { st.Close() })
	return st
}

// worker returns a worker on s, with a lease no test outlasts, running an
// adding task whose runs it counts.
func (s *recordAckStore) worker(t *testing.T) (*runtime.Worker, *runtime.Task[int], *atomic.Int32) {
	t.Helper()
	w := runtime.NewWorker(s, runtime.WorkerConfig{Store: s, Lease: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	task := newTask("rel.AckRecord", "q", 0)
	runs := new(atomic.Int32)
	if err := runtime.Register(w, task, func(_ context.Context, a *addArgs) (int, error) {
		runs.Add(1)
		return a.A + a.B, nil
	}); err != nil {
		t.Fatal(err)
	}
	return w, task, runs
}

func (s *recordAckStore) AckRecord(ctx context.Context, d *runtime.Delivery, r *runtime.Record, ttl time.Duration) error {
	if s.blips.Add(-1) >= 0 {
		return errors.New("put record: OOM command not allowed")
	}
	if err := s.Transport.PutRecord(ctx, r, ttl); err != nil {
		return err
	}
	if err := s.Transport.Ack(ctx, d); err != nil {
		return err
	}
	if s.lostReplies.Add(-1) >= 0 {
		return errors.New("i/o timeout")
	}
	return nil
}

// A task whose result write and ack failed together goes back to run
// again at once, rather than after its lease.
func TestAckRecordFailureHandsBack(t *testing.T) {
	t.Parallel()
	st := newRecordAckStore(t)
	st.blips.Store(1)
	w, task, runs := st.worker(t)
	c := runtime.NewClient(st)
	h, err := runtime.Enqueue(t.Context(), c, task, &addArgs{A: 1, B: 2})
	if err != nil {
		t.Fatal(err)
	}
	runWorker(t, w)
	if got, err := h.Get(waitCtx(t)); err != nil || got != 3 {
		t.Fatalf("Get = %d, %v after a failed result write; want 3 (runs %d)", got, err, runs.Load())
	}
	if n := runs.Load(); n != 2 {
		t.Fatalf("the handler ran %d times, want 2: once, then again after its result failed to store", n)
	}
}

// A task whose AckRecord went through but whose reply was lost is not
// handed back (its lease is gone), and leaves its unique key free.
func TestAckRecordLostReplyFreesUniqueKey(t *testing.T) {
	t.Parallel()
	st := newRecordAckStore(t)
	st.lostReplies.Store(1)
	w, task, _ := st.worker(t)
	c := runtime.NewClient(st)
	h, err := runtime.Enqueue(t.Context(), c, task, &addArgs{A: 1, B: 2}, runtime.UniqueKey("k"))
	if err != nil {
		t.Fatal(err)
	}
	runWorker(t, w)
	if got, err := h.Get(waitCtx(t)); err != nil || got != 3 {
		t.Fatalf("Get = %d, %v; want 3", got, err)
	}
	// The enqueue below may not find the key free at once: the worker
	// frees it after the hand-back that finds the lease gone.
	for deadline := time.Now().Add(eventually); ; time.Sleep(10 * time.Millisecond) {
		_, err := runtime.Enqueue(t.Context(), c, task, &addArgs{A: 1, B: 2}, runtime.UniqueKey("k"))
		if err == nil {
			break
		}
		if !errors.Is(err, runtime.ErrDuplicate) || time.Now().After(deadline) {
			t.Fatalf("enqueue with the key of a task that succeeded: %v; want it free", err)
		}
	}
}
