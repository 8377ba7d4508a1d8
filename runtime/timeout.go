package runtime

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// defaultTimeoutGrace is how long a handler may run past its timeout,
// ignoring its cancelled ctx, before the worker abandons it.
const defaultTimeoutGrace = 5 * time.Second

// TimeoutError is the failure of an attempt whose handler ignored its
// ctx: it was still running TimeoutGrace after its timeout, and the worker
// abandoned it. The attempt counts as failed, and the task retries.
type TimeoutError struct {
	Task    string
	ID      string
	Queue   string
	Timeout time.Duration
	Grace   time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("task %s (id %s) on queue %q timed out: its handler ignored its ctx for %v past its %v timeout and was abandoned",
		e.Task, e.ID, e.Queue, e.Grace, e.Timeout)
}

// Abandoned returns how many handlers the worker has abandoned because
// they ignored their ctx past their timeout and its grace period.
func (w *Worker) Abandoned() int64 { return w.abandoned.Load() }

// runBounded runs the handler as run does, and calls returned once the
// handler has returned, before it returns itself. A task with a timeout
// runs in a goroutine of its own: if the handler has not returned
// TimeoutGrace after its ctx's deadline, runBounded stops waiting and
// returns a *TimeoutError and abandoned, so the worker's slot is freed and
// the task retries. The abandoned handler's result, when it comes, is
// dropped, and its goroutine calls returned then.
func (w *Worker) runBounded(ctx context.Context, env *Envelope, d *Delivery, h Handler, recorded *activeRecord, returned func()) (result []byte, abandoned bool, err error) {
	if env.Timeout <= 0 {
		defer returned()
		result, err = w.run(ctx, env, d, h, recorded)
		return result, false, err
	}
	type outcome struct {
		result []byte
		err    error
	}
	// Whoever moves state from running calls returned: runBounded once
	// the handler finished, or the handler's goroutine once abandoned.
	const (
		running = iota
		finished
		gone
	)
	var state atomic.Int32
	done := make(chan outcome, 1)
	e := *env // the worker changes env if it abandons the handler
	go func() {
		r, err := w.run(ctx, &e, d, h, recorded) // run recovers panics
		if !state.CompareAndSwap(running, finished) {
			returned() // abandoned
			return
		}
		done <- outcome{r, err}
	}()
	t := time.NewTimer(env.Timeout + w.cfg.TimeoutGrace)
	defer t.Stop()
	select {
	case o := <-done:
		returned()
		return o.result, false, o.err
	case <-t.C:
	}
	if !state.CompareAndSwap(running, gone) {
		o := <-done // it returned just now
		returned()
		return o.result, false, o.err
	}
	w.abandoned.Add(1)
	err = &TimeoutError{Task: env.Task, ID: env.ID, Queue: env.Queue, Timeout: env.Timeout, Grace: w.cfg.TimeoutGrace}
	w.log.Error("taskgen: handler ignored its timeout; abandoned", "task", env.Task, "id", env.ID, "queue", env.Queue,
		"timeout", env.Timeout, "grace", w.cfg.TimeoutGrace, "abandoned", w.abandoned.Load())
	return nil, true, err
}
