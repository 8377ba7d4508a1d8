package amqp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/taskgen/taskgen/runtime"
)

// Publish errors.
var (
	// ErrUnroutable is returned by a publish that no queue took: the
	// broker returned the mandatory message. The queue was most likely
	// deleted outside taskgen; the next publish declares it again.
	ErrUnroutable = errors.New("taskgen: amqp: message unroutable")
	// ErrNacked is returned when the broker refused to take a message
	// (a negative publisher confirm).
	ErrNacked = errors.New("taskgen: amqp: the broker refused the message")
	// ErrUnconfirmed is returned when a message was sent but its confirm
	// did not come: the connection broke, or the caller's ctx was done
	// first. The broker may or may not hold the message.
	ErrUnconfirmed = errors.New("taskgen: amqp: publish not confirmed; the broker may or may not hold the message")
)

// publisher sends messages on a few confirm-mode channels of the
// publishing connection. Publishes from concurrent goroutines go out
// without waiting for each other; each waits only for its own confirm, and
// each channel has at most its window of unconfirmed messages.
type publisher struct {
	t      *Transport
	link   *link
	window int
	next   atomic.Uint64

	mu    sync.Mutex
	chans []*pubChan // nil or closed slots are reopened on use
	// opening[i] is slot i's channel being opened, outside mu: a broker
	// slow to answer holds up only the publishes waiting for that slot,
	// and each only until its ctx is done.
	opening []*opening
}

// opening is a publishing channel being opened.
type opening struct {
	done chan struct{} // closed once err is set
	err  error
	// lost: the connection closed meanwhile; the next try waits for the
	// reconnect.
	lost bool
}

// pubChan is one confirm-mode channel.
type pubChan struct {
	ch    *amqp.Channel
	slots chan struct{} // one per unconfirmed message
	done  chan struct{} // closed when the channel closes
	err   error         // why it closed; read after done

	// rets receives the broker's returns. Its capacity is the window:
	// a return always precedes its message's confirm, and a slot is freed
	// only after its return was moved to returned, so the connection's
	// reader never blocks on it.
	rmu      sync.Mutex
	rets     chan amqp.Return
	returned map[string]string // routing key and message ID → reply text

	// settle takes the asynchronous publishes, in the order sent, to the
	// channel's settler, which learns each one's outcome as its confirm
	// comes. Its capacity is the window, so that a send never blocks.
	settle chan *asyncPub
	// smu orders sends to settle against the settler's exit: once gone,
	// a publish that raced the channel's close is settled by its sender.
	smu  sync.Mutex
	gone bool
}

// asyncPub is a publish whose sender does not wait for its confirm.
type asyncPub struct {
	f *inflight
	// finish turns the confirm's outcome into the publish's, doing what
	// a failed publish undoes; it runs once the outcome is known, whether
	// or not anyone waits for it.
	finish func(error) error
	done   chan struct{} // closed once err is set
	err    error
}

func newPublisher(t *Transport, l *link, channels, window int) *publisher {
	return &publisher{t: t, link: l, window: window, chans: make([]*pubChan, channels), opening: make([]*opening, channels)}
}

// channel returns a live channel, opening one if its slot has none. It
// gives up when ctx is done; an open under way goes on for the next
// caller.
func (p *publisher) channel(ctx context.Context) (*pubChan, error) {
	i := int(p.next.Add(1) % uint64(len(p.chans)))
	for {
		p.mu.Lock()
		if pc := p.chans[i]; pc != nil && !pc.closed() {
			p.mu.Unlock()
			return pc, nil
		}
		op := p.opening[i]
		if op == nil {
			op = &opening{done: make(chan struct{})}
			p.opening[i] = op
			p.mu.Unlock()
			conn, _, err := p.link.current(ctx)
			switch {
			case err != nil:
				p.opened(i, op, nil, err, false)
			case !p.t.spawn(func() {
				pc, err := p.open(conn)
				p.opened(i, op, pc, err, err != nil && conn.IsClosed())
			}):
				p.opened(i, op, nil, runtime.ErrClosed, false)
			}
		} else {
			p.mu.Unlock()
		}
		select {
		case <-op.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-p.t.done:
			return nil, runtime.ErrClosed
		}
		switch err := op.err; {
		case err == nil, op.lost:
			continue // take the channel; or wait for the reconnect
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			continue // another caller's ctx ended its try
		case errors.Is(err, runtime.ErrClosed):
			return nil, err
		default:
			return nil, fmt.Errorf("taskgen: amqp: open publishing channel: %w", err)
		}
	}
}

