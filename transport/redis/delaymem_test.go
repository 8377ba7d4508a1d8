package redis_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	goruntime "runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/redis"
)

// padArgs is a payload of a chosen size.
type padArgs struct {
	N   int    `json:"n"`
	Pad string `json:"pad"`
}

func (a *padArgs) MarshalTask() ([]byte, error)    { return json.Marshal(a) }
func (a *padArgs) UnmarshalTask(data []byte) error { return json.Unmarshal(data, a) }

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() uint64 {
	var m goruntime.MemStats
	goruntime.GC()
	goruntime.GC()
	goruntime.ReadMemStats(&m)
	return m.HeapAlloc
}

// Delayed tasks live in Redis, not in the worker: 100,000 of them, due in
// an hour, leave the heap of a worker serving their queue (and running
// tasks from it meanwhile) as it was, where holding their bodies would
// take tens of megabytes. Not parallel, so that no other test's
// allocations blur the measure.
func TestDelayedTasksConstantMemory(t *testing.T) {
	const (
		delayed = 100_000
		chunk   = 2_000
		ready   = 50
		padding = 200
	)
	tr := newTransport(t, newClient(t), redis.Config{})
	queue := "delaymem"
	task := &runtime.Task[runtime.None]{
		Def: runtime.TaskDef{
			Name: "delaymem.Work", Queue: queue, Priority: runtime.DefaultPriority,
			BackoffMin: time.Millisecond, BackoffMax: time.Millisecond, Fingerprint: "delaymem-v1",
		},
		MarshalResult: runtime.MarshalNone, UnmarshalResult: runtime.UnmarshalNone,
	}
	var ran atomic.Int64
	w := runtime.NewWorker(tr, runtime.WorkerConfig{
		Queues: []string{queue}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err := runtime.Register(w, task, func(ctx context.Context, a *padArgs) (runtime.None, error) {
		ran.Add(1)
		return runtime.None{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})

	c := runtime.NewClient(tr)
	runReady := func(want int64) {
		t.Helper()
		for i := range ready {
			if _, err := runtime.Enqueue(t.Context(), c, task, &padArgs{N: i}); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(time.Minute)
		for ran.Load() < want {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d ready tasks ran within a minute", ran.Load(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// Warm up: the worker has fetched, run and settled tasks once.
	runReady(ready)
	before := liveHeap()
	began := time.Now()

	// One payload for all, encoded once: each task still has a message
	// of its own in Redis.
	payload, err := (&padArgs{N: 1, Pad: strings.Repeat("x", padding)}).MarshalTask()
	if err != nil {
		t.Fatal(err)
	}
	for range delayed / chunk {
		items := make([]runtime.BatchItem, chunk)
		for i := range items {
			items[i] = runtime.RawBatchItem(&task.Def, payload, runtime.Delay(time.Hour))
		}
		if _, err := c.EnqueueBatch(t.Context(), items); err != nil {
			t.Fatal(err)
		}
	}
	bodies := delayed * len(payload)
	stats, err := tr.Stats(t.Context(), queue)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Delayed != delayed {
		t.Fatalf("stats after the batch: %+v; want %d delayed", stats, delayed)
	}
	// The worker keeps serving the queue, delayed tasks and all.
	runReady(2 * ready)
	time.Sleep(500 * time.Millisecond) // a few more empty fetches
	after := liveHeap()

	growth := int64(after) - int64(before)
	t.Logf("live heap %d KiB before and %d KiB after %d delayed tasks (%d KiB of payloads, enqueued and served in %v)",
		before>>10, after>>10, delayed, bodies>>10, time.Since(began).Round(time.Millisecond))
	// Holding the tasks would cost at least their payloads; allow a
	// tenth of that for noise.
	if limit := int64(bodies / 10); growth > limit {
		t.Fatalf("the live heap grew by %d KiB with %d delayed tasks in the broker, more than %d KiB", growth>>10, delayed, limit>>10)
	}
}
