package runtime

import (
	"context"
	"errors"
)

// Handle is a typed reference to an enqueued task's result.
type Handle[R any] struct {
	id     string
	store  Store
	decode func([]byte) (R, error)
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

func (e *FailedError) Error() string {
	if e.Message == "" {
		return string(e.State)
	}
	return e.Message
}
