package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/memory"
)

type blobArgs struct {
	Data string `json:"data"`
}

func (a *blobArgs) MarshalTask() ([]byte, error)    { return json.Marshal(a) }
func (a *blobArgs) UnmarshalTask(data []byte) error { return json.Unmarshal(data, a) }

// Arguments over the limit travel through the store (claim-check), are
// read back by the worker, survive a retry, and are deleted on success.
func TestClaimCheck(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	c := runtime.NewClient(b.tr, runtime.WithMaxPayload(1024))
	task := newTask("test.Blob", "blobs", 1)
	var runs atomic.Int32
	if err := runtime.Register(b.w, task, func(_ context.Context, a *blobArgs) (int, error) {
		if runs.Add(1) == 1 {
			return 0, errors.New("first attempt fails")
		}
		return len(a.Data), nil
	}); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 100<<10)
	h, err := runtime.Enqueue(t.Context(), c, task, &blobArgs{Data: big})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := b.tr.Fetch(t.Context(), runtime.FetchRequest{Queues: []string{"blobs"}, Max: 1})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ds[0].Body); n > 1024 {
		t.Fatalf("the message carries %d bytes; the payload was not offloaded", n)
	}
	if err := b.tr.Nack(t.Context(), ds[0], runtime.NackOptions{}); err != nil {
		t.Fatal(err)
	}
	env, err := runtime.DecodeEnvelope(ds[0].Body)
	if err != nil {
		t.Fatal(err)
	}
	key := env.PayloadRef
	if !strings.HasPrefix(key, "payload:"+h.ID()+":") {
		t.Fatalf("payload reference %q", key)
	}
	if _, err := b.tr.Get(t.Context(), key); err != nil {
		t.Fatalf("payload not in the store under %s: %v", key, err)
	}

	b.start(t)
	if got, err := h.Get(waitCtx(t)); err != nil || got != len(big) {
		t.Fatalf("Get = %d, %v; want %d", got, err, len(big))
	}
	// The worker deletes the payload after it stores the result and acks,
	// so the handle may see the result first.
	for deadline := time.Now().Add(eventually); ; time.Sleep(5 * time.Millisecond) {
		_, err := b.tr.Get(t.Context(), key)
		if errors.Is(err, runtime.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the payload is still in the store %v after success: %v", eventually, err)
		}
	}
	// Small payloads stay in the message.
	if _, err := runtime.Enqueue(t.Context(), c, task, &blobArgs{Data: "tiny"}, runtime.Queue("smalls")); err != nil {
		t.Fatal(err)
	}
	ds, err = b.tr.Fetch(t.Context(), runtime.FetchRequest{Queues: []string{"smalls"}, Max: 1})
	if err != nil {
		t.Fatal(err)
	}
	if env, err := runtime.DecodeEnvelope(ds[0].Body); err != nil || env.PayloadRef != "" || len(env.Payload) == 0 {
		t.Fatalf("a small payload was offloaded: %+v, %v", env, err)
	}
}

func TestClaimCheckNeedsStore(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	c := runtime.NewClient(b.tr, runtime.WithStore(nil), runtime.WithMaxPayload(10))
	_, err := runtime.Enqueue(t.Context(), c, newTask("test.Blob", "blobs", 0), &blobArgs{Data: strings.Repeat("x", 100)})
	if !errors.Is(err, runtime.ErrNoStore) {
		t.Fatalf("Enqueue = %v, want ErrNoStore", err)
	}
}

