package amqp

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

// Publish sends msg and returns nil only once the broker has confirmed it
// (publisher confirms) and routed it to a queue: an unroutable message is
// an error wrapping ErrUnroutable, a negative confirm ErrNacked, and a
// connection lost before the confirm ErrUnconfirmed. The first publish to a
// queue declares its objects. A message with a future ETA goes to the delay
// queues. With a Config.Store, publishing an ID the transport holds returns
// runtime.ErrDuplicateTask. While the broker blocks publishers (a resource
// alarm), Publish waits until it unblocks or ctx is done.
func (t *Transport) Publish(ctx context.Context, msg *runtime.Message) error {
	guard, err := t.prepare(ctx, msg)
	if err != nil {
		return err
	}
	m := newMessage(msg, guard)
	err = t.send(ctx, &m)
	return t.published(msg, guard, err)
}

// PublishAsync publishes msg as Publish does, but returns once it is sent:
// the returned channel closes once its confirm came, and the function
// returns its outcome, as Publish would have. It implements
// runtime.AsyncPublisher. The transport awaits the confirms of
// asynchronous publishes itself, and undoes what a failed one claimed, so
// a caller that never looks still frees its place in the confirm window
// and the message's ID.
func (t *Transport) PublishAsync(ctx context.Context, msg *runtime.Message) (<-chan struct{}, func() error) {
	fail := func(err error) (<-chan struct{}, func() error) {
		done := make(chan struct{})
		close(done)
		return done, func() error { return err }
	}
	guard, err := t.prepare(ctx, msg)
	if err != nil {
		return fail(err)
	}
	m := newMessage(msg, guard)
	exchange, key := t.route(&m)
	a, err := t.pubr.sendAsync(ctx, nil, exchange, key, m.publishing(), func(err error) error { return t.published(msg, guard, err) })
	if err != nil {
		return fail(t.published(msg, guard, err))
	}
	return a.done, func() error {
		<-a.done
		return a.err
	}
}

// PublishBatch publishes msgs on one channel in order, with their confirms
// outstanding at once (up to half the confirm window, leaving the rest to
// other publishers), and returns one error per message. Once ctx is done,
// the batch waits one confirmGrace more for the confirms still out, not
// one per message.
func (t *Transport) PublishBatch(ctx context.Context, msgs []*runtime.Message) []error {
	errs, guards := t.prepareBatch(ctx, msgs) // bulk.go
	// The channel's settler frees a message's place in the window as its
	// confirm comes, whoever waits: batches that share a channel never
	// wait on each other.
	sent := make([]*asyncPub, len(msgs))
	hold := max(t.cfg.ConfirmWindow/2, 1)
	w := confirmWaiter{p: t.pubr, ctx: ctx}
	defer w.stop()
	var pin *pubChan
	oldest := 0 // first index whose confirm was not awaited yet
	for i, msg := range msgs {
		if errs[i] != nil {
			continue
		}
		for ; i-oldest >= hold; oldest++ {
			if sent[oldest] != nil {
				errs[oldest] = w.wait(msgs[oldest], sent[oldest])
			}
		}
		m := newMessage(msg, guards[i])
		exchange, key := t.route(&m)
		a, err := t.pubr.sendAsync(ctx, pin, exchange, key, m.publishing(), func(err error) error { return t.published(msg, guards[i], err) })
		if err != nil {
			errs[i] = t.published(msg, guards[i], err)
			continue
		}
		sent[i], pin = a, a.f.pc
	}
	for ; oldest < len(msgs); oldest++ {
		if sent[oldest] != nil {
			errs[oldest] = w.wait(msgs[oldest], sent[oldest])
		}
	}
	return errs
}

// confirmWaiter waits for the confirms of a batch: until ctx is done, and
// then for one confirmGrace in all.
type confirmWaiter struct {
	p     *publisher
	ctx   context.Context
	grace *time.Timer // started when ctx is done
	over  bool        // the grace has passed
}

// wait returns the outcome of a, msg's publish, or an error wrapping
// ErrUnconfirmed once the grace has passed. A positive confirm returns at
// once, without waiting for the channel's settler, which takes the
// confirms in the order sent and may be held up by an earlier publish's;
// the settler settles a failed or late confirm, releasing what a failed
// publish claimed.
func (w *confirmWaiter) wait(msg *runtime.Message, a *asyncPub) error {
	confirm := a.f.dc.Done()
	for !w.over {
		ctxDone, expired := w.ctx.Done(), (<-chan time.Time)(nil)
		if w.ctx.Err() != nil {
			if w.grace == nil {
				w.grace = time.NewTimer(confirmGrace)
			}
			ctxDone, expired = nil, w.grace.C
		}
		select {
		case <-a.done:
			return a.err
		case <-confirm:
			if w.p.acked(a.f) {
				return nil
			}
			confirm = nil // the settler says how it failed
		case <-ctxDone:
		case <-expired:
			w.over = true
		}
	}
	select {
	case <-a.done:
		return a.err
	default:
		if w.p.acked(a.f) {
			return nil
		}
		return fmt.Errorf("taskgen: amqp: publish task %q to queue %q: %w (%w)", msg.ID, msg.Queue, ErrUnconfirmed, w.ctx.Err())
	}
}

