package runtime_test

// The workflow semantics are specified in transport/transporttest
// (RunWorkflows) and run on every transport; these are the cases that need
// no worker.

import (
	"errors"
	"testing"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/memory"
)

func TestSubmitNeedsWorkflowStore(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	task := newTask("flow.X", "q", 0)
	c := runtime.NewClient(b.tr, runtime.WithStore(nil))
	if _, err := runtime.Submit(t.Context(), c, runtime.NewSig(task, &addArgs{})); !errors.Is(err, runtime.ErrNoStore) {
		t.Fatalf("Submit without a store = %v, want ErrNoStore", err)
	}
}

func TestSubmitEmptyWorkflow(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	if _, err := runtime.Submit(t.Context(), b.c, runtime.Sig[int]{}); err == nil {
		t.Fatal("Submit of an empty workflow succeeded")
	}
}

// Submit publishes a workflow's first tasks with fresh IDs, each once:
// derived from the workflow's, drawn at Submit, no transport holds them.
func TestSubmitFirstTasksFresh(t *testing.T) {
	t.Parallel()
	tr := &batchRecorder{Transport: memory.New()}
	t.Cleanup(func() { tr.Close() })
	c := runtime.NewClient(tr)
	task := newTask("flow.X", "q", 0)
	sigs := make([]runtime.Sig[int], 5)
	for i := range sigs {
		sigs[i] = runtime.NewSig(task, &addArgs{A: i})
	}
	if _, err := runtime.Submit(t.Context(), c, runtime.Group(sigs...)); err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]bool)
	for _, m := range tr.msgs {
		if !m.FreshID || seen[m.ID] {
			t.Errorf("first task %s: FreshID %v, published before %v; want fresh, once", m.ID, m.FreshID, seen[m.ID])
		}
		seen[m.ID] = true
	}
	if len(seen) != len(sigs) {
		t.Fatalf("Submit published %d first tasks, want %d", len(seen), len(sigs))
	}
}
