package transporttest

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

// BenchWorker runs b.N no-op tasks, enqueued in batches beforehand, through
// a runtime.Worker of the given concurrency on queue "bench" of tr, and
// times the worker alone. Besides the time per task, which the broker's
// speed and the machine's other load sway, it reports this process's CPU
// time per task (client-µs/op). timed, when non-nil, is called as the timer
// starts and returns what to call as it stops: to read a server's CPU
// time around the run and report it per task, say.
func BenchWorker(b *testing.B, tr runtime.Transport, concurrency int, timed func() func()) {
	ctx := context.Background()
	task := &runtime.Task[runtime.None]{
		Def:           runtime.TaskDef{Name: "bench.Noop", Queue: "bench", Priority: runtime.DefaultPriority, Fingerprint: "noop-v1"},
		MarshalResult: runtime.MarshalNone, UnmarshalResult: runtime.UnmarshalNone,
	}
	c := runtime.NewClient(tr)
	for i := 0; i < b.N; i += 500 {
		items := make([]runtime.BatchItem, min(500, b.N-i))
		for j := range items {
			items[j] = runtime.NewBatchItem(task, benchPayload)
		}
		if _, err := c.EnqueueBatch(ctx, items); err != nil {
			b.Fatal(err)
		}
	}
	w := runtime.NewWorker(tr, runtime.WorkerConfig{
		Queues: []string{"bench"}, Concurrency: concurrency,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	var done atomic.Int64
	all := make(chan struct{})
	n := int64(b.N)
	err := runtime.Register(w, task, func(context.Context, *benchArgs) (runtime.None, error) {
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
	stop := func() {}
	b.ReportAllocs()
	b.ResetTimer()
	if timed != nil {
		stop = timed()
	}
	cpu := processCPU()
	go func() { ran <- w.Run(wctx) }()
	<-all
	cpu = processCPU() - cpu
	stop()
	b.StopTimer()
	if cpu > 0 {
		b.ReportMetric(float64(cpu)/float64(time.Microsecond)/float64(b.N), "client-µs/op")
	}
	cancel()
	if err := <-ran; err != nil {
		b.Fatal(err)
	}
}

// benchArgs are a no-op task's arguments, about the size of a small
// struct's JSON, as bench/ uses; decoding them is a copy.
type benchArgs struct{ raw []byte }

func (a *benchArgs) MarshalTask() ([]byte, error) { return a.raw, nil }
func (a *benchArgs) UnmarshalTask(b []byte) error { a.raw = b; return nil }

var benchPayload = &benchArgs{raw: []byte(`{"email":"someone@example.com","name":"Someone","plan":"pro"}`)}
