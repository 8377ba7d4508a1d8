package runtime

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strconv"
	"time"
)

// process runs one delivery to its end: ack, retry or dead letter. It
// calls release once the handler has returned, before settling the task,
// with inline set when the settle is a transport ack alone.
func (w *Worker) process(ctx context.Context, d *Delivery, release func(inline bool)) {
	env, err := DecodeEnvelope(d.Body)
	if err != nil {
		w.deadLetter(d, &Envelope{ID: d.ID, Queue: d.Queue}, ReasonMalformed, err)
		return
	}
	if env.Queue == "" {
		env.Queue = d.Queue
	}
	if reason, ok := env.Headers[deadLetterHeader]; ok {
		// Handed back by deadLetter, to record its workflow's failure
		// again: it is not run again.
		w.deadLetter(d, env, Reason(reason), errors.New(env.Headers[deadLetterErrorHeader]))
		return
	}
	if !env.ExpiresAt.IsZero() && time.Now().After(env.ExpiresAt) {
		w.deadLetter(d, env, ReasonExpired, fmt.Errorf("not started before %s", env.ExpiresAt.Format(time.RFC3339Nano)))
		return
	}
	w.mu.Lock()
	reg := w.handlers[env.Task]
	w.mu.Unlock()
	if reg == nil {
		w.deadLetter(d, env, ReasonUnknownTask, errors.New("no handler is registered for this task on this worker"))
		return
	}
	if env.Fingerprint != reg.def.Fingerprint {
		w.deadLetter(d, env, ReasonSchemaMismatch, fmt.Errorf("message schema %s, registered schema %s: the task's signature changed; requeue it once a matching worker runs", env.Fingerprint, reg.def.Fingerprint))
		return
	}
	if w.overDeliveryLimit(d, env) {
		return
	}
	if w.dropRevoked(d, env) { // cancel.go
		return
	}
	held, ok := w.admit(d, env, &reg.def)
	if !ok {
		return // deferred by a global limit
	}
	if env.PayloadRef != "" && !w.loadPayload(d, env) {
		held.release()
		return
	}
	single, ok := w.takeSingleton(d, env)
	if !ok {
		// Settled already (handed back, or dead-lettered): nothing is
		// left to hold the next task back.
		held.release()
		release(true)
		return
	}

	// The handler starts without waiting for the active record, which is
	// written only if it runs longer than activeRecordDelay (active.go):
	// Progress, and the outcome written below, wait for it, so the record
	// goes pending → active → outcome, or pending → outcome for a short
	// task.
	recorded := w.deferActiveRecord(env)
	tctx, unwatch := w.revokes.watch(ctx, w, env)
	// The singleton lock is released once the handler has returned, even
	// one abandoned past its timeout; abandoned, it is no longer renewed,
	// so it frees within a lease should the handler never return.
	result, abandoned, err := w.runBounded(tctx, env, d, reg.handler, recorded, single.unlock)
	if abandoned {
		single.abandon()
	}
	revoked := unwatch()
	held.release()
	release(err == nil && !revoked && w.ackAlone(env))
	recorded.settle()
	switch {
	case revoked && err != nil:
		w.settleRevoked(d, env, err)
	case err == nil:
		w.succeed(d, env, result)
	case ctx.Err() != nil:
		// The worker is shutting down and cancelled the handler: this
		// attempt does not count.
		w.handBack(d, env)
	default:
		w.fail(d, env, err)
	}
}

