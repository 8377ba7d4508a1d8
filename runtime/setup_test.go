package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/memory"
)

// eventually bounds what must happen; generous for shared machines.
const eventually = 10 * time.Second

// addArgs is a hand-written payload, standing in for generated code.
type addArgs struct {
	A int `json:"a"`
	B int `json:"b"`
}

func (a *addArgs) MarshalTask() ([]byte, error)    { return json.Marshal(a) }
func (a *addArgs) UnmarshalTask(data []byte) error { return json.Unmarshal(data, a) }

func jsonResult[R any]() (func(R) ([]byte, error), func([]byte) (R, error)) {
	return func(v R) ([]byte, error) { return json.Marshal(v) },
		func(b []byte) (R, error) {
			var v R
			err := json.Unmarshal(b, &v)
			return v, err
		}
}

// newTask returns a task descriptor on queue with fast retries.
func newTask(name, queue string, retries int) *runtime.Task[int] {
	enc, dec := jsonResult[int]()
	return &runtime.Task[int]{
		Def: runtime.TaskDef{
			Name: name, Queue: queue, Priority: runtime.DefaultPriority, Retries: retries,
			BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond, Fingerprint: "fp-" + name,
		},
		MarshalResult: enc, UnmarshalResult: dec,
	}
}

type bundle struct {
	tr *memory.Transport
	c  *runtime.Client
	w  *runtime.Worker
}

func setup(t *testing.T, cfg runtime.WorkerConfig) *bundle {
	t.Helper()
	tr := memory.New()
	t.Cleanup(func() { tr.Close() })
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &bundle{tr: tr, c: runtime.NewClient(tr), w: runtime.NewWorker(tr, cfg)}
}

// register binds fn to task on the bundle's worker.
func (b *bundle) register(t *testing.T, task *runtime.Task[int], fn func(context.Context, *addArgs) (int, error)) {
	t.Helper()
	if err := runtime.Register(b.w, task, fn); err != nil {
		t.Fatal(err)
	}
}

// runWorker runs w until the test ends.
func runWorker(t *testing.T, w *runtime.Worker) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// start runs the worker until the test ends, and returns a stop function
// that cancels it and returns Run's error.
func (b *bundle) start(t *testing.T) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.w.Run(ctx) }()
	var stopped bool
	var err error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			err = <-done
		}
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func (b *bundle) enqueue(t *testing.T, task *runtime.Task[int], a, c int, opts ...runtime.Option) *runtime.Handle[int] {
	t.Helper()
	h, err := runtime.Enqueue(t.Context(), b.c, task, &addArgs{A: a, B: c}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), eventually)
	t.Cleanup(cancel)
	return ctx
}

func add(_ context.Context, a *addArgs) (int, error) { return a.A + a.B, nil }

// deadLetters waits for n dead letters on queue.
func deadLetters(t *testing.T, tr runtime.Transport, queue string, n int) []runtime.DeadLetter {
	t.Helper()
	deadline := time.Now().Add(eventually)
	for {
		dls, err := tr.DeadLetters(t.Context(), queue, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(dls) >= n || time.Now().After(deadline) {
			if len(dls) != n {
				t.Fatalf("dead letters on %s: got %d, want %d: %+v", queue, len(dls), n, dls)
			}
			return dls
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func asTaskError(t *testing.T, err error) *runtime.TaskError {
	t.Helper()
	var te *runtime.TaskError
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T) is not a *runtime.TaskError", err, err)
	}
	return te
}