func (w *confirmWaiter) stop() {
	if w.grace != nil {
		w.grace.Stop()
	}
}

// newMessage is msg as the transport moves it, with guard, the token of
// its ID's claim.
func newMessage(msg *runtime.Message, guard string) message {
	return message{id: msg.ID, queue: msg.Queue, priority: msg.Priority, eta: msg.ETA, body: bytes.Clone(msg.Body), guard: guard}
}

// prepare checks msg, declares its queue on first use and claims its ID,
// returning the claim's token.
func (t *Transport) prepare(ctx context.Context, msg *runtime.Message) (string, error) {
	if err := t.check(ctx, msg); err != nil {
		return "", err
	}
	return t.claimID(ctx, msg)
}

// check checks msg and declares its queue on first use.
func (t *Transport) check(ctx context.Context, msg *runtime.Message) error {
	if err := checkMessage(msg); err != nil {
		return err
	}
	if err := t.checkQueueName(msg.Queue); err != nil {
		return err
	}
	if t.closed.Load() {
		return runtime.ErrClosed
	}
	return t.topo.ensure(ctx, msg.Queue)
}

// claimID claims msg's ID in the store, if the transport has one, and
// returns the claim's token, which the message carries (hdrGuard).
func (t *Transport) claimID(ctx context.Context, msg *runtime.Message) (string, error) {
	s := t.cfg.Store
	if s == nil {
		return "", nil
	}
	guard := rand.Text()[:16]
	ok, err := s.PutNX(ctx, guardKey(msg.ID), []byte(guard), t.guardTTL(msg.ETA))
	if err != nil {
		return "", fmt.Errorf("taskgen: amqp: publish task %q to queue %q: claim its ID in the store: %w", msg.ID, msg.Queue, err)
	}
	if !ok {
		return "", duplicateError(msg)
	}
	return guard, nil
}

// duplicateError is the error of publishing msg, whose ID is taken.
func duplicateError(msg *runtime.Message) error {
	return fmt.Errorf("%w: %q (publishing to queue %q)", runtime.ErrDuplicateTask, msg.ID, msg.Queue)
}

// published finishes a publish: it frees the claim (guard) of a message
// the broker surely does not hold, and names the task in the error.
func (t *Transport) published(msg *runtime.Message, guard string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrUnroutable) {
		// The queue went away behind the transport's back: declare it
		// again on the next publish.
		t.topo.forget(msg.Queue)
	}
	if !errors.Is(err, ErrUnconfirmed) {
		t.releaseID(msg.ID, guard)
	}
	if errors.Is(err, runtime.ErrClosed) {
		return err
	}
	return fmt.Errorf("taskgen: amqp: publish task %q to queue %q: %w", msg.ID, msg.Queue, err)
}

// send publishes m to its work queue, or through the delay queues when its
// ETA is at least the shortest tier away, and waits for the confirm.
func (t *Transport) send(ctx context.Context, m *message) error {
	exchange, key := t.route(m)
	return t.pubr.publish(ctx, exchange, key, m.publishing())
}

// route returns the exchange and routing key m is published with: its
// priority's band of its work queue, or a delay tier.
func (t *Transport) route(m *message) (exchange, key string) {
	l := t.layout(m.queue)
	exchange, key = "", l.band(m.priority)
	if !m.eta.IsZero() {
		if d, ok := t.tierFor(time.Until(m.eta)); ok {
			exchange = l.tier(d)
		}
	}
	return exchange, key
}

// tierFor returns the longest delay tier that does not exceed remaining.
func (t *Transport) tierFor(remaining time.Duration) (time.Duration, bool) {
	tiers := t.cfg.DelayTiers
	i := sort.Search(len(tiers), func(i int) bool { return tiers[i] > remaining })
	if i == 0 {
		return 0, false
	}
	return tiers[i-1], true
}

// holdWindow is how far from its ETA a consumer holds a message itself,
// unacknowledged, rather than send it through another delay tier.
func (t *Transport) holdWindow() time.Duration { return t.cfg.DelayTiers[0] }