// run calls the handler with the task's ctx, turning a panic into an error.
func (w *Worker) run(ctx context.Context, env *Envelope, d *Delivery, h Handler, recorded *activeRecord) (result []byte, err error) {
	tc := &taskCtx{
		info: TaskInfo{
			ID: env.ID, Task: env.Task, Queue: env.Queue,
			Attempt: env.Attempt, Retries: env.Retries, Deliveries: d.Deliveries, Crashes: crashes(d, env),
			WorkflowID: env.WorkflowID, NodeID: env.NodeID,
			Headers: env.Headers, Request: env.Request, Route: env.Route,
		},
		store:    w.cfg.Store,
		ttl:      w.cfg.ResultTTL,
		recorded: recorded,
	}
	ctx = context.WithValue(ctx, infoKey{}, tc)
	if env.Request != nil {
		ctx = WithRequest(ctx, *env.Request)
	}
	if env.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, env.Timeout)
		defer cancel()
	}
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{value: v, stack: debug.Stack()}
		}
	}()
	if env.Headers[chunkHeader] == "1" {
		h = chunkHandler(h)
	}
	return h(ctx, env.Payload)
}

// loadPayload fetches an offloaded payload (claim-check) into env. A
// payload missing from the store dead-letters the task; a store failure
// hands it back for later. It reports whether the task can run.
func (w *Worker) loadPayload(d *Delivery, env *Envelope) bool {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if w.cfg.Store == nil {
		w.deadLetter(d, env, ReasonUndecodable, fmt.Errorf("payload %s is in a store, and the worker has none", env.PayloadRef))
		return false
	}
	p, err := w.cfg.Store.Get(ctx, env.PayloadRef)
	switch {
	case errors.Is(err, ErrNotFound):
		if w.succeededBefore(ctx, d, env) {
			return false
		}
		w.deadLetter(d, env, ReasonUndecodable, fmt.Errorf("payload %s is missing from the store", env.PayloadRef))
		return false
	case err != nil:
		w.log.Warn("taskgen: loading the offloaded payload failed; retrying later", "task", env.Task, "id", env.ID, "queue", env.Queue, "err", err)
		if err := w.tr.Nack(ctx, d, NackOptions{Delay: DefaultBackoffMin, Body: returnedBody(d, env)}); err != nil {
			w.log.Warn("taskgen: hand back failed; the lease will expire", "task", env.Task, "id", env.ID, "queue", env.Queue, "err", err)
		}
		return false
	}
	env.Payload = p
	return true
}

// keepPayload makes env's offloaded arguments, if any, last ttl from now:
// a task that goes back to wait for a retry, or to the dead letters (to be
// requeued, perhaps, days later), finds them when it runs. The store sets
// no expiry alone, so the arguments are written again over themselves
// (read first when the task did not load them).
func (w *Worker) keepPayload(env *Envelope, ttl time.Duration) {
	if env.PayloadRef == "" || w.cfg.Store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	p, err := env.Payload, error(nil)
	if p == nil {
		if p, err = w.cfg.Store.Get(ctx, env.PayloadRef); errors.Is(err, ErrNotFound) {
			return
		}
	}
	if err == nil {
		_, err = w.cfg.Store.CompareAndSwap(ctx, env.PayloadRef, p, p, ttl)
	}
	if err != nil {
		w.log.Warn("taskgen: extending the offloaded payload's life failed", "task", env.Task, "id", env.ID, "queue", env.Queue, "err", err)
	}
}

// succeededBefore acks d if its task has succeeded already: a copy
// delivered again (its lease lapsed, or its ack was lost) after another
// delivery ran it, deleting its offloaded payload. It reports whether it
// did.
func (w *Worker) succeededBefore(ctx context.Context, d *Delivery, env *Envelope) bool {
	r, err := w.cfg.Store.GetRecord(ctx, env.ID)
	if err != nil || r.State != StateSucceeded {
		return false
	}
	w.log.Info("taskgen: task delivered again after it succeeded; dropped", "task", env.Task, "id", env.ID, "queue", env.Queue)
	if err := w.tr.Ack(ctx, d); err != nil {
		w.log.Warn("taskgen: ack failed", "task", env.Task, "id", env.ID, "queue", env.Queue, "err", err)
	}
	return true
}

// ackAlone reports whether succeed settles env's task with a transport
// ack alone: no result, unique key or workflow to write to the store, and
// no offloaded payload to delete.
func (w *Worker) ackAlone(env *Envelope) bool {
	return w.cfg.Store == nil && env.WorkflowID == "" && env.PayloadRef == ""
}

