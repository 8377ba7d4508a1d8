package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Cancellation: Handle.Cancel puts a revoke mark in the store under the
// task's ID, or the workflow's, appends the ID to a revocation log, and
// records the task (or workflow) as cancelled, which wakes its waiting
// handles. A worker drops a revoked task before it starts; while a handler
// runs, the worker looks for its revocation at least every revokePoll and
// cancels the handler's ctx when it appears. A handler that then returns
// an error is dropped too, not retried; one that succeeds anyway is
// settled as usual.
//
// So that a task does not pay a store round trip to start, a running
// worker follows the log in memory (revoke.go): every revokeRefresh it
// reads the log's counter, and the entries past the last it read. Cancel
// returns only revokeFresh after its entry was written, and a worker
// trusts its copy only while its last complete read started less than
// revokeFresh ago; so a worker that trusts its copy has read every entry
// of a Cancel that has returned. Otherwise (a late refresher, a failing
// store) it reads the task's mark, one round trip, as it always did.
//
// A starting worker reads the log back up to revokeBackfill entries. A
// plain task's revocation comes after its enqueue, so the copy tells for
// a plain task enqueued after the oldest entry read (with revokeSkew for
// clocks); for an older one, and for a workflow's task (its workflow may
// have been revoked before the task was enqueued) unless the backfill
// reached the start of the log, the worker reads the mark. A task
// enqueued with TaskID after a Cancel of that ID, where the Cancel is
// more than revokeBackfill entries older than the worker's start, is not
// seen as revoked.

// ErrCancelled is matched (errors.Is) by the error Handle.Get returns for
// a task or workflow revoked by Handle.Cancel, and is the cause of a
// revoked handler's ctx (context.Cause).
var ErrCancelled = errors.New("taskgen: cancelled")

// revokeTTL is how long a revoke mark stays: as long as a workflow's state.
const revokeTTL = defaultWorkflowTTL

// revokePoll bounds how long a running handler waits to see its task
// revoked; the worker also looks at a third of its lease, when shorter.
const revokePoll = time.Second

// cancelledMessage is the error text of a cancelled task's record.
const cancelledMessage = "cancelled: revoked by Handle.Cancel"

// revokeKey is the store key of the revoke mark of task or workflow id.
func revokeKey(id string) string { return "revoke:{" + id + "}" }

// cancelTask revokes task or workflow id: a mark for workers, then a
// cancelled record for waiting handles, unless it has already finished.
func cancelTask(ctx context.Context, s Store, id, task string) (err error) {
	if err := s.Put(ctx, revokeKey(id), []byte("1"), revokeTTL); err != nil {
		return fmt.Errorf("taskgen: cancel task %s: %w", id, err)
	}
	logged, err := appendRevoke(ctx, s, id)
	if err != nil {
		return fmt.Errorf("taskgen: cancel task %s: %w", id, err)
	}
	defer func() {
		if werr := waitFresh(ctx, logged); werr != nil && err == nil {
			err = fmt.Errorf("taskgen: cancel task %s: a worker may still start it: %w", id, werr)
		}
	}()
	r, err := s.GetRecord(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		// A workflow has no record until it ends; nor has a task the
		// store has not seen yet.
		r = &Record{ID: id, Task: task}
	case err != nil:
		return fmt.Errorf("taskgen: cancel task %s: %w", id, err)
	case r.State.Terminal():
		return nil // finished: nothing to revoke
	}
	rec := &Record{ID: id, Task: r.Task, Queue: r.Queue, State: StateCancelled, Attempt: r.Attempt, Error: cancelledMessage, UpdatedAt: time.Now()}
	// Unless the task finished since it was read: its outcome stays.
	if _, err := s.PutRecordUnlessTerminal(ctx, rec, revokeTTL); err != nil {
		return fmt.Errorf("taskgen: cancel task %s: %w", id, err)
	}
	return nil
}

