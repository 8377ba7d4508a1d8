package runtime_test

import (
	"context"
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
