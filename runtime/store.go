package runtime

import (
	"context"
	"errors"
	"time"
)

// State is where a task is in its life.
type State string

// Task states.
const (
	StatePending   State = "pending"   // enqueued, not started (also: unknown to the store)
	StateActive    State = "active"    // a handler has run it for 20 ms or more, or it reported progress
	StateRetry     State = "retry"     // failed, waiting for its next attempt
	StateSucceeded State = "succeeded" // done; the result is stored
	StateFailed    State = "failed"    // dead-lettered; Error says why
	StateExpired   State = "expired"   // not started before its expiry
	StateCancelled State = "cancelled" // revoked by Handle.Cancel
)

// Terminal reports whether s is final.
func (s State) Terminal() bool {
	return s == StateSucceeded || s == StateFailed || s == StateExpired || s == StateCancelled
}

// Record is what a store keeps about one task.
type Record struct {
	ID      string
	Task    string
	Queue   string
	State   State
	Attempt int
	// Result is the encoded result of a succeeded task.
	Result []byte
	// Error is the last error's text.
	Error string
	// Progress and ProgressMeta are the last values given to [Progress].
	Progress     string
	ProgressMeta []byte
	UpdatedAt    time.Time
}

// Store keeps results, progress and shared state. It is a seam for broker
// packages; the memory and Redis transports are also stores.
type Store interface {
	// PutRecord writes r's state, result and error, and wakes WaitRecord
	// callers when r is terminal. Progress already recorded is kept; r's
	// progress is taken only when no record exists. ttl > 0 sets the
	// record's expiry; zero keeps the current one.
	PutRecord(ctx context.Context, r *Record, ttl time.Duration) error
	// PutRecordUnlessTerminal writes r as PutRecord does, in one step with
	// a check that the task's record is not terminal already, and reports
	// whether it wrote. A cancel and the worker's active and retry records
	// use it, so that they never overwrite the outcome of a task that
	// finished meanwhile.
	PutRecordUnlessTerminal(ctx context.Context, r *Record, ttl time.Duration) (bool, error)
	// SetProgress records a task's progress, creating a pending record when
	// there is none; ttl as for PutRecord.
	SetProgress(ctx context.Context, id, state string, meta []byte, ttl time.Duration) error
	// GetRecord returns the record of task id, or ErrNotFound.
	GetRecord(ctx context.Context, id string) (*Record, error)
	// WaitRecord blocks until task id's record is terminal, or ctx is done.
	// It is notified, not polled.
	WaitRecord(ctx context.Context, id string) (*Record, error)

	// Put stores value under key for ttl (zero: no expiry).
	Put(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// PutNX stores value under key only if key is absent, and reports
	// whether it did.
	PutNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
	// Get returns the value under key, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// CompareAndSwap stores value under key for ttl (zero: no expiry) only
	// if key holds old, in one step, and reports whether it did. A key
	// holds the value Get returns (a counter its decimal text); a missing
	// key, or a set, holds none. A lock's holder renews it this way (value
	// equal to old), so that a lock that expired and passed to another
	// holder is never overwritten.
	CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error)
	// CompareAndDelete removes key only if it holds old, as for
	// CompareAndSwap, in one step, and reports whether it did. A task's
	// unique key and a lock are released this way.
	CompareAndDelete(ctx context.Context, key string, old []byte) (bool, error)
	// Incr adds delta to the integer under key (absent is 0), sets its ttl
	// when ttl > 0, and returns the new value. The counter is stored as
	// decimal text, which Get returns; a non-integer value is an error.
	Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error)
}

// ErrNotFound is returned by a store for a missing key or record.
var ErrNotFound = errors.New("taskgen: not found")
