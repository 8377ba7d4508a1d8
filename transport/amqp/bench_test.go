package amqp_test

import (
	"context"
	"testing"

	"github.com/taskgen/taskgen/transport/amqp"
	"github.com/taskgen/taskgen/transport/transporttest"
)

// BenchmarkWorker runs b.N no-op tasks, published beforehand, through a
// runtime.Worker of concurrency 64 with a prefetch of 256, as bench/amqp
// does; a profile of it is the consuming side's.
func BenchmarkWorker(b *testing.B) {
	tr := newTransport(b, amqp.Config{Prefetch: 256})
	if err := tr.Declare(context.Background(), "bench"); err != nil {
		b.Fatal(err)
	}
	transporttest.BenchWorker(b, tr, 64, nil)
}
