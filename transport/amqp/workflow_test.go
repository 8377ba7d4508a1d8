package amqp_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/amqp"
	"github.com/taskgen/taskgen/transport/memory"
)

type pairArgs struct {
	A int `json:"a"`
	B int `json:"b"`
}

func (a *pairArgs) MarshalTask() ([]byte, error)    { return json.Marshal(a) }
func (a *pairArgs) UnmarshalTask(data []byte) error { return json.Unmarshal(data, a) }

type listArgs struct {
	Xs []int `json:"xs"`
}

func (a *listArgs) MarshalTask() ([]byte, error)    { return json.Marshal(a) }
func (a *listArgs) UnmarshalTask(data []byte) error { return json.Unmarshal(data, a) }

func intTask(name string) *runtime.Task[int] {
	return &runtime.Task[int]{
		Def: runtime.TaskDef{
			Name: name, Queue: "flow", Priority: runtime.DefaultPriority,
			BackoffMin: time.Millisecond, BackoffMax: time.Millisecond, Fingerprint: "fp-" + name,
		},
		MarshalResult:   func(v int) ([]byte, error) { return json.Marshal(v) },
		UnmarshalResult: func(b []byte) (int, error) { var v int; err := json.Unmarshal(b, &v); return v, err },
	}
}

func marshalJSON[T any](v T) ([]byte, error) { return json.Marshal(v) }

// Workflows run on RabbitMQ with their state in the transport's store: a
// chord of additions feeds a sum, then a chained addition.
func TestWorkflowOnAMQP(t *testing.T) {
	t.Parallel()
	store := memory.New()
	tr := newTransport(t, amqp.Config{Store: store, CloseStore: true}).WithStore()
	add, sum := intTask("flow.Add"), intTask("flow.Sum")
	w := runtime.NewWorker(tr, runtime.WorkerConfig{Queues: []string{"flow"}, Concurrency: 8, Logger: quiet})
	if err := runtime.Register(w, add, func(_ context.Context, a *pairArgs) (int, error) { return a.A + a.B, nil }); err != nil {
		t.Fatal(err)
	}
	if err := runtime.Register(w, sum, func(_ context.Context, a *listArgs) (int, error) {
		total := 0
		for _, x := range a.Xs {
			total += x
		}
		return total, nil
	}); err != nil {
		t.Fatal(err)
	}
	runWorker(t, w)

	header := []runtime.Sig[int]{
		runtime.NewSig(add, &pairArgs{A: 1, B: 2}),
		runtime.NewSig(add, &pairArgs{A: 3, B: 4}),
		runtime.NewSig(add, &pairArgs{A: 5, B: 6}),
	}
	flow := runtime.Then(
		runtime.Chord(header, runtime.NewStep(sum, "xs", &listArgs{}, marshalJSON[[]int])),
		runtime.NewStep(add, "a", &pairArgs{B: 100}, marshalJSON[int]),
	)
	c := runtime.NewClient(tr)
	h, err := runtime.Submit(t.Context(), c, flow)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), eventually)
	defer cancel()
	if got, err := h.Get(ctx); err != nil || got != 121 {
		t.Fatalf("workflow result = %d, %v; want 121", got, err)
	}
}

// Without a store a workflow is refused at once.
func TestWorkflowWithoutStore(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, amqp.Config{})
	c := runtime.NewClient(tr)
	_, err := runtime.Submit(t.Context(), c, runtime.NewSig(intTask("flow.Add"), &pairArgs{A: 1}))
	if !errors.Is(err, runtime.ErrNoStore) {
		t.Fatalf("Submit without a store: %v, want runtime.ErrNoStore", err)
	}
}
