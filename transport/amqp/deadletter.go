package amqp

import (
	"context"
	"errors"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/taskgen/taskgen/runtime"
)

// Headers of a dead letter; its body is the message's body and its
// message-id the task ID.
const (
	hdrDeadQueue    = "x-taskgen-queue"
	hdrDeadTask     = "x-taskgen-task"
	hdrDeadReason   = "x-taskgen-reason"
	hdrDeadError    = "x-taskgen-error"
	hdrDeadAttempts = "x-taskgen-attempts"
	hdrDeadAt       = "x-taskgen-at"
)

// maxErrorHeader bounds the error text kept in a dead letter's header: the
// headers travel in one frame, which the broker limits (128 KiB by
// default).
const maxErrorHeader = 32 << 10

// deadLetterPublishing is dl as a message for the dead-letter queue.
func deadLetterPublishing(dl runtime.DeadLetter, priority int) amqp.Publishing {
	errText := dl.Error
	if len(errText) > maxErrorHeader {
		errText = errText[:maxErrorHeader] + "… (truncated)"
	}
	h := amqp.Table{
		hdrDeadQueue:  dl.Queue,
		hdrDeadReason: string(dl.Reason),
		hdrDeadAt:     dl.At.UnixNano(),
	}
	if dl.Task != "" {
		h[hdrDeadTask] = dl.Task
	}
	if errText != "" {
		h[hdrDeadError] = errText
	}
	if dl.Attempts != 0 {
		h[hdrDeadAttempts] = int64(dl.Attempts)
	}
	return amqp.Publishing{
		MessageId:    dl.ID,
		Priority:     uint8(min(max(priority, 0), runtime.MaxPriority)),
		DeliveryMode: amqp.Persistent,
		Headers:      h,
		Body:         dl.Body,
	}
}

// decodeDeadLetter reads a dead letter of queue. A message the broker
// dead-lettered itself (a quorum queue's own delivery limit) has no taskgen
// headers; its x-death headers give the reason.
func decodeDeadLetter(d *amqp.Delivery, queue string) runtime.DeadLetter {
	h := d.Headers
	dl := runtime.DeadLetter{
		ID:       d.MessageId,
		Queue:    headerString(h, hdrDeadQueue),
		Task:     headerString(h, hdrDeadTask),
		Reason:   runtime.Reason(headerString(h, hdrDeadReason)),
		Error:    headerString(h, hdrDeadError),
		Attempts: int(headerInt(h, hdrDeadAttempts)),
		Body:     d.Body,
	}
	if ns := headerInt(h, hdrDeadAt); ns != 0 {
		dl.At = time.Unix(0, ns)
	}
	if dl.Queue == "" {
		dl.Queue = queue
	}
	if dl.Reason == "" {
		reason := headerString(h, "x-first-death-reason")
		switch reason {
		case "delivery_limit":
			dl.Reason = runtime.ReasonDeliveryLimit
		case "expired":
			dl.Reason = runtime.ReasonExpired
		default:
			dl.Reason = runtime.ReasonFailed
		}
		dl.Error = fmt.Sprintf("dead-lettered by the broker from queue %q (reason %q)", headerString(h, "x-first-death-queue"), reason)
		dl.Attempts = int(headerInt(h, hdrDeliveryCount))
		if dl.At.IsZero() {
			dl.At = d.Timestamp
		}
	}
	return dl
}

// browse fetches up to limit messages of queue's dead-letter queue (all
// that were there when it started, for limit <= 0) with basic.get, calls
// fn with them, and then puts them back in place: a classic queue requeues
// rejected messages at their positions. fn may settle them itself on ch
// and report that it did. Browsing is serialized within the transport; a
// concurrent browser in another process may see fewer.
func (t *Transport) browse(ctx context.Context, queue string, limit int, fn func(ch *amqp.Channel, ds []amqp.Delivery) (settled bool, err error)) error {
	if t.closed.Load() {
		return runtime.ErrClosed
	}
	t.browsing.Lock()
	defer t.browsing.Unlock()
	conn, _, err := t.sub.current(ctx)
	if err != nil {
		return err
	}
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	name := t.layout(queue).dead()
	n, err := countReady(ch, name)
	if isNotFound(err) {
		_, err := fn(nil, nil)
		return err
	}
	if err != nil {
		return err
	}
	if limit <= 0 || limit > n {
		limit = n
	}
	ds := make([]amqp.Delivery, 0, limit)
	for len(ds) < limit {
		if err := ctx.Err(); err != nil {
			return err
		}
		d, ok, err := ch.Get(name, false /* autoAck */)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		ds = append(ds, d)
	}
	settled, ferr := fn(ch, ds)
	if len(ds) > 0 {
		if !settled {
			if err := ch.Nack(ds[len(ds)-1].DeliveryTag, true /* multiple */, true /* requeue */); err != nil {
				return errors.Join(ferr, err)
			}
		}
		// A call on the same channel returns after the broker has
		// requeued them, so that the next count sees them.
		if _, err := countReady(ch, name); err != nil {
			return errors.Join(ferr, err)
		}
	}
	return ferr
}

