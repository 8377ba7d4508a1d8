package runtime_test

import (
	"testing"

	"github.com/taskgen/taskgen/transport/memory"
	"github.com/taskgen/taskgen/transport/transporttest"
)

// BenchmarkWorker measures the worker's own cost per task: b.N no-op tasks
// enqueued in batches, then run by a worker of concurrency 50 on the
// memory transport, whose own cost is small (see its BenchmarkRoundTrip).
func BenchmarkWorker(b *testing.B) {
	tr := memory.New()
	defer tr.Close()
	transporttest.BenchWorker(b, tr, 50, nil)
}
