package amqp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

// leaseState is where a delivery's lease is.
type leaseState uint8

const (
	leaseHeld     leaseState = iota // handed out; settles or lapses
	leaseSettling                   // Nack or DeadLetter is publishing its outcome
	leaseDone                       // settled
	leaseLost                       // lapsed, or its channel closed
)

// lease is a delivery's hold on its message, kept in this process: the
// broker only knows the message as unacknowledged on a channel. When the
// lease lapses the transport rejects the message back into its queue, so
// the broker delivers it again; when the channel closes (the connection
// broke, the process died) the broker does so on its own. Either way the
// lease is void and settling it returns runtime.ErrLeaseLost.
//
// One timer serves every lease (see sweepLeases), rather than one per
// delivery: a lease is settled long before its deadline far more often
// than it lapses, and arming and stopping a timer per delivery would cost
// each task more than the sweep does.
type lease struct {
	t        *Transport
	p        *pending
	state    leaseState // guarded by Transport.mu, as are the fields below
	deadline time.Time
	d        runtime.Delivery
}

// leaseLocked hands out p under a new lease.
func (t *Transport) leaseLocked(p *pending, now time.Time, ttl time.Duration) *runtime.Delivery {
	l := &lease{t: t, p: p, state: leaseHeld, deadline: now.Add(ttl)}
	body := p.msg.body[:len(p.msg.body):len(p.msg.body)] // an append by the holder must not write into it
	l.d = runtime.Delivery{
		Message: runtime.Message{
			ID: p.msg.id, Queue: p.b.q.name, Priority: p.msg.priority, ETA: p.msg.eta, Body: body,
		},
		Deliveries: p.msg.deliveries + 1,
		Lease:      l,
	}
	p.b.q.leases[l] = struct{}{}
	t.sweepByLocked(l.deadline)
	return &l.d
}

// sweepByLocked has the sweep run no later than at.
func (t *Transport) sweepByLocked(at time.Time) {
	if !t.sweepAt.IsZero() && !at.Before(t.sweepAt) {
		return
	}
	t.sweepAt = at
	if t.sweep == nil {
		t.sweep = time.AfterFunc(time.Until(at), t.sweepLeases)
		return
	}
	t.sweep.Reset(time.Until(at))
}

// sweepLeases lapses every held lease past its deadline, rejecting its
// message back into its queue, and sets the next sweep for the earliest
// deadline left.
func (t *Transport) sweepLeases() {
	var lapsed []*pending
	t.mu.Lock()
	now := time.Now()
	if now.Before(t.sweepAt) {
		// Reset to an earlier time after this run had begun.
		t.mu.Unlock()
		return
	}
	var next time.Time
	for _, q := range t.queues {
		for l := range q.leases {
			switch {
			case l.state != leaseHeld:
			case !now.Before(l.deadline):
				t.loseLocked(l)
				lapsed = append(lapsed, l.p)
			case next.IsZero() || l.deadline.Before(next):
				next = l.deadline
			}
		}
	}
	t.sweepAt = time.Time{}
	if !next.IsZero() && !t.closed.Load() {
		t.sweepByLocked(next)
	}
	t.mu.Unlock()
	for _, p := range lapsed {
		t.settleTag(p, true)
	}
}

// loseLocked voids l.
func (t *Transport) loseLocked(l *lease) {
	l.state = leaseLost
	delete(l.p.b.q.leases, l)
}

// leaseOf returns the lease of d, if this transport made d.
func (t *Transport) leaseOf(d *runtime.Delivery, op string) (*lease, error) {
	if t.closed.Load() {
		return nil, runtime.ErrClosed
	}
	if d == nil {
		return nil, fmt.Errorf("taskgen: amqp: %s: nil delivery", op)
	}
	l, ok := d.Lease.(*lease)
	if !ok || l.t != t {
		return nil, fmt.Errorf("%w: %s task %q on queue %q: the delivery was not made by this transport", runtime.ErrLeaseLost, op, d.ID, d.Queue)
	}
	return l, nil
}

// holdLocked checks that l is current: held, on a live channel and within
// its deadline. A lease past its deadline that no sweep has lapsed yet is
// lapsed here; requeue then reports that its message must be rejected.
func (t *Transport) holdLocked(l *lease, op string) (requeue bool, err error) {
	p := l.p
	switch {
	case l.state == leaseHeld && p.b.q.gen == p.gen && time.Now().Before(l.deadline):
		return false, nil
	case l.state == leaseHeld && p.b.q.gen == p.gen:
		t.loseLocked(l)
		requeue = true
	}
	return requeue, fmt.Errorf("%w: %s task %q on queue %q: the lease lapsed or the delivery was already settled", runtime.ErrLeaseLost, op, l.d.ID, l.d.Queue)
}

// begin marks l as settling, so that it neither lapses nor settles twice
// while its outcome is published.
func (t *Transport) begin(l *lease, op string) error {
	t.mu.Lock()
	requeue, err := t.holdLocked(l, op)
	if err == nil {
		l.state = leaseSettling
	}
	t.mu.Unlock()
	if requeue {
		t.settleTag(l.p, true)
	}
	return err
}

