package transporttest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

// cancelBound is how long Get may take to report a cancellation, and a
// running handler to see its ctx cancelled (the worker looks within a
// second); generous for loaded machines.
const cancelBound = eventually

// A cancelled workflow: the running step's ctx is cancelled with cause
// runtime.ErrCancelled, the next step never runs, and Get reports the
// cancellation at once.
func testWorkflowCancel(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	b := setupFlow(t, factory)
	h := submit(t, b, runtime.Then(runtime.NewSig(b.block, &addArgs{A: 1}), b.mulStep(2)))
	select {
	case <-b.started:
	case <-time.After(eventually):
		t.Fatal("the first step never started")
	}
	if err := h.Cancel(t.Context()); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), cancelBound)
	defer cancel()
	if _, err := h.Get(ctx); !errors.Is(err, runtime.ErrCancelled) || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("Get = %v, want an error matching runtime.ErrCancelled", err)
	}
	select {
	case cause := <-b.causes:
		if !errors.Is(cause, runtime.ErrCancelled) {
			t.Fatalf("the running handler's ctx ended with cause %v, want runtime.ErrCancelled", cause)
		}
	case <-time.After(cancelBound):
		t.Fatal("the running handler's ctx was not cancelled")
	}
	time.Sleep(quiet)
	if n := b.ran("mul"); n != 0 {
		t.Fatalf("the step after the cancelled one ran %d times", n)
	}
	if n := b.ran("block"); n != 1 {
		t.Fatalf("the cancelled step ran %d times, want once (not retried)", n)
	}
	if r, err := h.Status(t.Context()); err != nil || r.State != runtime.StateCancelled {
		t.Fatalf("Status = %+v, %v; want cancelled", r, err)
	}
}

