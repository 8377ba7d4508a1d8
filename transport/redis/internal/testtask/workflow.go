package testtask

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

// The workflow tasks: Part, a chord's header member that returns its N,
// and Sum, the body that adds the header's results.

// SumArgs is the payload of Sum: the chord's results.
type SumArgs struct {
	Xs []int `json:"xs"`
}

func (a *SumArgs) MarshalTask() ([]byte, error)    { return json.Marshal(a) }
func (a *SumArgs) UnmarshalTask(data []byte) error { return json.Unmarshal(data, a) }

func intTask(name string) *runtime.Task[int] {
	return &runtime.Task[int]{
		Def: runtime.TaskDef{
			Name: name, Queue: Task.Def.Queue, Priority: runtime.DefaultPriority,
			BackoffMin: time.Millisecond, BackoffMax: time.Millisecond, Fingerprint: name + "-v1",
		},
		MarshalResult:   func(v int) ([]byte, error) { return json.Marshal(v) },
		UnmarshalResult: func(b []byte) (v int, err error) { err = json.Unmarshal(b, &v); return v, err },
	}
}

// Part and Sum are the tasks' descriptors; they share Task's queue.
var (
	Part = intTask("testtask.Part")
	Sum  = intTask("testtask.Sum")
)

// PartSig is header member n; SumStep is the chord's body.
func PartSig(n int) runtime.Sig[int] { return runtime.NewSig(Part, &Args{N: n}) }
func SumStep() runtime.Step[[]int, int] {
	return runtime.NewStep(Sum, "xs", &SumArgs{}, func(xs []int) ([]byte, error) { return json.Marshal(xs) })
}

// PartsKey counts the completed runs of Part n, BodyRuns those of Sum.
func PartsKey(n int) string { return "testtask:parts:" + strconv.Itoa(n) }

const BodyRuns = "testtask:body"

// HangEvery is how often a hanging worker's Part hangs: on every member
// whose N is a multiple of it. The others run, so the worker advances the
// workflow until its slots are all hung.
const HangEvery = 50

// RegisterWorkflow binds Part and Sum on w. Part works for delay and
// counts its run; with hang set, it hangs instead on every HangEvery-th
// member, counted under HungKey and HungTotal.
func RegisterWorkflow(w *runtime.Worker, store runtime.Store, hang bool, delay time.Duration) error {
	err := runtime.Register(w, Part, func(ctx context.Context, a *Args) (int, error) {
		if hang && a.N%HangEvery == 0 {
			if _, err := store.Incr(ctx, HungKey(a.N), 1, 0); err != nil {
				return 0, err
			}
			if _, err := store.Incr(ctx, HungTotal, 1, 0); err != nil {
				return 0, err
			}
			select {} // until the process is killed
		}
		time.Sleep(delay)
		_, err := store.Incr(context.WithoutCancel(ctx), PartsKey(a.N), 1, 0)
		return a.N, err
	})
	if err != nil {
		return err
	}
	return runtime.Register(w, Sum, func(ctx context.Context, a *SumArgs) (int, error) {
		total := 0
		for _, x := range a.Xs {
			total += x
		}
		_, err := store.Incr(context.WithoutCancel(ctx), BodyRuns, 1, 0)
		return total, err
	})
}
