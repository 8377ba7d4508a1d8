package memory

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

var _ runtime.Inspector = (*Transport)(nil)

// RequeueDeadLetter puts the newest dead letter id of queue back on queue,
// ready at once with the priority it had, as a new message. It returns
// runtime.ErrNotFound when there is none, and runtime.ErrDuplicateTask when
// the transport holds a task with that ID.
func (t *Transport) RequeueDeadLetter(_ context.Context, queue, id string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() {
		return runtime.ErrClosed
	}
	q := t.queues[queue]
	if q == nil {
		return fmt.Errorf("%w: dead letter %q on queue %q", runtime.ErrNotFound, id, queue)
	}
	dead := t.deadLocked(q)
	i := len(dead) - 1
	for i >= 0 && dead[i].ID != id {
		i--
	}
	if i < 0 {
		return fmt.Errorf("%w: dead letter %q on queue %q", runtime.ErrNotFound, id, queue)
	}
	if _, ok := t.held[id]; ok {
		return fmt.Errorf("%w: %q (requeueing its dead letter on queue %q)", runtime.ErrDuplicateTask, id, queue)
	}
	dl := dead[i]
	// dead is the tail of q.dead that is kept.
	j := len(q.dead) - len(dead) + i
	q.dead = slices.Delete(q.dead, j, j+1)
	e := &entry{msg: runtime.Message{ID: id, Queue: queue, Priority: dl.priority, Body: dl.Body}, idx: -1}
	return t.publishLocked(e, time.Now())
}

// PurgeDeadLetters deletes every dead letter of queue and returns how many
// there were.
func (t *Transport) PurgeDeadLetters(_ context.Context, queue string) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() {
		return 0, runtime.ErrClosed
	}
	q := t.queues[queue]
	if q == nil {
		return 0, nil
	}
	n := len(t.deadLocked(q))
	q.dead = nil
	return n, nil
}

// SetRateLimit sets task's global rate limit in the transport's store. It
// implements runtime.Inspector.
func (t *Transport) SetRateLimit(ctx context.Context, task string, r runtime.Rate) error {
	return runtime.SetRateLimit(ctx, t, task, r)
}
