package amqp

import "github.com/taskgen/taskgen/runtime"

// bulkWorkflowStore is a workflow store that also reads and writes keys in
// bulk, as the Redis store does: Submit writes a workflow's graph with it.
type bulkWorkflowStore interface {
	runtime.WorkflowStore
	runtime.BulkStore
}

// bulkWorkflowTransport is a Transport and the bulk workflow store its
// Config named.
type bulkWorkflowTransport struct {
	*Transport
	bulkWorkflowStore
}

var (
	_ runtime.Transport     = (*bulkWorkflowTransport)(nil)
	_ runtime.WorkflowStore = (*bulkWorkflowTransport)(nil)
	_ runtime.BulkStore     = (*bulkWorkflowTransport)(nil)
)
