package amqp

import (
	"context"
	"errors"
	"sync"

	"github.com/taskgen/taskgen/runtime"
)

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

// claimParallel bounds the ID claims PublishBatch has in flight at once.
const claimParallel = 64

// prepareBatch prepares msgs for PublishBatch as prepare does each: it
// checks them and declares their queues in turn, then claims their IDs in
// the store side by side, so that a store that batches its calls (the
// Redis store) sends a large batch's claims in a few round trips rather
// than one each. errs[i] is message i's failure, and guards[i] the token
// of its claim.
func (t *Transport) prepareBatch(ctx context.Context, msgs []*runtime.Message) (errs []error, guards []string) {
	errs, guards = make([]error, len(msgs)), make([]string, len(msgs))
	for i, msg := range msgs {
		errs[i] = t.check(ctx, msg)
	}
	if t.cfg.Store == nil {
		return errs, guards
	}
	// An ID that comes again later in the batch is a duplicate of its
	// first occurrence, whichever claim would reach the store first.
	first := make(map[string]int, len(msgs))
	var again []int
	for i, msg := range msgs {
		if errs[i] != nil {
			continue
		}
		if _, ok := first[msg.ID]; ok {
			errs[i] = duplicateError(msg)
			again = append(again, i)
			continue
		}
		first[msg.ID] = i
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, claimParallel)
	for i, msg := range msgs {
		if errs[i] != nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			guards[i], errs[i] = t.claimID(ctx, msg)
			<-sem
		}()
	}
	wg.Wait()
	// When the first occurrence could not claim the ID for another
	// reason, no task holds it: the later ones fail with that reason,
	// not as duplicates.
	for _, i := range again {
		if err := errs[first[msgs[i].ID]]; err != nil && !errors.Is(err, runtime.ErrDuplicateTask) {
			errs[i] = err
		}
	}
	return errs, guards
}