func (w *Worker) succeed(d *Delivery, env *Envelope, result []byte) {
	// The unique key is free by the time a waiting handle sees the result,
	// and the result is stored before the ack: a crash in between runs the
	// task again rather than losing its result.
	w.releaseUnique(env)
	if env.WorkflowID != "" && !w.advanceWorkflow(d, env, result) {
		return
	}
	// The offloaded payload goes once the task is settled for good: a task
	// handed back, or whose ack failed, runs again and needs it.
	if w.storeAndAck(d, env, result) && env.PayloadRef != "" {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		if err := w.cfg.Store.Delete(ctx, env.PayloadRef); err != nil {
			w.log.Warn("taskgen: deleting the offloaded payload failed; it expires on its own", "task", env.Task, "id", env.ID, "err", err)
		}
	}
}

// advanceWorkflow finishes a workflow task's node before the task is
// acked: if the worker dies in between, the task runs again and finishes
// its node again, which the workflow counts once. When the store fails, the
// task goes back to run again, and advanceWorkflow reports false.
func (w *Worker) advanceWorkflow(d *Delivery, env *Envelope, result []byte) bool {
	ctx := w.ops.get()
	err := w.finishNode(ctx, env, result)
	if err == nil {
		return true
	}
	w.log.Error("taskgen: advancing the workflow failed; the task will run again", "task", env.Task, "id", env.ID, "queue", env.Queue, "workflow", env.WorkflowID, "err", err)
	w.reclaimUnique(env)
	if err := w.tr.Nack(ctx, d, NackOptions{Delay: DefaultBackoffMin, Body: returnedBody(d, env)}); err != nil {
		w.log.Warn("taskgen: hand back failed; the lease will expire", "task", env.Task, "id", env.ID, "queue", env.Queue, "err", err)
	}
	return false
}

// storeAndAck stores a succeeded task's result, then acks it: in one round
// trip when the transport is the store and can (RecordAcker). It reports
// whether both were done.
func (w *Worker) storeAndAck(d *Delivery, env *Envelope, result []byte) bool {
	ctx := w.ops.get()
	if ra := w.recordAcker(); ra != nil {
		err := ra.AckRecord(ctx, d, w.record(env, StateSucceeded, result, ""), w.cfg.ResultTTL)
		switch {
		case err == nil:
			return true
		case errors.Is(err, ErrLeaseLost):
			w.log.Warn("taskgen: storing the result and acking failed", "task", env.Task, "id", env.ID, "queue", env.Queue, "err", err)
			return false
		}
		// The ack did not go, or its reply was lost: the task goes back to
		// run again, holding its unique key again. A hand-back that finds
		// the lease gone lost to the ack (or to the lease's end), and
		// frees the key once more.
		w.log.Error("taskgen: storing the result and acking failed; the task will run again", "task", env.Task, "id", env.ID, "queue", env.Queue, "err", err)
		w.reclaimUnique(env)
		switch err := w.tr.Nack(ctx, d, NackOptions{Delay: DefaultBackoffMin, Body: returnedBody(d, env)}); {
		case errors.Is(err, ErrLeaseLost):
			w.releaseUnique(env)
		case err != nil:
			w.log.Warn("taskgen: hand back failed; the lease will expire", "task", env.Task, "id", env.ID, "queue", env.Queue, "err", err)
		}
		return false
	}
	if err := w.storeRecord(env, StateSucceeded, result, ""); err != nil {
		// The result is stored before the ack, or the task runs again.
		w.log.Error("taskgen: storing the result failed; the task will run again", "task", env.Task, "id", env.ID, "queue", env.Queue, "err", err)
		w.reclaimUnique(env)
		if err := w.tr.Nack(ctx, d, NackOptions{Delay: DefaultBackoffMin, Body: returnedBody(d, env)}); err != nil {
			w.log.Warn("taskgen: hand back failed; the lease will expire", "task", env.Task, "id", env.ID, "queue", env.Queue, "err", err)
		}
		return false
	}
	if err := w.tr.Ack(ctx, d); err != nil {
		w.log.Warn("taskgen: ack failed", "task", env.Task, "id", env.ID, "queue", env.Queue, "err", err)
		return false
	}
	return true
}

