package runtime

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrWaitInTask is returned by Handle.Get and Handle.Wait called from
	// inside a handler: waiting there would hold a worker slot hostage, and
	// with every slot waiting, deadlock the worker.
	ErrWaitInTask = errors.New("taskgen: waiting for a task result inside a task handler; use a workflow (Then, Chord) instead")
	// ErrNoStore is returned by a handle or client that needs a result
	// store and has none.
	ErrNoStore = errors.New("taskgen: no result store; pass runtime.WithStore")
	// ErrDuplicate is returned by an enqueue whose unique key is taken.
	ErrDuplicate = errors.New("taskgen: duplicate task within its unique window")
)

// TaskError is a failure tied to one task. It names the task, the queue and
// the cause.
type TaskError struct {
	Task  string
	ID    string
	Queue string
	Err   error
}

func (e *TaskError) Error() string {
	if e.ID == "" {
		return fmt.Sprintf("taskgen: task %s on queue %q: %v", e.Task, e.Queue, e.Err)
	}
	return fmt.Sprintf("taskgen: task %s (id %s) on queue %q: %v", e.Task, e.ID, e.Queue, e.Err)
}

func (e *TaskError) Unwrap() error { return e.Err }

// permanentError marks an error that must not be retried.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps err so the worker does not retry the task: it goes to the
// dead-letter store at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, came from Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// retryAfterError carries a handler's chosen retry delay.
type retryAfterError struct {
	err   error
	delay time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// RetryAfter wraps err so the worker retries the task after d instead of
// its backoff. It still uses up one retry.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, delay: d}
}

// decodeError marks a payload that did not decode into a task's arguments.
type decodeError struct{ err error }

func (e *decodeError) Error() string { return "decode payload: " + e.err.Error() }
func (e *decodeError) Unwrap() error { return e.err }

// panicError is a recovered handler panic, with its stack.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string {
	return fmt.Sprintf("panic: %v\n%s", e.value, e.stack)
}
