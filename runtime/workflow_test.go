package runtime_test

// The workflow semantics are specified in transport/transporttest
// (RunWorkflows) and run on every transport; these are the cases that need
// no worker.

import (
	"errors"
	"testing"

	"github.com/taskgen/taskgen/runtime"
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