// recordAcker returns the transport as a RecordAcker when it is also the
// worker's store and can settle a task with its record in one round trip.
func (w *Worker) recordAcker() RecordAcker {
	ra, ok := w.tr.(RecordAcker)
	if !ok {
		return nil
	}
	if s, ok := w.tr.(Store); !ok || s != w.cfg.Store {
		return nil
	}
	return ra
}

// fail retries the task or dead-letters it.
func (w *Worker) fail(d *Delivery, env *Envelope, err error) {
	var (
		pe *panicError
		de *decodeError
		ra *retryAfterError
	)
	switch {
	case errors.As(err, &de):
		w.deadLetter(d, env, ReasonUndecodable, err)
		return
	case IsPermanent(err):
		w.deadLetter(d, env, ReasonFailed, err)
		return
	case env.Attempt >= env.Retries:
		reason := ReasonFailed
		if errors.As(err, &pe) {
			reason = ReasonPanicked
		}
		w.deadLetter(d, env, reason, fmt.Errorf("gave up after %s: %w", plural(env.Attempt+1, "attempt"), err))
		return
	}
	delay := backoff(env.BackoffMin, env.BackoffMax, env.Attempt)
	if errors.As(err, &ra) {
		delay = ra.delay
	}
	env.Attempt++
	if env.PayloadRef != "" {
		w.keepPayload(env, offloadPayloadTTL+delay)
		env.Payload = nil // it stays in the store
	}
	env.Errors = append(env.Errors, AttemptError{At: time.Now(), Error: err.Error()})
	if n := len(env.Errors); n > maxEnvelopeErrors {
		env.Errors = env.Errors[n-maxEnvelopeErrors:]
	}
	w.log.Warn("taskgen: task failed; retrying", "task", env.Task, "id", env.ID, "queue", env.Queue,
		"attempt", env.Attempt, "retries", env.Retries, "delay", delay, "err", err)
	w.putLiveRecord(env, StateRetry, err.Error())
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := w.tr.Nack(ctx, d, NackOptions{Delay: delay, Body: env.Marshal()}); err != nil {
		w.log.Warn("taskgen: retry failed; the lease will expire", "task", env.Task, "id", env.ID, "queue", env.Queue, "err", err)
	}
}

