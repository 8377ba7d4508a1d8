package amqp

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/taskgen/taskgen/runtime"
)

// DeadExchange is the direct exchange (after Config.Prefix) that routes
// dead letters to each queue's dead-letter queue, by the taskgen queue's
// name.
const DeadExchange = "taskgen.dead"

// layout names the broker objects of one taskgen queue.
type layout struct {
	queue  string // the taskgen queue's name
	prefix string
	qt     QueueType
	tiers  []time.Duration
}

func (t *Transport) layout(queue string) layout {
	return layout{queue: queue, prefix: t.cfg.Prefix, qt: t.cfg.QueueType, tiers: t.cfg.DelayTiers}
}

// base is the broker name the other names start with.
func (l layout) base() string { return l.prefix + l.queue }

// deadExchange is the dead-letter exchange's name.
func (l layout) deadExchange() string { return l.prefix + DeadExchange }

// bands returns the work queues, highest priority first, with the lowest
// priority each serves.
func (l layout) bands() []bandSpec {
	if l.qt == Classic {
		return []bandSpec{{name: l.base(), low: 0}}
	}
	out := make([]bandSpec, 0, runtime.MaxPriority+1)
	for p := runtime.MaxPriority; p >= 0; p-- {
		out = append(out, bandSpec{name: l.base() + ".p" + strconv.Itoa(p), low: p})
	}
	return out
}

// bandSpec is one work queue of a taskgen queue: it holds the priorities
// from low up to the previous band's.
type bandSpec struct {
	name string
	low  int
}

// band returns the work queue for priority p.
func (l layout) band(p int) string {
	if l.qt == Classic {
		return l.base()
	}
	return l.base() + ".p" + strconv.Itoa(min(max(p, 0), runtime.MaxPriority))
}

// tier returns the name of the delay exchange and queue of tier d.
func (l layout) tier(d time.Duration) string { return l.base() + ".delay." + tierLabel(d) }

// dead returns the dead-letter queue's name.
func (l layout) dead() string { return l.base() + ".dead" }

// tierLabel writes d in its largest whole unit: 250ms, 5s, 3m, 2h.
func tierLabel(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	default:
		return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
	}
}

// bandArgs are the arguments of a work queue: its type, priorities on
// classic queues, and the dead-letter route. They depend on nothing that
// a deployment tunes, so that changing the transport's settings never
// makes a declaration clash with the queue it declared before. (The
// delivery limit is the transport's; a broker-side backstop can be added
// with a delivery-limit policy on quorum queues.)
func (l layout) bandArgs() amqp.Table {
	args := amqp.Table{
		"x-queue-type":              string(l.qt),
		"x-dead-letter-exchange":    l.deadExchange(),
		"x-dead-letter-routing-key": l.queue,
	}
	if l.qt == Classic {
		args["x-max-priority"] = runtime.MaxPriority
	}
	return args
}

// tierArgs make a delay queue: every message waits d, then is
// dead-lettered through the default exchange under the routing key it was
// published with, which names its work queue.
func tierArgs(d time.Duration) amqp.Table {
	return amqp.Table{
		"x-queue-type":           string(Classic),
		"x-message-ttl":          int64(d / time.Millisecond),
		"x-dead-letter-exchange": "",
	}
}

// deadArgs make the dead-letter queue: classic, so that listing requeues
// the letters in place, and lazy, because it may grow.
var deadArgs = amqp.Table{"x-queue-type": string(Classic), "x-queue-mode": "lazy"}

// The amqp091-go declaration calls take runs of positional bools; these
// helpers name the one combination the transport uses.

// declareQueue declares a durable queue that outlives its consumers.
func declareQueue(ch *amqp.Channel, name string, args amqp.Table) error {
	_, err := ch.QueueDeclare(name, true /* durable */, false /* autoDelete */, false /* exclusive */, false /* noWait */, args)
	return err
}

// countReady returns how many messages queue name has ready to deliver. A
// missing queue is an *amqp.Error with code NotFound, which closes ch.
func countReady(ch *amqp.Channel, name string) (int, error) {
	q, err := ch.QueueDeclarePassive(name, true /* durable */, false /* autoDelete */, false /* exclusive */, false /* noWait */, nil)
	return q.Messages, err
}

// declareExchange declares a durable exchange of kind.
func declareExchange(ch *amqp.Channel, name, kind string) error {
	return ch.ExchangeDeclare(name, kind, true /* durable */, false /* autoDelete */, false /* internal */, false /* noWait */, nil)
}

func bindQueue(ch *amqp.Channel, queue, key, exchange string) error {
	return ch.QueueBind(queue, key, exchange, false /* noWait */, nil)
}

// consume starts a consumer with manual acks.
func consume(ch *amqp.Channel, queue, tag string) (<-chan amqp.Delivery, error) {
	return ch.Consume(queue, tag, false /* autoAck */, false /* exclusive */, false /* noLocal */, false /* noWait */, nil)
}

func isNotFound(err error) bool {
	var ae *amqp.Error
	return errors.As(err, &ae) && ae.Code == amqp.NotFound
}