// An enqueue refused as a duplicate of a queued task's ID leaves that
// task's offloaded arguments alone.
func TestClaimCheckDuplicateIDKeepsPayload(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	c := runtime.NewClient(b.tr, runtime.WithMaxPayload(1024))
	task := newTask("test.Blob", "blobs", 0)
	got := make(chan string, 2)
	if err := runtime.Register(b.w, task, func(_ context.Context, a *blobArgs) (int, error) {
		got <- a.Data[:1]
		return 0, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := runtime.Enqueue(t.Context(), c, task, &blobArgs{Data: strings.Repeat("a", 10<<10)}, runtime.TaskID("report")); err != nil {
		t.Fatal(err)
	}
	_, err := runtime.Enqueue(t.Context(), c, task, &blobArgs{Data: strings.Repeat("b", 10<<10)}, runtime.TaskID("report"))
	if !errors.Is(err, runtime.ErrDuplicateTask) {
		t.Fatalf("second enqueue of the ID: %v, want runtime.ErrDuplicateTask", err)
	}
	b.start(t)
	select {
	case first := <-got:
		if first != "a" {
			t.Fatalf("the queued task ran with the arguments of the refused enqueue")
		}
	case <-time.After(eventually):
		t.Fatal("the task did not run")
	}
}

// A task whose result could not be stored runs again with its offloaded
// arguments: they go only once the task is settled.
func TestClaimCheckKeptUntilSettled(t *testing.T) {
	t.Parallel()
	tr, _, st, w := setupBlipStore(t)
	task := newTask("test.Blob", "blobs", 0)
	var runs atomic.Int32
	if err := runtime.Register(w, task, func(_ context.Context, a *blobArgs) (int, error) {
		runs.Add(1)
		return len(a.Data), nil
	}); err != nil {
		t.Fatal(err)
	}
	c := runtime.NewClient(tr, runtime.WithStore(st), runtime.WithMaxPayload(1024))
	big := strings.Repeat("x", 10<<10)
	h, err := runtime.Enqueue(t.Context(), c, task, &blobArgs{Data: big})
	if err != nil {
		t.Fatal(err)
	}
	st.id.Store(h.ID())
	st.records.Store(1) // the store blips as the result is written
	runWorker(t, w)
	if got, err := h.Get(waitCtx(t)); err != nil || got != len(big) {
		t.Fatalf("Get = %d, %v after a failed result write; want %d (runs %d)", got, err, len(big), runs.Load())
	}
	if n := runs.Load(); n != 2 {
		t.Fatalf("the handler ran %d times, want 2", n)
	}
	if dls, err := tr.DeadLetters(t.Context(), "blobs", 10); err != nil || len(dls) != 0 {
		t.Fatalf("dead letters %+v, %v; want none", dls, err)
	}
}

// A copy of a task delivered again after another delivery ran it, and
// deleted its offloaded arguments, is acked, not dead-lettered.
func TestClaimCheckDuplicateAfterSuccess(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	c := runtime.NewClient(b.tr, runtime.WithMaxPayload(1024))
	task := newTask("test.Blob", "blobs", 0)
	var runs atomic.Int32
	if err := runtime.Register(b.w, task, func(_ context.Context, a *blobArgs) (int, error) {
		runs.Add(1)
		return len(a.Data), nil
	}); err != nil {
		t.Fatal(err)
	}
	h, err := runtime.Enqueue(t.Context(), c, task, &blobArgs{Data: strings.Repeat("x", 10<<10)})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := b.tr.Fetch(t.Context(), runtime.FetchRequest{Queues: []string{"blobs"}, Max: 1})
	if err != nil {
		t.Fatal(err)
	}
	copyOf := ds[0].Message
	if err := b.tr.Nack(t.Context(), ds[0], runtime.NackOptions{}); err != nil {
		t.Fatal(err)
	}
	b.start(t)
	if _, err := h.Get(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	env, err := runtime.DecodeEnvelope(copyOf.Body)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(eventually); ; time.Sleep(5 * time.Millisecond) {
		if _, err := b.tr.Get(t.Context(), env.PayloadRef); errors.Is(err, runtime.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the payload was not deleted after success")
		}
	}
	if err := b.tr.Publish(t.Context(), &copyOf); err != nil { // the copy
		t.Fatal(err)
	}
	for deadline := time.Now().Add(eventually); ; time.Sleep(5 * time.Millisecond) {
		if st, err := b.tr.Stats(t.Context(), "blobs"); err == nil && st.Pending == 0 && st.Active == 0 {
			if st.Dead != 0 {
				t.Fatalf("the copy was dead-lettered: %+v", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the copy was not settled")
		}
	}
	if r, err := b.tr.GetRecord(t.Context(), h.ID()); err != nil || r.State != runtime.StateSucceeded {
		t.Fatalf("record after the copy: %+v, %v; want succeeded", r, err)
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("the handler ran %d times, want 1", n)
	}
}

// ttlStore is a memory store that records the expiry each CompareAndSwap
// of offloaded arguments gave them.
type ttlStore struct {
	*memory.Transport
	mu   sync.Mutex
	ttls []time.Duration
}

func (s *ttlStore) CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	if strings.HasPrefix(key, "payload:") {
		s.mu.Lock()
		s.ttls = append(s.ttls, ttl)
		s.mu.Unlock()
	}
	return s.Transport.CompareAndSwap(ctx, key, old, value, ttl)
}

func (s *ttlStore) kept() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ttls)
}

// Offloaded arguments last 7 days past each retry's due time, and 7 days
// past the task's dead-lettering, so that a dead letter requeued within a
// week runs with them: the week counts from the last of these, not from
// the enqueue. They are kept so even when the task never loaded them (a
// schema mismatch).
func TestClaimCheckKeptForRetriesAndDeadLetters(t *testing.T) {
	t.Parallel()
	const week = 7 * 24 * time.Hour
	tr := memory.New()
	t.Cleanup(func() { tr.Close() })
	st := &ttlStore{Transport: memory.New()}
	t.Cleanup(func() { st.Close() })
	w := runtime.NewWorker(tr, runtime.WorkerConfig{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	task := newTask("test.Blob", "blobs", 1)
	task.Def.BackoffMin, task.Def.BackoffMax = time.Second, time.Second
	if err := runtime.Register(w, task, func(context.Context, *blobArgs) (int, error) {
		return 0, errors.New("boom")
	}); err != nil {
		t.Fatal(err)
	}
	c := runtime.NewClient(tr, runtime.WithStore(st), runtime.WithMaxPayload(1024))
	big := &blobArgs{Data: strings.Repeat("x", 10<<10)}
	if _, err := runtime.Enqueue(t.Context(), c, task, big); err != nil {
		t.Fatal(err)
	}
	other := *task
	other.Def.Fingerprint = "fp-old" // a worker of another version sent it
	if _, err := runtime.Enqueue(t.Context(), c, &other, big); err != nil {
		t.Fatal(err)
	}
	runWorker(t, w)
	deadLetters(t, tr, "blobs", 2)
	got := st.kept()
	slices.Sort(got)
	want := []time.Duration{week, week, week + time.Second} // two dead letters, one retry
	if !slices.Equal(got, want) {
		t.Fatalf("offloaded arguments kept for %v, want %v", got, want)
	}
}
