package runtime

import (
	"context"
	"encoding/json"
	"errors"
)

// Handle is a typed reference to an enqueued task's result.
type Handle[R any] struct {
	id     string
	store  Store
	decode func([]byte) (R, error)
	// For a workflow's handles: the submitted graph and this handle's
	// node in it, for Parent; Cancel revokes the whole workflow.
	graph *submitted
	node  int
}

// submitted is a workflow's graph as its handles know it.
type submitted struct {
	wf    string
	nodes []*wfNode
}

// NewHandle returns a handle on task id whose result lives in store and
// decodes with decode. Generated code and Enqueue build handles; users get
// them from there, or build one from a stored ID.
func NewHandle[R any](id string, store Store, decode func([]byte) (R, error)) *Handle[R] {
	return &Handle[R]{id: id, store: store, decode: decode}
}

// ID returns the task ID.
func (h *Handle[R]) ID() string { return h.id }

// Status returns what the store knows of the task. A task the store has no
// record of yet is reported as pending.
func (h *Handle[R]) Status(ctx context.Context) (*Record, error) {
	if h.store == nil {
		return nil, ErrNoStore
	}
	r, err := h.store.GetRecord(ctx, h.id)
	if errors.Is(err, ErrNotFound) {
		return &Record{ID: h.id, State: StatePending}, nil
	}
	return r, err
}

// Get waits for the task to finish and returns its result, or the error it
// failed with, as a *TaskError naming the task, the queue and the cause.
// It returns ErrWaitInTask inside a handler, and ctx's error when ctx is
// done first.
func (h *Handle[R]) Get(ctx context.Context) (R, error) {
	var zero R
	if _, inTask := Info(ctx); inTask {
		return zero, ErrWaitInTask
	}
	if h.store == nil {
		return zero, ErrNoStore
	}
	r, err := h.store.WaitRecord(ctx, h.id)
	if err != nil {
		return zero, err
	}
	if r.State != StateSucceeded {
		return zero, &TaskError{Task: r.Task, ID: r.ID, Queue: r.Queue, Err: &FailedError{State: r.State, Message: r.Error}}
	}
	v, err := h.decode(r.Result)
	if err != nil {
		return zero, &TaskError{Task: r.Task, ID: r.ID, Queue: r.Queue, Err: err}
	}
	return v, nil
}

// Cancel revokes the task, or every task of the workflow: those that have
// not started never run (the worker drops them and records them as
// cancelled), and running handlers see their ctx cancelled, with cause
// ErrCancelled, within a second or a third of the worker's lease. A
// handler that then returns an error is not retried. Get returns an error
// that matches ErrCancelled, unless the task had already finished. Work
// that has finished is not undone. Cancel returns once every worker will
// see the revocation (at least 250 ms); if ctx ends before that, it
// returns ctx's error, and a worker may still start the task.
func (h *Handle[R]) Cancel(ctx context.Context) error {
	if h.store == nil {
		return ErrNoStore
	}
	if h.graph != nil {
		return cancelTask(ctx, h.store, h.graph.wf, workflowTask)
	}
	return cancelTask(ctx, h.store, h.id, "")
}

// Parent returns the handle of the previous step of a chain (Then, Seq):
// for runtime.Then(runtime.Then(a, b), c), the workflow's handle has as
// parent the handle of Then(a, b), whose result is b's, and whose parent
// is a's handle. It returns nil for the first step of a chain, for a
// group, a chord or Map (whose members run side by side, not one after
// another: a chord's body is not its header's child), for a plain task,
// and for a handle not returned by Submit or Parent. A parent's result is
// its encoded value; Cancel on it cancels the whole workflow. Get on the
// parent of a step that never ran because the workflow was cancelled
// waits until ctx is done.
func (h *Handle[R]) Parent() *Handle[json.RawMessage] {
	if h.graph == nil || h.node < 0 || h.node >= len(h.graph.nodes) {
		return nil
	}
	n := h.graph.nodes[h.node]
	if (n.Kind != nodeThen && n.Kind != nodeSeq) || len(n.Children) == 0 {
		return nil
	}
	p := n.Children[0]
	return &Handle[json.RawMessage]{
		id: nodeRecordID(h.graph.wf, p), store: h.store, graph: h.graph, node: p,
		decode: func(b []byte) (json.RawMessage, error) { return json.RawMessage(b), nil },
	}
}

// Wait waits for the task to finish and returns nil if it succeeded; see Get.
func (h *Handle[R]) Wait(ctx context.Context) error {
	_, err := h.Get(ctx)
	return err
}

// FailedError is the stored outcome of a task that did not succeed. Its
// Message starts with the dead-letter reason, such as "failed" or
// "schema_mismatch".
type FailedError struct {
	State   State
	Message string
}

// Is reports whether target is ErrCancelled and the task was cancelled.
func (e *FailedError) Is(target error) bool {
	return target == ErrCancelled && e.State == StateCancelled
}

func (e *FailedError) Error() string {
	if e.Message == "" {
		return string(e.State)
	}
	return e.Message
}
