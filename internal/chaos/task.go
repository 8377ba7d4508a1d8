package chaos

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

// Queue is the queue of the suite's tasks.
const Queue = "chaos"

// Args is the payload of the suite's tasks.
type Args struct {
	// N numbers the task within its test, from 0; the task ID is ID(N).
	N int `json:"n"`
	// ETA is when the task may start, in Unix nanoseconds; 0 means now.
	// The handler records a start before it as early.
	ETA int64 `json:"eta,omitempty"`
	// Work is how long the handler works before it completes.
	Work time.Duration `json:"work,omitempty"`
}

// MarshalTask encodes a as JSON.
func (a *Args) MarshalTask() ([]byte, error) { return json.Marshal(a) }

// UnmarshalTask decodes a from JSON.
func (a *Args) UnmarshalTask(data []byte) error { return json.Unmarshal(data, a) }

// WorkTask works for Args.Work, then records its completion. Its failures
// are retried quickly; a crash does not count as a failure.
var WorkTask = &runtime.Task[runtime.None]{
	Def: runtime.TaskDef{
		Name: "chaos.Work", Queue: Queue, Priority: runtime.DefaultPriority, Retries: 10,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond, Fingerprint: "chaos-work-v1",
	},
	MarshalResult: runtime.MarshalNone, UnmarshalResult: runtime.UnmarshalNone,
}

// PanicTask panics on every run, so that it ends dead-lettered after its
// retries.
var PanicTask = &runtime.Task[runtime.None]{
	Def: runtime.TaskDef{
		Name: "chaos.Panic", Queue: Queue, Priority: runtime.DefaultPriority, Retries: 2,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, Fingerprint: "chaos-panic-v1",
	},
	MarshalResult: runtime.MarshalNone, UnmarshalResult: runtime.UnmarshalNone,
}

// ID is the task ID the suite gives task n, so that a worker can name the
// task of a delivery without decoding it.
func ID(n int) string { return "chaos-" + strconv.Itoa(n) }

// ParseID returns the n of a task ID made by ID, or -1.
func ParseID(id string) int {
	const p = "chaos-"
	if len(id) <= len(p) || id[:len(p)] != p {
		return -1
	}
	n, err := strconv.Atoi(id[len(p):])
	if err != nil || n < 0 {
		return -1
	}
	return n
}
