package runtime_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/memory"
)

// badArgs fails to encode.
type badArgs struct{}

func (badArgs) MarshalTask() ([]byte, error) { return nil, errors.New("cannot encode") }
func (*badArgs) UnmarshalTask([]byte) error  { return nil }

func TestEnqueueBatch(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	task := newTask("test.Add", "math", 0)
	b.register(t, task, add)
	b.start(t)

	items := []runtime.BatchItem{
		runtime.NewBatchItem(task, &addArgs{A: 1, B: 2}),
		runtime.NewBatchItem(task, &badArgs{}),
		runtime.NewBatchItem(task, &addArgs{A: 3, B: 4}, runtime.UniqueKey("once")),
		runtime.NewBatchItem(task, &addArgs{A: 5, B: 6}, runtime.UniqueKey("once")),
		{},
	}
	rcs, err := b.c.EnqueueBatch(t.Context(), items)
	var be *runtime.BatchError
	if !errors.As(err, &be) || len(be.Errs) != len(items) {
		t.Fatalf("EnqueueBatch error = %v, want a *BatchError with one entry per item", err)
	}
	for i, wantOK := range []bool{true, false, true, false, false} {
		if ok := be.Errs[i] == nil && rcs[i] != nil; ok != wantOK {
			t.Errorf("item %d: receipt %v, error %v; want enqueued = %v", i, rcs[i], be.Errs[i], wantOK)
		}
	}
	if !errors.Is(be.Errs[3], runtime.ErrDuplicate) {
		t.Errorf("item 3: %v, want runtime.ErrDuplicate", be.Errs[3])
	}
	for _, i := range []int{0, 2} {
		h := runtime.NewHandle(rcs[i].ID, rcs[i].Store, task.UnmarshalResult)
		if got, err := h.Get(waitCtx(t)); err != nil || got != []int{3, 7}[i/2] {
			t.Errorf("item %d ran with result %d, %v", i, got, err)
		}
	}

	rcs, err = b.c.EnqueueBatch(t.Context(), []runtime.BatchItem{runtime.NewBatchItem(task, &addArgs{A: 1})})
	if err != nil || len(rcs) != 1 || rcs[0] == nil {
		t.Fatalf("EnqueueBatch of good items = %v, %v; want a receipt and no error", rcs, err)
	}
}

// batchRecorder is a memory transport that keeps the messages of its
// PublishBatch calls.
type batchRecorder struct {
	*memory.Transport
	msgs []runtime.Message
}

func (r *batchRecorder) PublishBatch(ctx context.Context, msgs []*runtime.Message) []error {
	errs := make([]error, len(msgs))
	for i, m := range msgs {
		r.msgs = append(r.msgs, *m)
		errs[i] = r.Publish(ctx, m)
	}
	return errs
}

// EnqueueBatch draws a fresh ID, like Enqueue's, for each item without the
// TaskID option, and says so on its message; an item with one keeps it.
func TestEnqueueBatchFreshIDs(t *testing.T) {
	t.Parallel()
	tr := &batchRecorder{Transport: memory.New()}
	t.Cleanup(func() { tr.Close() })
	c := runtime.NewClient(tr)
	task := newTask("test.Add", "math", 0)
	items := make([]runtime.BatchItem, 100)
	for i := range items {
		items[i] = runtime.NewBatchItem(task, &addArgs{A: i})
	}
	items[7] = runtime.NewBatchItem(task, &addArgs{A: 7}, runtime.TaskID("mine"))
	rcs, err := c.EnqueueBatch(t.Context(), items)
	if err != nil {
		t.Fatal(err)
	}
	single, err := c.EnqueueTask(t.Context(), &task.Def, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]bool)
	for i, m := range tr.msgs {
		if m.ID != rcs[i].ID {
			t.Fatalf("message %d has ID %s, its receipt %s", i, m.ID, rcs[i].ID)
		}
		if i == 7 {
			if m.ID != "mine" || m.FreshID {
				t.Errorf("item with TaskID: message ID %q, FreshID %v; want %q, false", m.ID, m.FreshID, "mine")
			}
			continue
		}
		if !m.FreshID || len(m.ID) != len(single.ID) || strings.Trim(m.ID, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" || seen[m.ID] {
			t.Errorf("item %d: ID %q, FreshID %v; want a fresh ID unlike the others, in the form of %q", i, m.ID, m.FreshID, single.ID)
		}
		seen[m.ID] = true
	}
}

// publishRecorder records the messages published one at a time.
type publishRecorder struct {
	*memory.Transport
	mu   sync.Mutex
	msgs []runtime.Message
}

func (r *publishRecorder) Publish(ctx context.Context, msg *runtime.Message) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, *msg)
	r.mu.Unlock()
	return r.Transport.Publish(ctx, msg)
}

// Enqueue and EnqueueAsync say a task's ID is fresh when they drew it; a
// TaskID given is not.
func TestEnqueueFreshID(t *testing.T) {
	t.Parallel()
	tr := &publishRecorder{Transport: memory.New()}
	t.Cleanup(func() { tr.Close() })
	c := runtime.NewClient(tr)
	task := newTask("test.Add", "math", 0)
	want := map[string]bool{}
	for _, id := range []string{"", "mine"} {
		var opts []runtime.Option
		if id != "" {
			opts = append(opts, runtime.TaskID(id))
		}
		rc, err := c.EnqueueTask(t.Context(), &task.Def, nil, opts...)
		if err != nil {
			t.Fatal(err)
		}
		want[rc.ID] = id == ""
		if id != "" {
			opts = []runtime.Option{runtime.TaskID(id + "-async")}
		}
		if rc, err = c.EnqueueTaskAsync(t.Context(), &task.Def, nil, opts...).Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		want[rc.ID] = id == ""
	}
	if len(tr.msgs) != len(want) {
		t.Fatalf("published %d messages, want %d", len(tr.msgs), len(want))
	}
	for _, m := range tr.msgs {
		if m.FreshID != want[m.ID] {
			t.Errorf("message %s: FreshID %v, want %v", m.ID, m.FreshID, want[m.ID])
		}
	}
}
