// Package testtask is the task the process-level tests of the Redis
// transport run in worker processes (internal/testworker) that they kill.
package testtask

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

// Args is the task's payload.
type Args struct {
	N int `json:"n"`
}

func (a *Args) MarshalTask() ([]byte, error)    { return json.Marshal(a) }
func (a *Args) UnmarshalTask(data []byte) error { return json.Unmarshal(data, a) }

// Task is the task's descriptor. Retries are off: a run that fails would
// blur the counts the tests check.
var Task = &runtime.Task[runtime.None]{
	Def: runtime.TaskDef{
		Name: "testtask.Work", Queue: "work", Priority: runtime.DefaultPriority,
		BackoffMin: time.Millisecond, BackoffMax: time.Millisecond, Fingerprint: "testtask-v1",
	},
	MarshalResult: runtime.MarshalNone, UnmarshalResult: runtime.UnmarshalNone,
}

// Keys in the store that the handlers count with.
func RunsKey(n int) string        { return "testtask:runs:" + strconv.Itoa(n) } // completed runs of task n
func HungKey(n int) string        { return "testtask:hung:" + strconv.Itoa(n) } // runs of task n that hung
const HungTotal = "testtask:hung" // runs that hung, in all

// Register binds the task on w. A normal handler works briefly and counts
// its run; with hang set, the handler counts that it started and then
// never returns, like a worker stuck mid-task until it is killed.
func Register(w *runtime.Worker, store runtime.Store, hang bool) error {
	return runtime.Register(w, Task, func(ctx context.Context, a *Args) (runtime.None, error) {
		if hang {
			if _, err := store.Incr(ctx, HungKey(a.N), 1, 0); err != nil {
				return runtime.None{}, err
			}
			if _, err := store.Incr(ctx, HungTotal, 1, 0); err != nil {
				return runtime.None{}, err
			}
			select {} // until the process is killed
		}
		time.Sleep(2 * time.Millisecond)
		_, err := store.Incr(context.WithoutCancel(ctx), RunsKey(a.N), 1, 0)
		return runtime.None{}, err
	})
}
