package runtime

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Limiter is implemented by stores that keep the global limits of tasks
// (DESIGN §1, rate= and concurrency=): token buckets and semaphores shared
// by every worker on the store. The memory and Redis transports implement
// it. It is a seam for store packages; users set limits with the
// annotation, [SetRateLimit] and [ConcurrencyKey].
//
// Every implementation passes the limiter cases of transport/transporttest.
// Times are measured on the store's clock, so workers whose clocks differ
// still agree.
type Limiter interface {
	// TakeRate takes a token from the bucket key, which gives one token
	// every r.Period/r.N and holds at most one: the starts it allows are
	// spaced evenly. A token that is due within horizon is reserved for
	// the caller: reserved is true, and wait is how long until the token
	// is due (zero: now). Otherwise reserved is false, and wait is when to
	// ask again; callers that ask while the bucket is behind are spaced
	// one interval apart in that order, up to spread ahead. A wait above
	// spread means no place was given: the caller picks its own time.
	// Changing r between calls takes effect at once for tokens not yet
	// reserved.
	TakeRate(ctx context.Context, key string, r Rate, horizon, spread time.Duration) (wait time.Duration, reserved bool, err error)
	// AcquireSlot takes one of the limit slots of the semaphore key for
	// holder, for lease, and reports whether it did. Slots whose lease has
	// lapsed are free. A holder that has a slot keeps it, with its lease
	// renewed.
	AcquireSlot(ctx context.Context, key string, limit int, holder string, lease time.Duration) (bool, error)
	// ExtendSlot renews holder's slot of key for lease from now, and
	// reports whether holder still had it.
	ExtendSlot(ctx context.Context, key, holder string, lease time.Duration) (bool, error)
	// ReleaseSlot frees holder's slot of key; a slot not held is not an
	// error.
	ReleaseSlot(ctx context.Context, key, holder string) error
}

// ErrNoLimiter is returned when a task has a global limit and the store
// does not keep limits (it is not a [Limiter]).
var ErrNoLimiter = errors.New("taskgen: the store does not keep global limits (runtime.Limiter); use the Redis or memory store")

// Unlimited, given to [SetRateLimit], lifts a task's rate limit, the
// annotation's included, until it is set again.
var Unlimited = Rate{N: -1}

// Store keys of the limits. Store implementations add their own prefix.
const (
	rateBucketPrefix   = "taskgen:limit:rate:"
	rateOverridePrefix = "taskgen:limit:rate-set:"
	slotPrefix         = "taskgen:limit:slots:"
)

// String formats r as the annotation does ("10/s"), or as "N/<duration>"
// for a period that is not a second, a minute or an hour. The zero Rate
// is "none" and Unlimited is "unlimited".
func (r Rate) String() string {
	switch {
	case r.N == 0:
		return "none"
	case r.N < 0:
		return "unlimited"
	}
	switch r.Period {
	case time.Second:
		return strconv.Itoa(r.N) + "/s"
	case time.Minute:
		return strconv.Itoa(r.N) + "/m"
	case time.Hour:
		return strconv.Itoa(r.N) + "/h"
	}
	return strconv.Itoa(r.N) + "/" + r.Period.String()
}

// ParseRate parses a rate written as the annotation's rate= option
// ("50/s", "10/m", "100/h"), or with any Go duration as the period
// ("5/500ms"). "unlimited" is [Unlimited].
func ParseRate(s string) (Rate, error) {
	if s == "unlimited" {
		return Unlimited, nil
	}
	n, per, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, fmt.Errorf("taskgen: rate %q: want N/s, N/m, N/h or N/<duration>, such as 10/s", s)
	}
	r := Rate{}
	var err error
	if r.N, err = strconv.Atoi(n); err != nil || r.N <= 0 {
		return Rate{}, fmt.Errorf("taskgen: rate %q: N must be an integer above 0", s)
	}
	switch per {
	case "s":
		r.Period = time.Second
	case "m":
		r.Period = time.Minute
	case "h":
		r.Period = time.Hour
	default:
		if r.Period, err = time.ParseDuration(per); err != nil || r.Period <= 0 {
			return Rate{}, fmt.Errorf("taskgen: rate %q: the period must be s, m, h or a positive duration", s)
		}
	}
	return r, nil
}

// interval is the time between two starts at rate r.
func (r Rate) interval() time.Duration {
	if r.N <= 0 || r.Period <= 0 {
		return 0
	}
	return max(r.Period/time.Duration(r.N), time.Microsecond)
}

// SetRateLimit sets the global rate limit of the task named task (its wire
// name) for every worker on store s, over the annotation's rate= option.
// Workers pick it up within a second. Unlimited lifts the limit; the zero
// Rate goes back to the annotation's.
func SetRateLimit(ctx context.Context, s Store, task string, r Rate) error {
	if s == nil {
		return ErrNoStore
	}
	key := rateOverridePrefix + task
	var err error
	switch {
	case r.N == 0:
		err = s.Delete(ctx, key)
	case r.N > 0 && r.Period <= 0:
		return fmt.Errorf("taskgen: set rate limit of task %s: %d per %v: the period must be positive", task, r.N, r.Period)
	default:
		err = s.Put(ctx, key, []byte(r.String()), 0)
	}
	if err != nil {
		return fmt.Errorf("taskgen: set rate limit of task %s to %v: %w", task, r, err)
	}
	return nil
}

// RateLimit returns the rate limit that [SetRateLimit] set for task on
// store s: the zero Rate when none was set, so the annotation's applies.
func RateLimit(ctx context.Context, s Store, task string) (Rate, error) {
	if s == nil {
		return Rate{}, ErrNoStore
	}
	b, err := s.Get(ctx, rateOverridePrefix+task)
	switch {
	case errors.Is(err, ErrNotFound):
		return Rate{}, nil
	case err != nil:
		return Rate{}, fmt.Errorf("taskgen: rate limit of task %s: %w", task, err)
	}
	r, err := ParseRate(string(b))
	if err != nil {
		return Rate{}, fmt.Errorf("taskgen: rate limit of task %s: stored value: %w", task, err)
	}
	return r, nil
}

// concurrencyKeyHeader carries the ConcurrencyKey of a task.
const concurrencyKeyHeader = "taskgen.concurrency-key"

// ConcurrencyKey makes the task's concurrency= limit apply per key: at
// most N tasks with the same key run at once across all workers, and tasks
// with other keys do not wait for them (per-tenant fairness). The key
// travels in the message, and the handler sees it in Info's Headers. It
// has no effect on a task without concurrency=.
func ConcurrencyKey(key string) Option {
	return Header(concurrencyKeyHeader, key)
}
