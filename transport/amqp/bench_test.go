package amqp_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/amqp"
)

// BenchmarkWorker runs b.N no-op tasks, published beforehand, through a
// runtime.Worker of concurrency 64 with a prefetch of 256, as bench/amqp
// does; the profile of this benchmark is the consuming side's.
func BenchmarkWorker(b *testing.B) {
	tr := newTransport(b, amqp.Config{Prefetch: 256})
	ctx := context.Background()
	task := &runtime.Task[runtime.None]{
		Def:           runtime.TaskDef{Name: "bench.Noop", Queue: "bench", Priority: runtime.DefaultPriority, Fingerprint: "noop-v1"},
		MarshalResult: runtime.MarshalNone, UnmarshalResult: runtime.UnmarshalNone,
	}
	if err := tr.Declare(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	c := runtime.NewClient(tr)
	for i := 0; i < b.N; i += 500 {
		items := make([]runtime.BatchItem, min(500, b.N-i))
		for j := range items {
			items[j] = runtime.NewBatchItem(task, rawPayload(`{"email":"someone@example.com","name":"Someone","plan":"pro"}`))
		}
		if _, err := c.EnqueueBatch(ctx, items); err != nil {
			b.Fatal(err)
		}
	}
	w := runtime.NewWorker(tr, runtime.WorkerConfig{Queues: []string{"bench"}, Concurrency: 64, Logger: quiet})
	var done atomic.Int64
	all := make(chan struct{})
	n := int64(b.N)
	err := w.Register(&task.Def, func(context.Context, []byte) ([]byte, error) {
		if done.Add(1) == n {
			close(all)
		}
		return nil, nil
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

// rawPayload is a task payload already encoded.
type rawPayload []byte

func (p rawPayload) MarshalTask() ([]byte, error) { return p, nil }
func (p rawPayload) UnmarshalTask([]byte) error   { return nil }
