package memory_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/memory"
	"github.com/taskgen/taskgen/transport/transporttest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestConformance(t *testing.T) {
	t.Parallel()
	transporttest.Run(t, func(t *testing.T) runtime.Transport { return memory.New() })
	transporttest.RunStore(t, func(t *testing.T) runtime.Store { return memory.New() })
	transporttest.RunWorkflows(t, func(t *testing.T) runtime.Transport { return memory.New() })
	transporttest.RunReliability(t, func(t *testing.T) runtime.Transport { return memory.New() })
	transporttest.RunLimits(t, func(t *testing.T) (runtime.Transport, runtime.Store) { tr := memory.New(); return tr, tr })
	transporttest.RunRouting(t, func(t *testing.T) runtime.Transport { return memory.New() })
	transporttest.RunLargeWorkflow(t, func(t *testing.T) runtime.Transport { return memory.New() }, 10_000)
}
