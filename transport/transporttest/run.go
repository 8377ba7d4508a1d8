package transporttest

import (
	"testing"

	"github.com/taskgen/taskgen/runtime"
)

// Run runs the transport conformance cases against the transports factory
// returns: one fresh, isolated transport per case, closed by the suite when
// the case ends. Every case runs in parallel with the others.
func Run(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	t.Helper()
	runPublishCases(t, factory)
	runAsyncCases(t, factory)
	runFetchCases(t, factory)
	runTryFetchCases(t, factory)
	runLeaseCases(t, factory)
	runDeadLetterCases(t, factory)
	runInspectorCases(t, factory)
	runLifecycleCases(t, factory)
	runWorkerCases(t, factory)
}

// RunStore runs the store conformance cases against the stores factory
// returns: one fresh, isolated store per case, closed by the suite when the
// case ends if it has a Close method. Every case runs in parallel.
func RunStore(t *testing.T, factory func(t *testing.T) runtime.Store) {
	t.Helper()
	runRecordCases(t, factory)
	runKVCases(t, factory)
	runSetCases(t, factory)
}
