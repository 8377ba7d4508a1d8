package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// TaskInfo describes the task a handler is running.
type TaskInfo struct {
	ID         string
	Task       string
	Queue      string
	Attempt    int // handler failures before this run; 0 on the first run
	Retries    int
	Deliveries int // deliveries including this one; above Attempt+1 after a crash
	// Crashes counts the earlier deliveries that ended without an outcome
	// (the worker died, or lost its lease): unlike handler failures, they
	// use up none of the task's retries. WorkerConfig.DeliveryLimit bounds
	// them.
	Crashes    int
	WorkflowID string
	NodeID     string
	Headers    map[string]string
	Request    *Request
	// Route names the routing layer that chose Queue (Envelope.Route).
	Route string
}

type infoKey struct{}

type taskCtx struct {
	info  TaskInfo
	store Store
	ttl   time.Duration // of progress records
	// recorded is the task's active record, which progress must not
	// overtake.
	recorded *activeRecord
}

// Info returns the task a handler is running; ok is false outside handlers.
func Info(ctx context.Context) (info TaskInfo, ok bool) {
	tc, ok := ctx.Value(infoKey{}).(*taskCtx)
	if !ok {
		return TaskInfo{}, false
	}
	return tc.info, true
}

// Progress records the running task's progress: a short state ("fetching",
// "42%") and optional metadata, encoded as JSON. Clients read it with
// Handle.Status. Outside a handler, or without a store, it returns an error.
func Progress(ctx context.Context, state string, meta map[string]any) error {
	tc, ok := ctx.Value(infoKey{}).(*taskCtx)
	if !ok {
		return fmt.Errorf("taskgen: Progress called outside a task handler")
	}
	if tc.store == nil {
		return ErrNoStore
	}
	if tc.recorded != nil {
		if err := tc.recorded.wait(ctx); err != nil {
			return err
		}
	}
	var b []byte
	if meta != nil {
		var err error
		if b, err = json.Marshal(meta); err != nil {
			return &TaskError{Task: tc.info.Task, ID: tc.info.ID, Queue: tc.info.Queue, Err: fmt.Errorf("progress meta: %w", err)}
		}
	}
	return tc.store.SetProgress(ctx, tc.info.ID, state, b, tc.ttl)
}

type requestKey struct{}

// WithRequest returns ctx carrying r. Tasks enqueued with the returned ctx
// carry r, and their handlers see it in Info; tasks they enqueue inherit it.
func WithRequest(ctx context.Context, r Request) context.Context {
	return context.WithValue(ctx, requestKey{}, &r)
}

// RequestFrom returns the request attached to ctx by WithRequest, or by the
// worker for a task that carries one.
func RequestFrom(ctx context.Context) (Request, bool) {
	r, ok := ctx.Value(requestKey{}).(*Request)
	if !ok || r == nil {
		return Request{}, false
	}
	return *r, true
}
