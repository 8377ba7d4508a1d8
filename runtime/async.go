package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// AsyncPublisher is implemented by transports that can send a message and
// learn later whether the broker holds it, so that one goroutine keeps
// many publishes in flight. Client.EnqueueTaskAsync uses it when the
// transport has it.
type AsyncPublisher interface {
	// PublishAsync sends msg and returns a channel closed once its outcome
	// is known, and the function that returns that outcome: nil only once
	// the broker holds msg durably, or the error Publish would return.
	// The message's outcome is settled whether or not anyone waits for it.
	// ctx bounds the sending; the outcome is awaited by the caller.
	PublishAsync(ctx context.Context, msg *Message) (done <-chan struct{}, outcome func() error)
}

// PendingTask is a task being enqueued by Client.EnqueueTaskAsync: sent to
// the broker, which has not yet said it holds the task.
type PendingTask struct {
	c       *Client
	env     *Envelope
	done    <-chan struct{}
	outcome func() error
	once    sync.Once
	rc      *Receipt
	err     error
}

// closed is a channel closed from the start, for outcomes known at once.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// failedTask is a PendingTask whose enqueue failed before it was sent.
func failedTask(err error) *PendingTask {
	return &PendingTask{done: closed, outcome: func() error { return err }}
}

// Done returns a channel closed once Wait would return without waiting.
func (p *PendingTask) Done() <-chan struct{} { return p.done }

// Wait returns the task's receipt once the transport holds it durably, as
// EnqueueTask would, or the error that kept it from being enqueued. When
// ctx ends first, Wait returns ctx's error: the outcome is not known yet,
// and a later Wait returns it.
func (p *PendingTask) Wait(ctx context.Context) (*Receipt, error) {
	select {
	case <-p.done:
	case <-ctx.Done():
		select {
		case <-p.done:
		default:
			return nil, ctx.Err()
		}
	}
	p.settle()
	return p.rc, p.err
}

// settle records the outcome, once it is known, and frees the unique key
// of a task that was not enqueued.
func (p *PendingTask) settle() {
	p.once.Do(func() {
		err := p.outcome()
		switch {
		case p.env == nil: // failed before it was sent
			p.err = err
		case err == nil:
			p.rc = &Receipt{ID: p.env.ID, Queue: p.env.Queue, Store: p.c.store}
		default:
			p.c.releaseUnique(p.env)
			p.err = &TaskError{Task: p.env.Task, ID: p.env.ID, Queue: p.env.Queue, Err: fmt.Errorf("publish: %w", err)}
		}
	})
}

// EnqueueTaskAsync publishes a task whose arguments are already encoded,
// as EnqueueTask does, but returns once the task is sent, before the
// broker acknowledges it: PendingTask.Wait returns that acknowledgement.
// One goroutine can so keep many enqueues in flight, as a windowed
// publisher does, where EnqueueTask waits for each in turn. On a transport
// that is no AsyncPublisher (the memory transport), the task is published
// before EnqueueTaskAsync returns.
//
// Until Wait returns nil, the task may not have been enqueued: a caller
// that must know calls Wait, whose error says what happened. ctx bounds
// the sending; Wait's own ctx bounds the wait for the acknowledgement.
func (c *Client) EnqueueTaskAsync(ctx context.Context, def *TaskDef, payload []byte, opts ...Option) *PendingTask {
	o := collectOptions(opts)
	env := newEnvelope(ctx, def, payload, &o, time.Now())
	if err := c.routing.route(env, def, &o); err != nil {
		return failedTask(err)
	}
	if err := c.prepare(ctx, def, env); err != nil {
		return failedTask(err)
	}
	msg := &Message{ID: env.ID, Queue: env.Queue, Priority: env.Priority, ETA: env.ETA, Body: env.Marshal(), FreshID: o.taskID == ""}
	p := &PendingTask{c: c, env: env}
	if ap, ok := c.tr.(AsyncPublisher); ok {
		p.done, p.outcome = ap.PublishAsync(ctx, msg)
	} else {
		err := c.tr.Publish(ctx, msg)
		p.done, p.outcome = closed, func() error { return err }
	}
	if env.UniqueKey != "" {
		// A unique key is freed if the task is not enqueued, whether or
		// not anyone waits to learn it.
		go func() {
			<-p.done
			p.settle()
		}()
	}
	return p
}

// Pending is a task being enqueued by EnqueueAsync.
type Pending[R any] struct {
	p      *PendingTask
	decode func([]byte) (R, error)
}

// Done returns a channel closed once Wait would return without waiting.
func (p *Pending[R]) Done() <-chan struct{} { return p.p.Done() }

// Wait returns the task's handle once the transport holds it durably, or
// the error that kept it from being enqueued. When ctx ends first, Wait
// returns ctx's error, and a later Wait returns the outcome.
func (p *Pending[R]) Wait(ctx context.Context) (*Handle[R], error) {
	rc, err := p.p.Wait(ctx)
	if err != nil {
		return nil, err
	}
	return NewHandle(rc.ID, rc.Store, p.decode), nil
}

// errNotATask is EnqueueAsync's error for a workflow Sig.
var errNotATask = errors.New("EnqueueAsync takes the Sig of one task; submit a workflow with Submit")

// EnqueueAsync publishes the task call s through c, as Enqueue does, and
// returns before the broker acknowledges it; Pending.Wait waits for that.
// Sending many before waiting for any keeps them in flight together:
//
//	var pending []*runtime.Pending[runtime.None]
//	for _, u := range users {
//		pending = append(pending, runtime.EnqueueAsync(ctx, client, tasks.WelcomeSig(u.Email)))
//	}
//	for _, p := range pending {
//		if _, err := p.Wait(ctx); err != nil {
//			// this task was not enqueued
//		}
//	}
//
// s is a single task's Sig, built by its generated XSig function, so its
// arguments are checked by the compiler; opts apply over s's own.
func EnqueueAsync[R any](ctx context.Context, c *Client, s Sig[R], opts ...Option) *Pending[R] {
	n := s.n
	if n == nil || n.kind != nodeTask {
		return &Pending[R]{p: failedTask(errNotATask), decode: s.decode}
	}
	if n.err != nil {
		return &Pending[R]{p: failedTask(n.err), decode: s.decode}
	}
	payload, err := n.args.MarshalTask()
	if err != nil {
		return &Pending[R]{p: failedTask(&TaskError{Task: n.def.Name, Queue: n.def.Queue, Err: err}), decode: s.decode}
	}
	all := append(append([]Option(nil), n.opts...), opts...)
	return &Pending[R]{p: c.EnqueueTaskAsync(ctx, n.def, payload, all...), decode: s.decode}
}
