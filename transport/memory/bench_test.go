package memory_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/memory"
)

func benchIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	return ids
}

// BenchmarkRoundTrip measures one task's trip through the transport:
// publish, fetch, ack.
func BenchmarkRoundTrip(b *testing.B) {
	ctx := context.Background()
	tr := memory.New()
	defer tr.Close()
	ids := benchIDs(b.N)
	body := make([]byte, 256)
	req := runtime.FetchRequest{Queues: []string{"q"}, Max: 1, Lease: time.Minute}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := tr.Publish(ctx, &runtime.Message{ID: ids[i], Queue: "q", Body: body}); err != nil {
			b.Fatal(err)
		}
		ds, err := tr.Fetch(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if err := tr.Ack(ctx, ds[0]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRoundTripParallel runs round trips from many goroutines on one
// queue, as a busy worker pool does.
func BenchmarkRoundTripParallel(b *testing.B) {
	ctx := context.Background()
	tr := memory.New()
	defer tr.Close()
	ids := benchIDs(b.N)
	var next atomic.Int64
	body := make([]byte, 256)
	req := runtime.FetchRequest{Queues: []string{"q"}, Max: 1, Lease: time.Minute}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := ids[next.Add(1)-1]
			if err := tr.Publish(ctx, &runtime.Message{ID: id, Queue: "q", Body: body}); err != nil {
				b.Error(err)
				return
			}
			ds, err := tr.Fetch(ctx, req)
			if err != nil {
				b.Error(err)
				return
			}
			if err := tr.Ack(ctx, ds[0]); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkFetchBatch drains a full queue ten deliveries at a time.
func BenchmarkFetchBatch(b *testing.B) {
	ctx := context.Background()
	tr := memory.New()
	defer tr.Close()
	ids := benchIDs(b.N)
	for i := range b.N {
		if err := tr.Publish(ctx, &runtime.Message{ID: ids[i], Queue: "q", Priority: i % 10}); err != nil {
			b.Fatal(err)
		}
	}
	req := runtime.FetchRequest{Queues: []string{"q"}, Max: 10, Lease: time.Minute}
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; {
		ds, err := tr.Fetch(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range ds {
			if err := tr.Ack(ctx, d); err != nil {
				b.Fatal(err)
			}
		}
		n += len(ds)
	}
}

func BenchmarkIncr(b *testing.B) {
	ctx := context.Background()
	tr := memory.New()
	defer tr.Close()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := tr.Incr(ctx, "counter", 1, time.Minute); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