// topology declares each taskgen queue's broker objects once per
// connection, on first use.
type topology struct {
	t    *Transport
	mu   sync.Mutex
	m    map[string]*declaration
	seen map[string]bool // every queue ever declared, for tests to clean up
}

type declaration struct {
	done chan struct{}
	err  error
}

// reset forgets what was declared, so that the next use declares again:
// after a reconnect the broker may have restarted without them.
func (tp *topology) reset() {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	for q, d := range tp.m {
		select {
		case <-d.done:
			delete(tp.m, q)
		default: // in progress; it finishes on its own
		}
	}
}

// ensure declares queue's objects unless they were declared already on
// this connection. Concurrent callers share one declaration.
func (tp *topology) ensure(ctx context.Context, queue string) error {
	tp.mu.Lock()
	d := tp.m[queue]
	first := d == nil
	if first {
		d = &declaration{done: make(chan struct{})}
		tp.m[queue] = d
		tp.seen[queue] = true
	}
	tp.mu.Unlock()
	if first {
		// The declaration outlives a caller that gives up, so that
		// others waiting on it are not failed by that caller's ctx.
		dctx, cancel := context.WithTimeout(tp.t.ctx, time.Minute)
		d.err = tp.declare(dctx, queue)
		cancel()
		if d.err != nil {
			tp.mu.Lock()
			delete(tp.m, queue)
			tp.mu.Unlock()
		}
		close(d.done)
	}
	select {
	case <-d.done:
		return d.err
	case <-ctx.Done():
		return ctx.Err()
	case <-tp.t.done:
		return runtime.ErrClosed
	}
}

// declare makes queue's dead-letter queue, work queues and delay tiers, on
// a channel of its own so that a refused declaration closes nothing else.
func (tp *topology) declare(ctx context.Context, queue string) error {
	conn, _, err := tp.t.sub.current(ctx)
	if err != nil {
		return err
	}
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("taskgen: amqp: declare queue %q: open channel: %w", queue, err)
	}
	defer ch.Close()
	l := tp.t.layout(queue)
	fail := func(what, name string, err error) error {
		var ae *amqp.Error
		if errors.As(err, &ae) && ae.Code == amqp.PreconditionFailed {
			return fmt.Errorf("taskgen: amqp: declare %s %q: it exists with other arguments (%s); it was most likely declared with another queue type: open every transport of this queue with the same queue type, or delete the queue", what, name, ae.Reason)
		}
		return fmt.Errorf("taskgen: amqp: declare %s %q: %w", what, name, err)
	}
	if err := declareExchange(ch, l.deadExchange(), amqp.ExchangeDirect); err != nil {
		return fail("exchange", l.deadExchange(), err)
	}
	if err := declareQueue(ch, l.dead(), deadArgs); err != nil {
		return fail("dead-letter queue", l.dead(), err)
	}
	if err := bindQueue(ch, l.dead(), queue, l.deadExchange()); err != nil {
		return fail("dead-letter binding", l.dead(), err)
	}
	for _, b := range l.bands() {
		if err := declareQueue(ch, b.name, l.bandArgs()); err != nil {
			return fail("queue", b.name, err)
		}
	}
	for _, d := range l.tiers {
		name := l.tier(d)
		if err := declareExchange(ch, name, amqp.ExchangeFanout); err != nil {
			return fail("delay exchange", name, err)
		}
		if err := declareQueue(ch, name, tierArgs(d)); err != nil {
			return fail("delay queue", name, err)
		}
		if err := bindQueue(ch, name, "", name); err != nil {
			return fail("delay binding", name, err)
		}
	}
	return ctx.Err()
}

// forget drops queue's declaration, so that the next use declares it again.
func (tp *topology) forget(queue string) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if d := tp.m[queue]; d != nil {
		select {
		case <-d.done:
			delete(tp.m, queue)
		default:
		}
	}
}

// Declare declares the RabbitMQ objects of each of queues now, rather than
// on their first use, and reports the first failure: a queue declared
// before with other arguments, or a broker that refuses.
func (t *Transport) Declare(ctx context.Context, queues ...string) error {
	if t.closed.Load() {
		return runtime.ErrClosed
	}
	for _, q := range queues {
		if err := t.checkQueueName(q); err != nil {
			return err
		}
		if err := t.topo.ensure(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// Objects names the RabbitMQ objects that carry taskgen queue queue under
// this transport's configuration: the work queues (highest priority
// first), the delay queues and the dead-letter queue; and the delay
// exchanges, one per delay queue. The dead-letter exchange, shared by all
// queues, is Config.Prefix followed by DeadExchange.
func (t *Transport) Objects(queue string) (queues, exchanges []string) {
	l := t.layout(queue)
	for _, b := range l.bands() {
		queues = append(queues, b.name)
	}
	for _, d := range l.tiers {
		queues = append(queues, l.tier(d))
		exchanges = append(exchanges, l.tier(d))
	}
	return append(queues, l.dead()), exchanges
}
