package runtime_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/memory"
)

// statesStore records the state of every record written through it.
// A write that refused to replace a terminal record wrote nothing.
type statesStore struct {
	runtime.Store
	mu     sync.Mutex
	states map[string][]runtime.State
}

func (s *statesStore) PutRecord(ctx context.Context, r *runtime.Record, ttl time.Duration) error {
	s.mu.Lock()
	s.states[r.ID] = append(s.states[r.ID], r.State)
	s.mu.Unlock()
	return s.Store.PutRecord(ctx, r, ttl)
}

func (s *statesStore) PutRecordUnlessTerminal(ctx context.Context, r *runtime.Record, ttl time.Duration) (bool, error) {
	ok, err := s.Store.PutRecordUnlessTerminal(ctx, r, ttl)
	if ok {
		s.mu.Lock()
		s.states[r.ID] = append(s.states[r.ID], r.State)
		s.mu.Unlock()
	}
	return ok, err
}

func (s *statesStore) of(id string) []runtime.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.states[id])
}

// A task that finishes before the active-record delay goes from pending
// straight to its outcome; one that runs longer, or reports progress, is
// recorded as active while it runs, before its outcome.
func TestActiveRecordIsDeferred(t *testing.T) {
	t.Parallel()
	newBundle := func(delay time.Duration) (*bundle, *statesStore) {
		tr := memory.New()
		t.Cleanup(func() { tr.Close() })
		store := &statesStore{Store: tr, states: map[string][]runtime.State{}}
		w := runtime.NewWorker(tr, runtime.WorkerConfig{
			Store:  store,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		runtime.SetActiveRecordDelay(w, delay)
		return &bundle{tr: tr, c: runtime.NewClient(tr), w: w}, store
	}

	t.Run("quick", func(t *testing.T) {
		t.Parallel()
		// A delay no handler of this test reaches, even on a loaded machine.
		b, store := newBundle(time.Minute)
		quick := newTask("test.Quick", "q", 0)
		b.register(t, quick, add)
		b.start(t)
		h := b.enqueue(t, quick, 1, 2)
		if got, err := h.Get(waitCtx(t)); err != nil || got != 3 {
			t.Fatalf("Get = %d, %v", got, err)
		}
		if got := store.of(h.ID()); !slices.Equal(got, []runtime.State{runtime.StateSucceeded}) {
			t.Errorf("quick task's records: %v, want [succeeded] alone", got)
		}
	})

	t.Run("slow", func(t *testing.T) {
		t.Parallel()
		b, store := newBundle(time.Millisecond)
		slow := newTask("test.Slow", "q", 0)
		release := make(chan struct{})
		b.register(t, slow, func(ctx context.Context, a *addArgs) (int, error) {
			<-release
			return a.A + a.B, nil
		})
		b.start(t)
		h := b.enqueue(t, slow, 2, 3)
		deadline := time.Now().Add(10 * time.Second)
		for {
			st, err := h.Status(t.Context())
			if err == nil && st.State == runtime.StateActive {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("slow task not recorded as active while it runs: %+v, %v", st, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		close(release)
		if got, err := h.Get(waitCtx(t)); err != nil || got != 5 {
			t.Fatalf("Get = %d, %v", got, err)
		}
		if got := store.of(h.ID()); !slices.Equal(got, []runtime.State{runtime.StateActive, runtime.StateSucceeded}) {
			t.Errorf("slow task's records: %v, want [active succeeded]", got)
		}
	})

	t.Run("progress", func(t *testing.T) {
		t.Parallel()
		// Progress records the task as active at once, whatever the delay.
		b, store := newBundle(time.Minute)
		task := newTask("test.Progress", "q", 0)
		b.register(t, task, func(ctx context.Context, a *addArgs) (int, error) {
			if err := runtime.Progress(ctx, "half", nil); err != nil {
				return 0, err
			}
			return a.A + a.B, nil
		})
		b.start(t)
		h := b.enqueue(t, task, 3, 4)
		if got, err := h.Get(waitCtx(t)); err != nil || got != 7 {
			t.Fatalf("Get = %d, %v", got, err)
		}
		if got := store.of(h.ID()); !slices.Equal(got, []runtime.State{runtime.StateActive, runtime.StateSucceeded}) {
			t.Errorf("records of a task that reported progress: %v, want [active succeeded]", got)
		}
	})
}

// A Cancel made while a task runs, before its active record is written,
// leaves the task recorded as cancelled, not active.
func TestActiveRecordKeepsCancelled(t *testing.T) {
	t.Parallel()
	tr := memory.New()
	t.Cleanup(func() { tr.Close() })
	w := runtime.NewWorker(tr, runtime.WorkerConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	runtime.SetActiveRecordDelay(w, 100*time.Millisecond)
	b := &bundle{tr: tr, c: runtime.NewClient(tr), w: w}
	task := newTask("test.Stubborn", "q", 0)
	started, release := make(chan struct{}), make(chan struct{})
	b.register(t, task, func(ctx context.Context, a *addArgs) (int, error) {
		close(started)
		<-release // ignores its ctx
		return 0, context.Cause(ctx)
	})
	b.start(t)
	h := b.enqueue(t, task, 1, 1)
	<-started
	// Cancel writes its cancelled record at once, and returns after the
	// active record's delay has passed.
	if err := h.Cancel(t.Context()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // past the active write, under load too
	st, err := h.Status(t.Context())
	close(release)
	if err != nil || st.State != runtime.StateCancelled {
		t.Fatalf("Status after Cancel of a running task = %+v, %v; want cancelled", st, err)
	}
}

// Cancel with a ctx that ends before the revocation has reached every
// worker says so.
func TestCancelShortCtx(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	task := newTask("test.Never", "q", 0)
	h := b.enqueue(t, task, 1, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	if err := h.Cancel(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Cancel with a 30ms ctx = %v, want context.DeadlineExceeded", err)
	}
}

// staleStore answers GetRecord with a record that says the task is still
// running: what a cancel reads just before the task finishes.
type staleStore struct {
	*memory.Transport
}

func (s staleStore) GetRecord(ctx context.Context, id string) (*runtime.Record, error) {
	r, err := s.Transport.GetRecord(ctx, id)
	if err == nil {
		r.State, r.Result = runtime.StateActive, nil
	}
	return r, err
}

// A cancel that read the task as running while it finished does not
// overwrite its outcome.
func TestCancelKeepsOutcome(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	task := newTask("test.Done", "q", 0)
	b.register(t, task, add)
	b.start(t)
	h := b.enqueue(t, task, 2, 3)
	if v, err := h.Get(waitCtx(t)); err != nil || v != 5 {
		t.Fatalf("Get = %v, %v; want 5", v, err)
	}
	stale := runtime.NewHandle(h.ID(), staleStore{b.tr}, task.UnmarshalResult)
	if err := stale.Cancel(t.Context()); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if v, err := h.Get(waitCtx(t)); err != nil || v != 5 {
		t.Fatalf("Get after a cancel that came too late = %v, %v; want 5", v, err)
	}
}

// A handler that fails after a Cancel wrote its record, before the worker
// has seen the revocation, leaves the task recorded as cancelled, not as
// retrying.
func TestRetryRecordKeepsCancelled(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	task := newTask("test.Flaky", "q", 3)
	// The retry is due long after the test: until then, the record says
	// what the failure wrote.
	task.Def.BackoffMin, task.Def.BackoffMax = time.Hour, time.Hour
	started := make(chan struct{})
	var h *runtime.Handle[int]
	b.register(t, task, func(ctx context.Context, a *addArgs) (int, error) {
		close(started)
		// Fail as soon as the cancelled record is there: the worker's
		// watch takes longer to cancel ctx.
		for {
			st, err := h.Status(context.Background())
			if err == nil && st.State == runtime.StateCancelled {
				return 0, errors.New("transient")
			}
			time.Sleep(time.Millisecond)
		}
	})
	h = b.enqueue(t, task, 1, 1)
	b.start(t)
	<-started
	if err := h.Cancel(t.Context()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // past the retry write, under load too
	st, err := h.Status(t.Context())
	if err != nil || st.State != runtime.StateCancelled {
		t.Fatalf("Status after a Cancel and a failure = %+v, %v; want cancelled", st, err)
	}
}
