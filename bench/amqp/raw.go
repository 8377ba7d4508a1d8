package main

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	taskgenamqp "github.com/taskgen/taskgen/transport/amqp"
)

// payload is the body of every message, raw or taskgen: 60 bytes.
var payload = []byte("taskgen bench payload: sixty bytes of opaque task arguments.")

// rawBench is the ceiling: amqp091-go used directly, the way a careful
// hand-written producer and consumer would.
type rawBench struct {
	cfg   *config
	conn  *amqp.Connection
	queue string
}

func newRawBench(cfg *config) (*rawBench, error) {
	if len(payload) != 60 {
		return nil, fmt.Errorf("payload is %d bytes, want 60", len(payload))
	}
	conn, err := amqp.Dial(cfg.url)
	if err != nil {
		return nil, err
	}
	b := &rawBench{cfg: cfg, conn: conn, queue: cfg.prefix + "raw"}
	ch, err := conn.Channel()
	if err != nil {
		conn.Close()
		return nil, err
	}
	defer ch.Close()
	// The same arguments as taskgen's work queues: a classic one has ten
	// priorities.
	args := amqp.Table{"x-queue-type": string(cfg.queueType)}
	if cfg.queueType == taskgenamqp.Classic {
		args["x-max-priority"] = 9
	}
	_, err = ch.QueueDeclare(b.queue, true /* durable */, false /* autoDelete */, false /* exclusive */, false /* noWait */, args)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return b, nil
}

func (b *rawBench) close() {
	if ch, err := b.conn.Channel(); err == nil {
		_, _ = ch.QueueDelete(b.queue, false /* ifUnused */, false /* ifEmpty */, false /* noWait */)
	}
	b.conn.Close()
}

func (b *rawBench) serverVersion() string {
	if v, ok := b.conn.Properties["version"].(string); ok {
		return v
	}
	return "(unknown version)"
}

// enqueue publishes n persistent messages from cfg.goroutines goroutines on
// one confirm-mode channel, with at most cfg.window unconfirmed; a
// collector frees window slots as confirms arrive. It returns messages per
// second, all confirmed.
func (b *rawBench) enqueue(n int) (float64, error) {
	ch, err := b.conn.Channel()
	if err != nil {
		return 0, err
	}
	defer ch.Close()
	if err := ch.Confirm(false /* noWait */); err != nil {
		return 0, err
	}
	slots := make(chan struct{}, b.cfg.window)
	sent := make(chan *amqp.DeferredConfirmation, b.cfg.window)
	var nacked atomic.Int64
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for dc := range sent {
			if !dc.Wait() {
				nacked.Add(1)
			}
			<-slots
		}
	}()
	start := time.Now()
	var wg sync.WaitGroup
	var perr atomic.Value
	g := b.cfg.goroutines
	for w := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += g {
				slots <- struct{}{}
				dc, err := ch.PublishWithDeferredConfirm("", b.queue, true /* mandatory */, false /* immediate */, amqp.Publishing{
					DeliveryMode: amqp.Persistent, Priority: 5, Body: payload,
				})
				if err != nil {
					perr.Store(err)
					<-slots
					return
				}
				sent <- dc
			}
		}()
	}
	wg.Wait()
	close(sent)
	<-collected
	elapsed := time.Since(start)
	if err, _ := perr.Load().(error); err != nil {
		return 0, err
	}
	if k := nacked.Load(); k > 0 {
		return 0, fmt.Errorf("raw enqueue: %d messages nacked", k)
	}
	if _, err := ch.QueuePurge(b.queue, false /* noWait */); err != nil {
		return 0, err
	}
	return float64(n) / elapsed.Seconds(), nil
}

