package runtime_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/memory"
)

// BenchmarkWorker measures the worker's own cost per task: b.N no-op tasks
// enqueued in batches, then run by a worker of concurrency 50 on the
// memory transport, whose own cost is small (see its BenchmarkRoundTrip).
func BenchmarkWorker(b *testing.B) {
	ctx := context.Background()
	tr := memory.New()
	defer tr.Close()
	task := &runtime.Task[runtime.None]{
		Def:           runtime.TaskDef{Name: "bench.Noop", Queue: "bench", Priority: runtime.DefaultPriority, Fingerprint: "noop-v1"},
		MarshalResult: runtime.MarshalNone, UnmarshalResult: runtime.UnmarshalNone,
	}
	c := runtime.NewClient(tr)
	args := &noopArgs{N: 1}
	for i := 0; i < b.N; i += 500 {
		items := make([]runtime.BatchItem, min(500, b.N-i))
		for j := range items {
			items[j] = runtime.NewBatchItem(task, args)
		}
		if _, err := c.EnqueueBatch(ctx, items); err != nil {
			b.Fatal(err)
		}
	}
	w := runtime.NewWorker(tr, runtime.WorkerConfig{
		Queues: []string{"bench"}, Concurrency: 50,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	var done atomic.Int64
	all := make(chan struct{})
	n := int64(b.N)
	err := runtime.Register(w, task, func(context.Context, *noopArgs) (runtime.None, error) {
		if done.Add(1) == n {
			close(all)
		}
		return runtime.None{}, nil
	})
	if err != nil {
		b.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	ran := make(chan error, 1)
	b.ReportAllocs()
	b.ResetTimer()
	go func() { ran <- w.Run(wctx) }()
	<-all
	b.StopTimer()
	cancel()
	if err := <-ran; err != nil {
		b.Fatal(err)
	}
}

type noopArgs struct {
	N int `json:"n"`
}

func (a *noopArgs) MarshalTask() ([]byte, error)    { return []byte(`{"n":1}`), nil }
func (a *noopArgs) UnmarshalTask(data []byte) error { a.N = 1; return nil }