// deadLetter moves the delivery to the dead-letter store with its reason,
// and records the failure so waiting handles return.
func (w *Worker) deadLetter(d *Delivery, env *Envelope, reason Reason, cause error) {
	te := &TaskError{Task: env.Task, ID: env.ID, Queue: env.Queue, Err: fmt.Errorf("%s: %w", reason, cause)}
	w.log.Error("taskgen: task dead-lettered", "task", env.Task, "id", env.ID, "queue", env.Queue, "reason", reason, "err", te)
	w.keepPayload(env, offloadPayloadTTL) // for a requeue days later
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	body, tries := d.Body, 0
	if _, ok := env.Headers[deadLetterHeader]; ok {
		tries, _ = strconv.Atoi(env.Headers[deadLetterTriesHeader])
		body = markedBody(env, nil) // the body before it was handed back
	}
	dl := DeadLetter{
		ID: d.ID, Queue: d.Queue, Task: env.Task, Reason: reason, Error: te.Error(),
		Attempts: env.Attempt + 1, At: time.Now(), Body: body,
	}
	dl.Errors = append(slices.Clip(env.Errors), AttemptError{At: dl.At, Error: dl.Error})
	if env.WorkflowID != "" {
		// The workflow's failure is recorded (and its error callbacks
		// started) before the task leaves: should the store fail, the
		// task comes back, marked to be dead-lettered without running,
		// instead of leaving a workflow that never ends. Recording it
		// twice is harmless.
		err := w.failWorkflow(ctx, env, fmt.Sprintf("%s: %v", reason, cause))
		switch {
		case err != nil && !errors.Is(err, ErrNoWorkflowStore) && tries < maxDeadLetterTries:
			w.log.Error("taskgen: recording the workflow's failure failed; the task will be dead-lettered again", "task", env.Task, "id", env.ID, "workflow", env.WorkflowID, "tries", tries+1, "err", err)
			back := NackOptions{Delay: min(DefaultBackoffMin<<tries, time.Minute), Body: markedBody(env, map[string]string{
				deadLetterHeader: string(reason), deadLetterErrorHeader: cause.Error(), deadLetterTriesHeader: strconv.Itoa(tries + 1),
			})}
			if err := w.tr.Nack(ctx, d, back); err != nil {
				w.log.Warn("taskgen: hand back failed; the lease will expire", "task", env.Task, "id", env.ID, "queue", env.Queue, "err", err)
			}
			return
		case err != nil:
			// No try would do better, or enough were made: dead-letter
			// it all the same.
			w.log.Error("taskgen: recording the workflow's failure failed", "task", env.Task, "id", env.ID, "workflow", env.WorkflowID, "err", err)
		}
	}
	if err := w.tr.DeadLetter(ctx, d, dl); err != nil {
		w.log.Error("taskgen: dead letter failed; the lease will expire", "task", env.Task, "id", env.ID, "queue", env.Queue, "err", err)
		return
	}
	w.releaseUnique(env)
	state := StateFailed
	if reason == ReasonExpired {
		state = StateExpired
	}
	w.putRecord(env, state, nil, fmt.Sprintf("%s: %v", reason, cause))
}

// A workflow task whose dead-lettering could not record its workflow's
// failure goes back marked with these headers, to be dead-lettered again
// without running, up to maxDeadLetterTries times, the pauses doubling
// from DefaultBackoffMin up to a minute.
const (
	deadLetterHeader      = "taskgen.deadletter"
	deadLetterErrorHeader = "taskgen.deadletter.error"
	deadLetterTriesHeader = "taskgen.deadletter.tries"
	maxDeadLetterTries    = 10
)

// markedBody returns env's body with the dead-letter marks set to marks,
// or removed when marks is nil.
func markedBody(env *Envelope, marks map[string]string) []byte {
	e := *env
	if e.PayloadRef != "" {
		e.Payload = nil // it stays in the store
	}
	e.Headers = maps.Clone(e.Headers)
	for _, h := range []string{deadLetterHeader, deadLetterErrorHeader, deadLetterTriesHeader} {
		delete(e.Headers, h)
	}
	if marks != nil {
		if e.Headers == nil {
			e.Headers = make(map[string]string, len(marks))
		}
		maps.Copy(e.Headers, marks)
	}
	if len(e.Headers) == 0 {
		e.Headers = nil
	}
	return e.Marshal()
}

// finishNode records a workflow task's result and advances its workflow.
func (w *Worker) finishNode(ctx context.Context, env *Envelope, result []byte) error {
	f, err := w.flowOf(env)
	if err != nil {
		return err
	}
	id, err := strconv.Atoi(env.NodeID)
	if err != nil {
		return fmt.Errorf("workflow %s: bad node ID %q", env.WorkflowID, env.NodeID)
	}
	return f.finish(ctx, env.WorkflowID, id, result, env.Request)
}

func (w *Worker) failWorkflow(ctx context.Context, env *Envelope, cause string) error {
	f, err := w.flowOf(env)
	if err != nil {
		return err
	}
	return f.fail(ctx, env, cause)
}

func (w *Worker) flow() (*flow, error) {
	ws, ok := w.cfg.Store.(WorkflowStore)
	if !ok {
		return nil, ErrNoWorkflowStore
	}
	return &flow{tr: w.tr, store: ws, ttl: defaultWorkflowTTL, claim: w.cfg.Lease / 2, cache: &w.nodes}, nil
}

