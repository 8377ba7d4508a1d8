package runtime_test

import (
	"errors"
	"testing"

	"github.com/taskgen/taskgen/runtime"
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
