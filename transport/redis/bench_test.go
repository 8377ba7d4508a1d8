package redis_test

import (
	"context"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/redis"
	"github.com/taskgen/taskgen/transport/transporttest"
)

// The benchmarks here measure the transport alone on the test Redis;
// bench/ compares the whole client and worker with asynq.

var benchBody = []byte(`{"email":"someone@example.com","name":"Someone","plan":"pro"}`)

// BenchmarkPublish publishes from 8 goroutines at once, one message per
// call, so that concurrent calls can share round trips.
func BenchmarkPublish(b *testing.B) {
	tr := newTransport(b, newClient(b), redis.Config{})
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(max(8/goruntime.GOMAXPROCS(0), 1))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := "m" + strconv.FormatInt(n.Add(1), 10)
			if err := tr.Publish(ctx, &runtime.Message{ID: id, Queue: "bench", Priority: 5, Body: benchBody}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkPublishBatch publishes batches of 500 messages.
func BenchmarkPublishBatch(b *testing.B) {
	tr := newTransport(b, newClient(b), redis.Config{})
	ctx := context.Background()
	msgs := make([]*runtime.Message, 500)
	n := 0
	b.ResetTimer()
	for i := 0; i < b.N; i += len(msgs) {
		for j := range msgs {
			n++
			msgs[j] = &runtime.Message{ID: "m" + strconv.Itoa(n), Queue: "bench", Priority: 5, Body: benchBody}
		}
		for _, err := range tr.PublishBatch(ctx, msgs) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkFetchAck runs b.N published messages through Fetch (25 at a
// time) and AckRecord from 4 goroutines, as a worker does, and reports
// the Redis server's CPU time per message (INFO cpu), which the scripts'
// shape decides.
func BenchmarkFetchAck(b *testing.B) {
	client := newClient(b)
	tr := newTransport(b, client, redis.Config{})
	ctx := context.Background()
	msgs := make([]*runtime.Message, 0, 500)
	for i := 0; i < b.N; i++ {
		msgs = append(msgs, &runtime.Message{ID: "m" + strconv.Itoa(i), Queue: "bench", Priority: 5, Body: benchBody})
		if len(msgs) == cap(msgs) || i == b.N-1 {
			for _, err := range tr.PublishBatch(ctx, msgs) {
				if err != nil {
					b.Fatal(err)
				}
			}
			msgs = msgs[:0]
		}
	}
	var left atomic.Int64
	left.Store(int64(b.N))
	before := serverCPU(b, client)
	b.ResetTimer()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Load() > 0 {
				fctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
				ds, err := tr.Fetch(fctx, runtime.FetchRequest{Queues: []string{"bench"}, Max: 25, Lease: time.Minute})
				cancel()
				if err != nil {
					continue
				}
				var inner sync.WaitGroup
				for _, d := range ds {
					inner.Add(1)
					go func() {
						defer inner.Done()
						r := &runtime.Record{ID: d.ID, Task: "bench", Queue: "bench", State: runtime.StateSucceeded}
						if err := tr.AckRecord(ctx, d, r, time.Hour); err != nil {
							b.Error(err)
						}
						left.Add(-1)
					}()
				}
				inner.Wait()
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(serverCPU(b, client)-before)/float64(time.Microsecond)/float64(b.N), "redis-µs/op")
}

// serverCPU returns the Redis server's CPU time so far.
func serverCPU(b *testing.B, c *goredis.Client) time.Duration {
	b.Helper()
	info, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			f, _ := strconv.ParseFloat(v, 64)
			total += time.Duration(f * float64(time.Second))
		}
	}
	return total
}

// BenchmarkWorker runs b.N no-op tasks through a runtime.Worker of
// concurrency 50, as bench/ does, and reports the Redis server's CPU time
// per task.
func BenchmarkWorker(b *testing.B) {
	client := newClient(b)
	tr := newTransport(b, client, redis.Config{})
	transporttest.BenchWorker(b, tr, 50, func() func() {
		before := serverCPU(b, client)
		return func() {
			b.ReportMetric(float64(serverCPU(b, client)-before)/float64(time.Microsecond)/float64(b.N), "redis-µs/op")
		}
	})
}
