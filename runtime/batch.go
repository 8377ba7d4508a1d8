package runtime

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// BatchPublisher is implemented by transports that publish many messages in
// one round trip; Client.EnqueueBatch uses it when the transport has it.
type BatchPublisher interface {
	// PublishBatch stores each of msgs as Publish does, and returns one
	// error per message, in order: errs[i] is nil only once the broker
	// holds msgs[i] durably.
	PublishBatch(ctx context.Context, msgs []*Message) (errs []error)
}

// BatchItem is one task of a Client.EnqueueBatch call; build it with
// NewBatchItem or RawBatchItem.
type BatchItem struct {
	def     *TaskDef
	payload []byte
	opts    []Option
	err     error // from encoding the arguments
}

// NewBatchItem returns the batch item that enqueues task t with args and
// opts. The arguments are encoded now; an encoding error is reported for
// this item by EnqueueBatch.
func NewBatchItem[R any](t *Task[R], args Payload, opts ...Option) BatchItem {
	payload, err := args.MarshalTask()
	return BatchItem{def: &t.Def, payload: payload, opts: opts, err: err}
}

// RawBatchItem returns the batch item of task def whose arguments are
// already encoded, as EnqueueTask takes them.
func RawBatchItem(def *TaskDef, payload []byte, opts ...Option) BatchItem {
	return BatchItem{def: def, payload: payload, opts: opts}
}

// EnqueueBatch publishes items in as few round trips as the transport
// allows: one pipeline on Redis. receipts[i] is items[i]'s receipt, nil when
// it failed. The error is nil only once the transport holds every item
// durably; otherwise it is a *BatchError with one entry per item, and the
// items without an error were enqueued.
//
// Items with a unique key claim it one by one before the batch is
// published, so they cost a store round trip each.
func (c *Client) EnqueueBatch(ctx context.Context, items []BatchItem) (receipts []*Receipt, err error) {
	receipts = make([]*Receipt, len(items))
	errs := make([]error, len(items))
	envs := make([]*Envelope, len(items))
	msgs := make([]*Message, 0, len(items))
	idx := make([]int, 0, len(items)) // msgs[j] is items[idx[j]]
	now := time.Now()
	// One allocation each for the items' IDs, envelopes, messages and
	// receipts, rather than one per item.
	ids := newTaskIDs(len(items))
	envSlab := make([]Envelope, len(items))
	msgSlab := make([]Message, len(items))
	recSlab := make([]Receipt, len(items))
	var o callOptions // collect escapes it; one for every item
	for i, it := range items {
		switch {
		case it.def == nil:
			errs[i] = fmt.Errorf("taskgen: enqueue batch item %d: no task; build items with NewBatchItem", i)
			continue
		case it.err != nil:
			errs[i] = &TaskError{Task: it.def.Name, Queue: it.def.Queue, Err: it.err}
			continue
		}
		o.collect(it.opts)
		env := &envSlab[i]
		initEnvelope(env, ctx, it.def, it.payload, &o, now, ids[i])
		if err := c.routing.route(env, it.def, &o); err != nil {
			errs[i] = err
			continue
		}
		if err := c.prepare(ctx, it.def, env); err != nil {
			errs[i] = err
			continue
		}
		envs[i] = env
		msgSlab[i] = Message{ID: env.ID, Queue: env.Queue, Priority: env.Priority, ETA: env.ETA, Body: env.Marshal(), FreshID: o.taskID == ""}
		msgs = append(msgs, &msgSlab[i])
		idx = append(idx, i)
	}

	var perrs []error
	if bp, ok := c.tr.(BatchPublisher); ok && len(msgs) > 0 {
		perrs = bp.PublishBatch(ctx, msgs)
	} else {
		perrs = make([]error, len(msgs))
		for j, m := range msgs {
			perrs[j] = c.tr.Publish(ctx, m)
		}
	}
	failed := false
	for j, i := range idx {
		env := envs[i]
		var perr error
		if j < len(perrs) {
			perr = perrs[j]
		} else {
			perr = errors.New("the transport returned no outcome for this message")
		}
		if perr != nil {
			c.releaseUnique(env)
			errs[i] = &TaskError{Task: env.Task, ID: env.ID, Queue: env.Queue, Err: fmt.Errorf("publish: %w", perr)}
			continue
		}
		recSlab[i] = Receipt{ID: env.ID, Queue: env.Queue, Store: c.store}
		receipts[i] = &recSlab[i]
	}
	for _, e := range errs {
		if e != nil {
			failed = true
			break
		}
	}
	if failed {
		return receipts, &BatchError{Errs: errs}
	}
	return receipts, nil
}

// BatchError reports the items of an EnqueueBatch call that were not
// enqueued.
type BatchError struct {
	// Errs has one entry per item, in order: nil for the items that were
	// enqueued.
	Errs []error
}

func (e *BatchError) Error() string {
	n, first := 0, -1
	for i, err := range e.Errs {
		if err != nil {
			n++
			if first < 0 {
				first = i
			}
		}
	}
	if first < 0 {
		return "taskgen: enqueue batch: no errors"
	}
	return fmt.Sprintf("taskgen: enqueue batch: %d of %d tasks not enqueued; item %d: %v", n, len(e.Errs), first, e.Errs[first])
}

// Unwrap returns the items' errors, so errors.Is and errors.As look at
// each of them.
func (e *BatchError) Unwrap() []error {
	var out []error
	for _, err := range e.Errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}