// enqueueEach publishes n persistent messages from cfg.goroutines
// goroutines on one confirm-mode channel, each waiting for its message's
// confirm before the next, as taskgen's Publish must. It returns messages
// per second.
func (b *rawBench) enqueueEach(n int) (float64, error) {
	ch, err := b.conn.Channel()
	if err != nil {
		return 0, err
	}
	defer ch.Close()
	if err := ch.Confirm(false /* noWait */); err != nil {
		return 0, err
	}
	start := time.Now()
	var wg sync.WaitGroup
	var perr atomic.Value
	g := b.cfg.goroutines
	for w := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += g {
				dc, err := ch.PublishWithDeferredConfirm("", b.queue, true /* mandatory */, false /* immediate */, amqp.Publishing{
					DeliveryMode: amqp.Persistent, Priority: 5, Body: payload,
				})
				if err == nil && !dc.Wait() {
					err = errors.New("nacked")
				}
				if err != nil {
					perr.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err, _ := perr.Load().(error); err != nil {
		return 0, err
	}
	if _, err := ch.QueuePurge(b.queue, false /* noWait */); err != nil {
		return 0, err
	}
	return float64(n) / elapsed.Seconds(), nil
}

// process fills the queue with n messages, then consumes them with
// prefetch cfg.prefetch, acking every 64th with multiple set. It returns
// messages per second of the consumption alone.
func (b *rawBench) process(n int) (float64, error) {
	if err := b.fill(n); err != nil {
		return 0, err
	}
	ch, err := b.conn.Channel()
	if err != nil {
		return 0, err
	}
	defer ch.Close()
	if err := ch.Qos(b.cfg.prefetch, 0, false /* global */); err != nil {
		return 0, err
	}
	measureFrom()
	start := time.Now()
	ds, err := ch.Consume(b.queue, "", false /* autoAck */, false /* exclusive */, false /* noLocal */, false /* noWait */, nil)
	if err != nil {
		return 0, err
	}
	got := 0
	for d := range ds {
		got++
		if got%64 == 0 || got == n {
			if err := d.Ack(true /* multiple */); err != nil {
				return 0, err
			}
		}
		if got == n {
			break
		}
	}
	elapsed := time.Since(start)
	if got < n {
		return 0, errors.New("raw consumer: channel closed early")
	}
	return float64(n) / elapsed.Seconds(), nil
}

// fill publishes n messages with the windowed publisher, outside the
// measurement.
func (b *rawBench) fill(n int) error {
	ch, err := b.conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	if err := ch.Confirm(false /* noWait */); err != nil {
		return err
	}
	var dcs []*amqp.DeferredConfirmation
	for range n {
		dc, err := ch.PublishWithDeferredConfirm("", b.queue, true /* mandatory */, false /* immediate */, amqp.Publishing{
			DeliveryMode: amqp.Persistent, Priority: 5, Body: payload,
		})
		if err != nil {
			return err
		}
		dcs = append(dcs, dc)
		if len(dcs) == b.cfg.window {
			for _, dc := range dcs {
				dc.Wait()
			}
			dcs = dcs[:0]
		}
	}
	for _, dc := range dcs {
		dc.Wait()
	}
	return nil
}

// latency publishes one message at a time to an idle queue and measures
// the time from the start of the publish to its receipt by a consumer.
func (b *rawBench) latency(samples int) ([]time.Duration, error) {
	cch, err := b.conn.Channel()
	if err != nil {
		return nil, err
	}
	defer cch.Close()
	if err := cch.Qos(b.cfg.prefetch, 0, false /* global */); err != nil {
		return nil, err
	}
	ds, err := cch.Consume(b.queue, "", false /* autoAck */, false /* exclusive */, false /* noLocal */, false /* noWait */, nil)
	if err != nil {
		return nil, err
	}
	pch, err := b.conn.Channel()
	if err != nil {
		return nil, err
	}
	defer pch.Close()
	if err := pch.Confirm(false /* noWait */); err != nil {
		return nil, err
	}
	out := make([]time.Duration, 0, samples)
	for range samples {
		time.Sleep(jitter())
		start := time.Now()
		dc, err := pch.PublishWithDeferredConfirm("", b.queue, true /* mandatory */, false /* immediate */, amqp.Publishing{
			DeliveryMode: amqp.Persistent, Priority: 5, Body: payload,
		})
		if err != nil {
			return nil, err
		}
		d, ok := <-ds
		if !ok {
			return nil, errors.New("raw consumer: channel closed")
		}
		out = append(out, time.Since(start))
		if err := d.Ack(false /* multiple */); err != nil {
			return nil, err
		}
		dc.Wait()
	}
	return out, nil
}
