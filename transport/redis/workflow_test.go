package redis_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/redis"
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

func jsonCodec[T any]() (func(T) ([]byte, error), func([]byte) (T, error)) {
	return func(v T) ([]byte, error) { return json.Marshal(v) },
		func(b []byte) (T, error) {
			var v T
			err := json.Unmarshal(b, &v)
			return v, err
		}
}

// A chord feeding a chain runs on the Redis store: joins, results and the
// body's single publish all go through it, on one server and on a cluster.
func TestWorkflowOnRedis(t *testing.T) {
	t.Parallel()
	for name, client := range map[string]func(t *testing.T) goredis.UniversalClient{
		"server":  func(t *testing.T) goredis.UniversalClient { return newClient(t) },
		"cluster": func(t *testing.T) goredis.UniversalClient { return newClusterClient(t) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tr := newTransport(t, client(t), redis.Config{})
			enc, dec := jsonCodec[int]()
			add := &runtime.Task[int]{Def: runtime.TaskDef{Name: "wf.Add", Queue: "wf", Fingerprint: "add"}, MarshalResult: enc, UnmarshalResult: dec}
			sum := &runtime.Task[int]{Def: runtime.TaskDef{Name: "wf.Sum", Queue: "wf", Fingerprint: "sum"}, MarshalResult: enc, UnmarshalResult: dec}
			w := runtime.NewWorker(tr, runtime.WorkerConfig{Concurrency: 4, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
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
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx) }()
			defer func() { cancel(); <-done }()

			encList, _ := jsonCodec[[]int]()
			header := []runtime.Sig[int]{
				runtime.NewSig(add, &pairArgs{A: 1, B: 2}),
				runtime.NewSig(add, &pairArgs{A: 3, B: 4}),
				runtime.NewSig(add, &pairArgs{A: 5, B: 6}),
			}
			flow := runtime.Then(
				runtime.Chord(header, runtime.NewStep(sum, "xs", &listArgs{}, encList)),
				runtime.NewStep(add, "a", &pairArgs{B: 100}, enc),
			)
			h, err := runtime.Submit(t.Context(), runtime.NewClient(tr), flow)
			if err != nil {
				t.Fatalf("Submit: %v", err)
			}
			wctx, wcancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer wcancel()
			if got, err := h.Get(wctx); err != nil || got != 121 {
				t.Fatalf("workflow result = %d, %v; want (3+7+11)+100 = 121", got, err)
			}
		})
	}
}