// opened ends op, slot i's open, with pc or err.
func (p *publisher) opened(i int, op *opening, pc *pubChan, err error, lost bool) {
	p.mu.Lock()
	if err == nil {
		p.chans[i] = pc
	}
	p.opening[i] = nil
	op.err, op.lost = err, lost
	close(op.done)
	p.mu.Unlock()
}

func (p *publisher) open(conn *amqp.Connection) (*pubChan, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	if err := ch.Confirm(false /* noWait */); err != nil {
		_ = ch.Close()
		return nil, err
	}
	pc := &pubChan{
		ch:       ch,
		slots:    make(chan struct{}, p.window),
		done:     make(chan struct{}),
		rets:     ch.NotifyReturn(make(chan amqp.Return, p.window)),
		returned: make(map[string]string),
		settle:   make(chan *asyncPub, p.window),
	}
	closes := ch.NotifyClose(make(chan *amqp.Error, 1))
	if !p.t.spawn(func() {
		if e := <-closes; e != nil {
			pc.err = e
		}
		close(pc.done)
	}) {
		_ = ch.Close()
		return nil, runtime.ErrClosed
	}
	if !p.t.spawn(func() { p.settler(pc) }) {
		_ = ch.Close()
		return nil, runtime.ErrClosed
	}
	return pc, nil
}

// settler settles pc's asynchronous publishes in the order sent, which is
// the order of their confirms, until pc or the transport closes; then it
// settles those queued (the channel's close settled their confirms; the
// transport's close settles them with ErrClosed), and leaves any later
// ones to their senders.
func (p *publisher) settler(pc *pubChan) {
	for {
		select {
		case a := <-pc.settle:
			p.settleAsync(a)
			continue
		case <-pc.done:
		case <-p.t.done:
		}
		pc.smu.Lock()
		pc.gone = true
		pc.smu.Unlock()
		for {
			select {
			case a := <-pc.settle:
				p.settleAsync(a)
			default:
				return
			}
		}
	}
}

// settleAsync waits for a's confirm and records its outcome. A transport
// that closes first settles it with ErrClosed, unless the confirm is in.
func (p *publisher) settleAsync(a *asyncPub) {
	var err error
	select {
	case <-a.f.dc.Done():
		err = p.outcome(a.f)
	default:
		select {
		case <-a.f.dc.Done():
			err = p.outcome(a.f)
		case <-p.t.done:
			err = runtime.ErrClosed
		}
	}
	a.err = a.finish(err)
	close(a.done)
}

// sendAsync sends msg as send does, on prefer when it is open, and hands
// it to its channel's settler, which calls finish with its outcome.
func (p *publisher) sendAsync(ctx context.Context, prefer *pubChan, exchange, key string, msg amqp.Publishing, finish func(error) error) (*asyncPub, error) {
	f, err := p.send(ctx, prefer, exchange, key, msg)
	if err != nil {
		return nil, err
	}
	a := &asyncPub{f: f, finish: finish, done: make(chan struct{})}
	pc := f.pc
	pc.smu.Lock()
	if pc.gone {
		pc.smu.Unlock()
		p.settleAsync(a) // the close settled its confirm
		return a, nil
	}
	pc.settle <- a // never full: a holds one of the window's slots
	pc.smu.Unlock()
	return a, nil
}

func (pc *pubChan) closed() bool {
	select {
	case <-pc.done:
		return true
	default:
		return pc.ch.IsClosed()
	}
}

// publish sends msg and waits for the broker's confirm. It returns nil
// only once the broker has confirmed it and not returned it.
func (p *publisher) publish(ctx context.Context, exchange, key string, msg amqp.Publishing) error {
	f, err := p.send(ctx, nil, exchange, key, msg)
	if err != nil {
		return err
	}
	return p.wait(ctx, f)
}

// inflight is a message sent and not yet confirmed.
type inflight struct {
	pc *pubChan
	dc *amqp.DeferredConfirmation
	rk string
}