// DeadLetters lists up to limit dead letters of queue, oldest first;
// limit <= 0 lists them all.
func (t *Transport) DeadLetters(ctx context.Context, queue string, limit int) ([]runtime.DeadLetter, error) {
	var out []runtime.DeadLetter
	err := t.browse(ctx, queue, limit, func(_ *amqp.Channel, ds []amqp.Delivery) (bool, error) {
		for i := range ds {
			out = append(out, decodeDeadLetter(&ds[i], queue))
		}
		return false, nil
	})
	if err != nil && !errors.Is(err, runtime.ErrClosed) {
		err = fmt.Errorf("taskgen: amqp: list dead letters of queue %q: %w", queue, err)
	}
	return out, err
}

// RequeueDeadLetter publishes the dead letter id of queue to queue again,
// ready at once with its priority and recorded body and with its delivery
// counts reset, then removes the letter. It returns runtime.ErrNotFound
// when queue has no such letter, and runtime.ErrDuplicateTask when the
// transport's store says a task with that ID is held.
func (t *Transport) RequeueDeadLetter(ctx context.Context, queue, id string) error {
	err := t.browse(ctx, queue, 0, func(ch *amqp.Channel, ds []amqp.Delivery) (bool, error) {
		for i := range ds {
			d := &ds[i]
			if d.MessageId != id {
				continue
			}
			msg := &runtime.Message{ID: id, Queue: queue, Priority: min(int(d.Priority), runtime.MaxPriority), Body: d.Body}
			guard, err := t.prepare(ctx, msg)
			if err != nil {
				return false, err
			}
			m := newMessage(msg, guard)
			if err := t.published(msg, guard, t.send(ctx, &m)); err != nil {
				return false, err
			}
			// Put back the letters around it, and remove it.
			if i > 0 {
				if err := ch.Nack(ds[i-1].DeliveryTag, true /* multiple */, true /* requeue */); err != nil {
					return true, err
				}
			}
			if err := ch.Ack(d.DeliveryTag, false /* multiple */); err != nil {
				return true, err
			}
			if last := len(ds) - 1; last > i {
				if err := ch.Nack(ds[last].DeliveryTag, true /* multiple */, true /* requeue */); err != nil {
					return true, err
				}
			}
			return true, nil
		}
		return false, fmt.Errorf("%w: no dead letter %q in queue %q", runtime.ErrNotFound, id, queue)
	})
	if err != nil && !errors.Is(err, runtime.ErrClosed) && !errors.Is(err, runtime.ErrNotFound) && !errors.Is(err, runtime.ErrDuplicateTask) {
		err = fmt.Errorf("taskgen: amqp: requeue dead letter %q of queue %q: %w", id, queue, err)
	}
	return err
}

// PurgeDeadLetters deletes every dead letter of queue and returns how many
// there were.
func (t *Transport) PurgeDeadLetters(ctx context.Context, queue string) (int, error) {
	if t.closed.Load() {
		return 0, runtime.ErrClosed
	}
	conn, _, err := t.sub.current(ctx)
	if err != nil {
		return 0, err
	}
	ch, err := conn.Channel()
	if err != nil {
		return 0, fmt.Errorf("taskgen: amqp: purge dead letters of queue %q: open channel: %w", queue, err)
	}
	defer ch.Close()
	n, err := ch.QueuePurge(t.layout(queue).dead(), false /* noWait */)
	if isNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("taskgen: amqp: purge dead letters of queue %q: %w", queue, err)
	}
	return n, nil
}

// SetRateLimit sets task's global rate limit in the store of Config.Store,
// the one the workers keep their limits in. It implements
// runtime.Inspector; with no store it returns runtime.ErrNoStore.
func (t *Transport) SetRateLimit(ctx context.Context, task string, r runtime.Rate) error {
	if t.cfg.Store == nil {
		return fmt.Errorf("taskgen: amqp: set rate limit of task %s: the transport has no store (open it with ?store=redis://…): %w", task, runtime.ErrNoStore)
	}
	return runtime.SetRateLimit(ctx, t.cfg.Store, task, r)
}