// abort puts l back under its lease after its outcome could not be
// published; a lease that lapsed meanwhile lapses now.
func (t *Transport) abort(l *lease) {
	t.mu.Lock()
	if l.state != leaseSettling {
		t.mu.Unlock()
		return
	}
	l.state = leaseHeld
	if time.Now().Before(l.deadline) {
		t.sweepByLocked(l.deadline)
		t.mu.Unlock()
		return
	}
	t.loseLocked(l)
	t.mu.Unlock()
	t.settleTag(l.p, true)
}

// finish settles l for good and acks its message.
func (t *Transport) finish(l *lease) {
	t.mu.Lock()
	current := l.state == leaseSettling || l.state == leaseHeld
	if current {
		l.state = leaseDone
		delete(l.p.b.q.leases, l)
	}
	t.mu.Unlock()
	if current {
		t.settleTag(l.p, false)
	}
}

// Ack removes a delivered message for good: the broker gets a basic.ack.
// A second Ack, or an Ack after the lease lapsed or the consumer's channel
// closed (the broker has then requeued the message), returns
// runtime.ErrLeaseLost.
func (t *Transport) Ack(_ context.Context, d *runtime.Delivery) error {
	l, err := t.leaseOf(d, "ack")
	if err != nil {
		return err
	}
	p := l.p
	t.mu.Lock()
	requeue, err := t.holdLocked(l, "ack")
	if err == nil {
		l.state = leaseDone
		delete(p.b.q.leases, l)
		t.creditLocked(p)
	}
	t.mu.Unlock()
	if requeue {
		t.settleTag(p, true)
	}
	if err != nil {
		return err
	}
	if !p.ack.ack(p.tag) {
		return fmt.Errorf("%w: ack task %q on queue %q: the consumer's channel closed first, so the broker delivers the message again", runtime.ErrLeaseLost, d.ID, d.Queue)
	}
	t.releaseID(p.msg.id, p.msg.guard)
	return nil
}

// Nack puts a delivered message back: it publishes a copy (with
// opts.Body, when given, and one more delivery counted), through the delay
// queues when opts.Delay is at least the shortest delay tier, and acks the
// original once the broker has confirmed the copy.
func (t *Transport) Nack(ctx context.Context, d *runtime.Delivery, opts runtime.NackOptions) error {
	l, err := t.leaseOf(d, "nack")
	if err != nil {
		return err
	}
	if err := t.begin(l, "nack"); err != nil {
		return err
	}
	m := l.p.msg
	m.deliveries = l.d.Deliveries
	m.eta = time.Time{}
	if opts.Delay > 0 {
		m.eta = time.Now().Add(opts.Delay)
	}
	if opts.Body != nil {
		m.body = bytes.Clone(opts.Body)
	}
	if err := t.send(ctx, &m); err != nil {
		t.abort(l)
		return fmt.Errorf("taskgen: amqp: nack task %q on queue %q: publish it again: %w", d.ID, d.Queue, err)
	}
	t.finish(l)
	return nil
}

// Extend renews d's lease for ttl from now (Config.Lease when zero).
func (t *Transport) Extend(_ context.Context, d *runtime.Delivery, ttl time.Duration) error {
	if ttl <= 0 {
		ttl = t.cfg.Lease
	}
	l, err := t.leaseOf(d, "extend")
	if err != nil {
		return err
	}
	t.mu.Lock()
	requeue, err := t.holdLocked(l, "extend")
	if err == nil {
		// A later deadline needs no earlier sweep; a shorter ttl may.
		l.deadline = time.Now().Add(ttl)
		t.sweepByLocked(l.deadline)
	}
	t.mu.Unlock()
	if requeue {
		t.settleTag(l.p, true)
	}
	return err
}

// DeadLetter publishes dl to the queue's dead-letter queue, through the
// dead-letter exchange, with its reason in headers, and acks the delivery
// once the broker has confirmed the letter. Empty ID and Queue are taken
// from d, a zero At is now, and a nil Body is the message's body.
func (t *Transport) DeadLetter(ctx context.Context, d *runtime.Delivery, dl runtime.DeadLetter) error {
	l, err := t.leaseOf(d, "dead-letter")
	if err != nil {
		return err
	}
	if dl.ID == "" {
		dl.ID = d.ID
	}
	if dl.Queue == "" {
		dl.Queue = d.Queue
	}
	if dl.At.IsZero() {
		dl.At = time.Now()
	}
	if dl.Body == nil {
		dl.Body = l.p.msg.body
	}
	if dl.Queue != d.Queue {
		if err := t.topo.ensure(ctx, dl.Queue); err != nil {
			return err
		}
	}
	if err := t.begin(l, "dead-letter"); err != nil {
		return err
	}
	if err := t.pubr.publish(ctx, t.layout(dl.Queue).deadExchange(), dl.Queue, deadLetterPublishing(dl, d.Priority)); err != nil {
		t.abort(l)
		if errors.Is(err, runtime.ErrClosed) {
			return err
		}
		return fmt.Errorf("taskgen: amqp: dead-letter task %q of queue %q: %w", d.ID, d.Queue, err)
	}
	t.finish(l)
	t.releaseID(l.p.msg.id, l.p.msg.guard)
	return nil
}