// send sends msg on prefer, when it is open, or on any channel, and
// returns without waiting for the confirm. A message that could not be
// sent because its channel had closed is sent again on another, after a
// reconnect if need be, until ctx is done. A broker that blocks publishers
// holds send until it unblocks or ctx is done.
func (p *publisher) send(ctx context.Context, prefer *pubChan, exchange, key string, msg amqp.Publishing) (*inflight, error) {
	for {
		if err := p.link.waitUnblocked(ctx); err != nil {
			return nil, err
		}
		pc := prefer
		if pc == nil || pc.closed() {
			var err error
			if pc, err = p.channel(ctx); err != nil {
				return nil, err
			}
		}
		select {
		case pc.slots <- struct{}{}:
		case <-pc.done:
			continue
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-p.t.done:
			return nil, runtime.ErrClosed
		}
		dc, err := pc.ch.PublishWithDeferredConfirm(exchange, key, true /* mandatory */, false /* immediate */, msg)
		if err != nil {
			<-pc.slots
			if pc.closed() {
				continue // nothing reached the broker
			}
			return nil, fmt.Errorf("taskgen: amqp: publish: %w", err)
		}
		return &inflight{pc: pc, dc: dc, rk: returnKey(key, msg.MessageId)}, nil
	}
}

// confirmGrace is how long a publish that was sent waits for its confirm
// after its ctx is done: the message may already be with a consumer, and
// the confirm says whether the task exists.
const confirmGrace = 5 * time.Second

// wait returns f's outcome once the broker confirms it, or an error
// wrapping ErrUnconfirmed when no confirm came within confirmGrace of
// ctx's end.
func (p *publisher) wait(ctx context.Context, f *inflight) error {
	select {
	case <-f.dc.Done():
		return p.outcome(f)
	case <-ctx.Done():
	}
	grace := time.NewTimer(confirmGrace)
	defer grace.Stop()
	select {
	case <-f.dc.Done():
		return p.outcome(f)
	case <-p.t.done:
		return runtime.ErrClosed
	case <-grace.C:
		// The slot is freed when the confirm comes, or when the channel
		// closes, which settles every pending confirm.
		if !p.t.spawn(func() {
			<-f.dc.Done()
			_ = p.outcome(f)
		}) {
			return runtime.ErrClosed
		}
		return fmt.Errorf("%w (%w)", ErrUnconfirmed, ctx.Err())
	}
}

// outcome frees f's slot and says how its message fared.
func (p *publisher) outcome(f *inflight) error {
	pc, dc := f.pc, f.dc
	reply, returned := pc.takeReturn(f.rk)
	<-pc.slots
	switch {
	case returned:
		return fmt.Errorf("%w (%s)", ErrUnroutable, reply)
	case dc.Acked():
		return nil
	case pc.closed():
		<-pc.done
		if p.t.closed.Load() {
			return runtime.ErrClosed
		}
		if pc.err != nil {
			return fmt.Errorf("%w: the channel closed: %v", ErrUnconfirmed, pc.err)
		}
		return fmt.Errorf("%w: the channel closed", ErrUnconfirmed)
	default:
		return ErrNacked
	}
}

// acked reports whether f's confirm has come, positive, and its message
// was not returned, leaving both for outcome.
func (p *publisher) acked(f *inflight) bool {
	select {
	case <-f.dc.Done():
	default:
		return false
	}
	if !f.dc.Acked() {
		return false
	}
	_, returned := f.pc.peekReturn(f.rk)
	return !returned
}

func returnKey(routingKey, id string) string { return routingKey + "\x00" + id }

// takeReturn reports whether the message under rk was returned, moving
// every return received so far out of the channel first.
func (pc *pubChan) takeReturn(rk string) (string, bool) {
	pc.rmu.Lock()
	defer pc.rmu.Unlock()
	reply, ok := pc.peekReturnLocked(rk)
	if ok {
		delete(pc.returned, rk)
	}
	return reply, ok
}

// peekReturn is takeReturn leaving the return in place.
func (pc *pubChan) peekReturn(rk string) (string, bool) {
	pc.rmu.Lock()
	defer pc.rmu.Unlock()
	return pc.peekReturnLocked(rk)
}

func (pc *pubChan) peekReturnLocked(rk string) (string, bool) {
drain:
	for pc.rets != nil {
		select {
		case r, ok := <-pc.rets:
			if !ok {
				pc.rets = nil
				break drain
			}
			pc.returned[returnKey(r.RoutingKey, r.MessageId)] = fmt.Sprintf("%d %s", r.ReplyCode, r.ReplyText)
		default:
			break drain
		}
	}
	reply, ok := pc.returned[rk]
	return reply, ok
}
