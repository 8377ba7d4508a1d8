package redis_test

import (
	"context"
	goruntime "runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/redis"
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