// flowOf returns the flow that env's task advances when it ends.
func (w *Worker) flowOf(env *Envelope) (*flow, error) {
	f, err := w.flow()
	if err != nil {
		return nil, err
	}
	f.finisher = env.ID
	return f, nil
}

// putRecord writes the task's state; a store failure is logged, not fatal,
// because the task itself is safe in the transport.
func (w *Worker) putRecord(env *Envelope, state State, result []byte, errText string) {
	if err := w.storeRecord(env, state, result, errText); err != nil {
		w.log.Warn("taskgen: storing task state failed", "task", env.Task, "id", env.ID, "queue", env.Queue, "state", state, "err", err)
	}
}

// putLiveRecord writes the task's state unless its record is terminal: a
// state that does not end the task (active, retry), or one that ends it
// only if nothing else did (a delivery dropped as revoked), never replaces
// the outcome a cancel, or another delivery of the task, wrote meanwhile.
// A store failure is logged.
func (w *Worker) putLiveRecord(env *Envelope, state State, errText string) {
	if w.cfg.Store == nil || env.ID == "" {
		return
	}
	if _, err := w.cfg.Store.PutRecordUnlessTerminal(w.ops.get(), w.record(env, state, nil, errText), w.cfg.ResultTTL); err != nil {
		w.log.Warn("taskgen: storing task state failed", "task", env.Task, "id", env.ID, "queue", env.Queue, "state", state, "err", err)
	}
}

// storeRecord writes the task's state, if the worker has a store.
func (w *Worker) storeRecord(env *Envelope, state State, result []byte, errText string) error {
	if w.cfg.Store == nil || env.ID == "" {
		return nil
	}
	return w.cfg.Store.PutRecord(w.ops.get(), w.record(env, state, result, errText), w.cfg.ResultTTL)
}

func (w *Worker) record(env *Envelope, state State, result []byte, errText string) *Record {
	return &Record{
		ID: env.ID, Task: env.Task, Queue: env.Queue, State: state, Attempt: env.Attempt,
		Result: result, Error: errText, UpdatedAt: time.Now(),
	}
}

func (w *Worker) releaseUnique(env *Envelope) {
	if env.UniqueKey == "" || w.cfg.Store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	// Only this task's own claim: past its window, the key may be another
	// task's.
	if _, err := w.cfg.Store.CompareAndDelete(ctx, uniqueStoreKey(env.UniqueKey), []byte(env.ID)); err != nil {
		w.log.Warn("taskgen: releasing unique key failed; it frees at the end of its window", "task", env.Task, "id", env.ID, "err", err)
	}
}

// reclaimUnique takes the task's unique key again, for its window, when
// the task goes back to run again after succeed released the key: until
// it has run, an enqueue with the same key is a duplicate. A key another
// task took meanwhile stays that task's.
func (w *Worker) reclaimUnique(env *Envelope) {
	if env.UniqueKey == "" || w.cfg.Store == nil {
		return
	}
	window := defaultUniqueWindow
	w.mu.Lock()
	if reg := w.handlers[env.Task]; reg != nil && reg.def.Unique > 0 {
		window = reg.def.Unique
	}
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if _, err := w.cfg.Store.PutNX(ctx, uniqueStoreKey(env.UniqueKey), []byte(env.ID), window); err != nil {
		w.log.Warn("taskgen: taking the unique key again failed", "task", env.Task, "id", env.ID, "err", err)
	}
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// backoff returns the delay before retry attempt+1: exponential from lo,
// capped at hi, with full jitter above lo.
func backoff(lo, hi time.Duration, attempt int) time.Duration {
	if lo <= 0 {
		lo = DefaultBackoffMin
	}
	if hi < lo {
		hi = lo
	}
	ceil := lo
	for range attempt {
		if ceil >= hi/2 {
			ceil = hi
			break
		}
		ceil *= 2
	}
	ceil = min(ceil, hi)
	if ceil == lo {
		return lo
	}
	return lo + rand.N(ceil-lo+1)
}