// A cancelled plain task that has not started is dropped by the worker
// that fetches it, and recorded as cancelled; a running one sees its ctx
// cancelled and is not retried.
func testCancelTask(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	b := setupFlow(t, factory)

	// Not started: on a queue no worker serves yet.
	idle := b.queue + ".idle"
	h, err := runtime.Enqueue(t.Context(), b.c, b.add, &addArgs{A: 1, B: 2}, runtime.Queue(idle))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Cancel(t.Context()); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), cancelBound)
	defer cancel()
	if _, err := h.Get(ctx); !errors.Is(err, runtime.ErrCancelled) {
		t.Fatalf("Get = %v, want an error matching runtime.ErrCancelled", err)
	}
	var runs atomic.Int32
	w2 := runtime.NewWorker(b.tr, runtime.WorkerConfig{Queues: []string{idle}, Logger: quietLogger()})
	register(t, w2, b.add, func(_ context.Context, a *addArgs) (int, error) {
		runs.Add(1)
		return a.A + a.B, nil
	})
	startWorker(t, w2)
	waitFor(t, "the cancelled task to leave its queue", func() bool {
		st, err := b.tr.Stats(t.Context(), idle)
		return err == nil && st.Pending == 0 && st.Active == 0 && st.Delayed == 0
	})
	time.Sleep(quiet)
	if n := runs.Load(); n != 0 {
		t.Fatalf("the task cancelled before it started ran %d times", n)
	}
	if r, err := h.Status(t.Context()); err != nil || r.State != runtime.StateCancelled {
		t.Fatalf("Status = %+v, %v; want cancelled", r, err)
	}

	// Running.
	hb, err := runtime.Enqueue(t.Context(), b.c, b.block, &addArgs{A: 7})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.started:
	case <-time.After(eventually):
		t.Fatal("the task never started")
	}
	if err := hb.Cancel(t.Context()); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	select {
	case cause := <-b.causes:
		if !errors.Is(cause, runtime.ErrCancelled) {
			t.Fatalf("the running handler's ctx ended with cause %v, want runtime.ErrCancelled", cause)
		}
	case <-time.After(cancelBound):
		t.Fatal("the running handler's ctx was not cancelled")
	}
	if _, err := hb.Get(ctx); !errors.Is(err, runtime.ErrCancelled) {
		t.Fatalf("Get = %v, want an error matching runtime.ErrCancelled", err)
	}
	time.Sleep(quiet)
	if n := b.ran("block"); n != 1 {
		t.Fatalf("the cancelled task ran %d times, want once (not retried)", n)
	}
	waitFor(t, "the cancelled task to be settled", func() bool {
		st, err := b.tr.Stats(t.Context(), b.queue)
		return err == nil && st.Pending == 0 && st.Active == 0 && st.Delayed == 0 && st.Dead == 0
	})
	// A finished task is not cancelled.
	hd, err := runtime.Enqueue(t.Context(), b.c, b.add, &addArgs{A: 20, B: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := hd.Get(ctx); err != nil || got != 21 {
		t.Fatalf("Get = %d, %v", got, err)
	}
	if err := hd.Cancel(t.Context()); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if got, err := hd.Get(ctx); err != nil || got != 21 {
		t.Fatalf("Get after Cancel of a finished task = %d, %v; want 21", got, err)
	}
}

// Parent walks back up a chain, and stops at its first step, at a group
// and at a chord.
func testWorkflowParent(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	b := setupFlow(t, factory)
	ctx := waitCtx(t)
	raw := func(h *runtime.Handle[json.RawMessage]) string {
		t.Helper()
		if h == nil {
			t.Fatal("Parent = nil")
		}
		v, err := h.Get(ctx)
		if err != nil {
			t.Fatalf("parent %s: Get: %v", h.ID(), err)
		}
		return string(v)
	}

	// ((1+1)*3)+4
	h := submit(t, b, runtime.Then(runtime.Then(b.addSig(1, 1), b.mulStep(3)), b.addStep(4)))
	if got, err := h.Get(ctx); err != nil || got != 10 {
		t.Fatalf("Get = %d, %v", got, err)
	}
	p := h.Parent()
	if got := raw(p); got != "6" {
		t.Fatalf("parent result %s, want 6 (the step before the last)", got)
	}
	pp := p.Parent()
	if got := raw(pp); got != "2" {
		t.Fatalf("grandparent result %s, want 2 (the first step)", got)
	}
	if pp.Parent() != nil {
		t.Fatal("the first step of a chain has a parent")
	}

	// A chord followed by a step: the step's parent is the chord, whose
	// result is its body's; a chord has no parent.
	hc := submit(t, b, runtime.Then(runtime.Chord([]runtime.Sig[int]{b.addSig(1, 1), b.addSig(2, 2)}, b.sumStep()), b.mulStep(10)))
	if got, err := hc.Get(ctx); err != nil || got != 60 {
		t.Fatalf("Get = %d, %v", got, err)
	}
	pc := hc.Parent()
	if got := raw(pc); got != "6" {
		t.Fatalf("the chord's result %s, want 6", got)
	}
	if pc.Parent() != nil {
		t.Fatal("a chord has a parent")
	}
	hg := submit(t, b, runtime.Group(b.addSig(1, 0), b.addSig(2, 0)))
	if hg.Parent() != nil {
		t.Fatal("a group has a parent")
	}
	if _, err := hg.Get(ctx); err != nil {
		t.Fatal(err)
	}
	plain, err := runtime.Enqueue(ctx, b.c, b.add, &addArgs{A: 1})
	if err != nil {
		t.Fatal(err)
	}
	if plain.Parent() != nil {
		t.Fatal("a plain task has a parent")
	}

	// A step that failed: its parent still has its result, and the chain
	// around the failed step fails with it.
	hf := submit(t, b, runtime.Then(runtime.Then(runtime.Then(b.addSig(2, 3), runtime.NewStep(b.fail, "a", &addArgs{}, marshalJSON[int])), b.mulStep(2)), b.addStep(1)))
	if _, err := hf.Get(ctx); err == nil {
		t.Fatal("Get succeeded")
	}
	if _, err := hf.Parent().Get(ctx); err == nil || !strings.Contains(err.Error(), "cannot do 5") {
		t.Fatalf("parent of a failed chain: Get = %v, want the failure", err)
	}
	if got := raw(hf.Parent().Parent().Parent()); got != "5" {
		t.Fatalf("the step before the failure: result %s, want 5", got)
	}
}

// Cancels as workers follow them in memory: a worker started after some
// cancels drops those tasks, and a task enqueued while a worker runs and
// cancelled before it is due never runs, while the tasks around it do.
func testCancelLog(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	b := setupFlow(t, factory)

	// Cancelled before a worker of their queue starts.
	idle := b.queue + ".later"
	var hs []*runtime.Handle[int]
	for i := range 4 {
		h, err := runtime.Enqueue(t.Context(), b.c, b.add, &addArgs{A: 100 + i}, runtime.Queue(idle))
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	for _, h := range hs[:3] {
		if err := h.Cancel(t.Context()); err != nil {
			t.Fatalf("Cancel: %v", err)
		}
	}
	var runs atomic.Int32
	var ran atomic.Int64
	w2 := runtime.NewWorker(b.tr, runtime.WorkerConfig{Queues: []string{idle}, Logger: quietLogger()})
	register(t, w2, b.add, func(_ context.Context, a *addArgs) (int, error) {
		runs.Add(1)
		ran.Store(int64(a.A))
		return a.A + a.B, nil
	})
	startWorker(t, w2)
	ctx, cancel := context.WithTimeout(t.Context(), cancelBound)
	defer cancel()
	if got, err := hs[3].Get(ctx); err != nil || got != 103 {
		t.Fatalf("the task not cancelled: Get = %d, %v; want 103", got, err)
	}
	for _, h := range hs[:3] {
		if _, err := h.Get(ctx); !errors.Is(err, runtime.ErrCancelled) {
			t.Fatalf("Get = %v, want an error matching runtime.ErrCancelled", err)
		}
	}
	waitFor(t, "the cancelled tasks to leave their queue", func() bool {
		st, err := b.tr.Stats(t.Context(), idle)
		return err == nil && st.Pending == 0 && st.Active == 0 && st.Delayed == 0
	})
	if n := runs.Load(); n != 1 {
		t.Fatalf("%d tasks ran on the worker started after three of four were cancelled, want 1", n)
	}

	// Enqueued while both workers run, cancelled while they wait for their
	// time; the tasks due before and after them run.
	const delay = 2 * time.Second
	hb, err := runtime.Enqueue(t.Context(), b.c, b.add, &addArgs{A: 1, B: 1}, runtime.Queue(idle))
	if err != nil {
		t.Fatal(err)
	}
	var late []*runtime.Handle[int]
	for i := range 3 {
		h, err := runtime.Enqueue(t.Context(), b.c, b.add, &addArgs{A: 200 + i}, runtime.Queue(idle), runtime.Delay(delay))
		if err != nil {
			t.Fatal(err)
		}
		late = append(late, h)
	}
	ha, err := runtime.Enqueue(t.Context(), b.c, b.add, &addArgs{A: 300}, runtime.Queue(idle), runtime.Delay(delay+100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range late {
		if err := h.Cancel(t.Context()); err != nil {
			t.Fatalf("Cancel: %v", err)
		}
	}
	ctx2, cancel2 := context.WithTimeout(t.Context(), delay+cancelBound)
	defer cancel2()
	if got, err := hb.Get(ctx2); err != nil || got != 2 {
		t.Fatalf("the task due at once: Get = %d, %v; want 2", got, err)
	}
	if got, err := ha.Get(ctx2); err != nil || got != 300 {
		t.Fatalf("the task due after the cancelled ones: Get = %d, %v; want 300", got, err)
	}
	waitFor(t, "the cancelled tasks to leave their queue", func() bool {
		st, err := b.tr.Stats(t.Context(), idle)
		return err == nil && st.Pending == 0 && st.Active == 0 && st.Delayed == 0
	})
	time.Sleep(quiet)
	if n := runs.Load(); n != 3 {
		t.Fatalf("%d tasks ran, want 3: a task cancelled while it waited ran (the last was %d)", n, ran.Load())
	}
	for _, h := range late {
		if r, err := h.Status(t.Context()); err != nil || r.State != runtime.StateCancelled {
			t.Fatalf("Status = %+v, %v; want cancelled", r, err)
		}
	}
}
