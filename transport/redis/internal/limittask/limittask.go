// Package limittask holds the rate- and concurrency-limited tasks that the
// process-level limit tests of the Redis transport run in worker processes
// (internal/limitworker). The handlers count in the store, so that a test
// reads what every process did.
package limittask

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

// Args is the tasks' payload.
type Args struct {
	N int `json:"n"`
}

func (a *Args) MarshalTask() ([]byte, error)    { return json.Marshal(a) }
func (a *Args) UnmarshalTask(data []byte) error { return json.Unmarshal(data, a) }

// Queue is where every task goes.
const Queue = "limits"

// Store keys the handlers count in.
const (
	RatedRuns     = "limittask:rated"          // runs of Rated
	CappedRunning = "limittask:capped:running" // Capped handlers running now
	CappedRuns    = "limittask:capped:runs"    // runs of Capped
	HeldStarts    = "limittask:held"           // starts of Held
)

// CappedSeen is the key counting the Capped runs that saw n handlers
// running, themselves included, as they started.
func CappedSeen(n int64) string { return "limittask:capped:seen:" + strconv.FormatInt(n, 10) }

func task(name string, rate runtime.Rate, concurrency int) *runtime.Task[runtime.None] {
	return &runtime.Task[runtime.None]{
		Def: runtime.TaskDef{
			Name: "limittask." + name, Queue: Queue, Priority: runtime.DefaultPriority,
			BackoffMin: time.Millisecond, BackoffMax: time.Millisecond, Fingerprint: name + "-v1",
			Rate: rate, Concurrency: concurrency,
		},
		MarshalResult: runtime.MarshalNone, UnmarshalResult: runtime.UnmarshalNone,
	}
}

// The tasks. Retries are off: a failed run would blur the counts.
var (
	// Rated is limited to 50 starts a second.
	Rated = task("Rated", runtime.Rate{N: 50, Period: time.Second}, 0)
	// Capped runs at most 3 at once, for 100ms each.
	Capped = task("Capped", runtime.Rate{}, 3)
	// Held runs one at a time.
	Held = task("Held", runtime.Rate{}, 1)
)

// Register binds the tasks on w; with hang set, Held never returns, like a
// worker stuck mid-task until it is killed.
func Register(w *runtime.Worker, store runtime.Store, hang bool) error {
	count := func(ctx context.Context, key string, delta int64) (int64, error) {
		return store.Incr(context.WithoutCancel(ctx), key, delta, 0)
	}
	err := runtime.Register(w, Rated, func(ctx context.Context, _ *Args) (runtime.None, error) {
		_, err := count(ctx, RatedRuns, 1)
		return runtime.None{}, err
	})
	if err != nil {
		return err
	}
	err = runtime.Register(w, Capped, func(ctx context.Context, _ *Args) (runtime.None, error) {
		n, err := count(ctx, CappedRunning, 1)
		if err != nil {
			return runtime.None{}, err
		}
		defer count(ctx, CappedRunning, -1)
		if _, err := count(ctx, CappedSeen(n), 1); err != nil {
			return runtime.None{}, err
		}
		time.Sleep(100 * time.Millisecond)
		_, err = count(ctx, CappedRuns, 1)
		return runtime.None{}, err
	})
	if err != nil {
		return err
	}
	return runtime.Register(w, Held, func(ctx context.Context, _ *Args) (runtime.None, error) {
		if _, err := count(ctx, HeldStarts, 1); err != nil {
			return runtime.None{}, err
		}
		if hang {
			select {} // until the process is killed
		}
		return runtime.None{}, nil
	})
}