// waitFresh waits until revokeFresh has passed since logged, when every
// worker that trusts its copy of the log has read the entry. It returns
// ctx's error if ctx ends first.
func waitFresh(ctx context.Context, logged time.Time) error {
	t := time.NewTimer(time.Until(logged.Add(revokeFresh)))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// revokeID is the ID whose mark revokes env: its workflow's, for a
// workflow task, since a workflow is cancelled as a whole.
func revokeID(env *Envelope) string {
	if env.WorkflowID != "" {
		return env.WorkflowID
	}
	return env.ID
}

// isRevoked reports whether env's task is revoked: from the worker's copy
// of the revocation log when it can tell, else from the store. A store
// failure is logged and counts as not revoked: the task runs.
func (w *Worker) isRevoked(ctx context.Context, env *Envelope) bool {
	if w.cfg.Store == nil {
		return false
	}
	if revoked, ok := w.revokes.cache.Load().lookup(env); ok {
		return revoked
	}
	_, err := w.cfg.Store.Get(ctx, revokeKey(revokeID(env)))
	switch {
	case err == nil:
		return true
	case !errors.Is(err, ErrNotFound) && ctx.Err() == nil:
		w.log.Warn("taskgen: checking for a revoke mark failed; running the task", "task", env.Task, "id", env.ID, "queue", env.Queue, "err", err)
	}
	return false
}

// dropRevoked drops env's task if it was revoked before it started, and
// reports whether it did.
func (w *Worker) dropRevoked(d *Delivery, env *Envelope) bool {
	if w.cfg.Store == nil {
		return false // nothing is revoked without a store
	}
	revoked, ok := w.revokes.cache.Load().lookup(env)
	if !ok {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		revoked = w.isRevoked(ctx, env)
		cancel()
	}
	if !revoked {
		return false
	}
	w.settleRevoked(d, env, nil)
	return true
}

// settleRevoked records a revoked task as cancelled and acks it, so it
// is neither run again nor retried. cause is the error of a handler
// cancelled mid-run, nil for a task dropped before it started.
func (w *Worker) settleRevoked(d *Delivery, env *Envelope, cause error) {
	msg := cancelledMessage + " before it started"
	if cause != nil {
		msg = fmt.Sprintf("%s while running: %v", cancelledMessage, cause)
	}
	w.log.Info("taskgen: task revoked", "task", env.Task, "id", env.ID, "queue", env.Queue, "workflow", env.WorkflowID, "running", cause != nil)
	w.releaseUnique(env)
	if cause == nil {
		// Dropped before it started: a delivery of the task that ran
		// may have finished it, and its outcome stays.
		w.putLiveRecord(env, StateCancelled, msg)
	} else {
		w.putRecord(env, StateCancelled, nil, msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := w.tr.Ack(ctx, d); err != nil {
		w.log.Warn("taskgen: ack of a revoked task failed; the lease will expire", "task", env.Task, "id", env.ID, "queue", env.Queue, "err", err)
	}
}

// revokeSet is the running tasks of a worker, watched for revocations by
// one goroutine that runs while the set is not empty, and the worker's
// copy of the revocation log while it runs. The zero value is ready.
type revokeSet struct {
	cache    atomic.Pointer[revokeCache] // nil when not running
	mu       sync.Mutex
	m        map[*revokeWatch]struct{}
	watching bool
	idle     chan struct{} // kick: the worker stops
}

// revokeWatch is one running task.
type revokeWatch struct {
	env     *Envelope
	id      string // whose mark revokes it
	cancel  context.CancelCauseFunc
	revoked bool // under revokeSet.mu
}

// watch returns a ctx for env's handler that is cancelled, with cause
// ErrCancelled, when env's task is revoked. unwatch stops watching and
// reports whether it was revoked.
func (s *revokeSet) watch(ctx context.Context, w *Worker, env *Envelope) (context.Context, func() (revoked bool)) {
	if w.cfg.Store == nil {
		return ctx, func() bool { return false }
	}
	ctx, cancel := context.WithCancelCause(ctx)
	rw := &revokeWatch{env: env, id: revokeID(env), cancel: cancel}
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[*revokeWatch]struct{})
	}
	s.m[rw] = struct{}{}
	if !s.watching {
		s.watching = true
		s.idle = make(chan struct{}, 1)
		go s.loop(w, s.idle)
	}
	s.mu.Unlock()
	return ctx, func() bool {
		s.mu.Lock()
		delete(s.m, rw)
		revoked := rw.revoked
		s.mu.Unlock()
		cancel(nil)
		return revoked
	}
}

// kick ends the loop if no task runs: the worker stops.
func (s *revokeSet) kick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watching {
		select {
		case s.idle <- struct{}{}:
		default:
		}
	}
}

// loop looks for the revocations of the running tasks, in the worker's
// copy of the log, or else for their marks, until there are none at a
// tick or at kick: a set that empties between ticks keeps its goroutine.
func (s *revokeSet) loop(w *Worker, idle <-chan struct{}) {
	t := time.NewTicker(max(min(revokePoll, w.cfg.Lease/3), 10*time.Millisecond))
	defer t.Stop()
	for {
		var tick bool
		select {
		case <-t.C:
			tick = true
		case <-idle:
		}
		s.mu.Lock()
		if len(s.m) == 0 {
			s.watching = false
			s.mu.Unlock()
			return
		}
		if !tick {
			s.mu.Unlock()
			continue
		}
		ids := make(map[string][]*revokeWatch, len(s.m))
		var hit []*revokeWatch
		c := s.cache.Load()
		for rw := range s.m {
			revoked, ok := c.lookup(rw.env)
			switch {
			case !ok:
				ids[rw.id] = append(ids[rw.id], rw)
			case revoked:
				rw.revoked = true
				hit = append(hit, rw)
			}
		}
		s.mu.Unlock()
		for _, rw := range hit {
			rw.cancel(ErrCancelled)
		}
		for id, rws := range ids {
			ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
			_, err := w.cfg.Store.Get(ctx, revokeKey(id))
			cancel()
			if err != nil {
				if !errors.Is(err, ErrNotFound) {
					w.log.Warn("taskgen: checking for a revoke mark failed", "id", id, "err", err)
				}
				continue
			}
			s.mu.Lock()
			for _, rw := range rws {
				rw.revoked = true
			}
			s.mu.Unlock()
			for _, rw := range rws {
				rw.cancel(ErrCancelled)
			}
		}
	}
}
