package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/amqp"
)

// taskgenBench is the contender: a taskgen Client and Worker on the AMQP
// transport with its defaults, except the confirm window and prefetch,
// which match the raw side's.
type taskgenBench struct {
	cfg *config
	tr  *amqp.Transport
	c   *runtime.Client
	seq atomic.Int64 // queue names, one per round
}

func newTaskgenBench(ctx context.Context, cfg *config) (*taskgenBench, error) {
	tr, err := amqp.New(ctx, amqp.Config{
		URL: cfg.url, Prefix: cfg.prefix, QueueType: cfg.queueType,
		ConfirmWindow: cfg.window, Prefetch: cfg.prefetch,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return nil, err
	}
	return &taskgenBench{cfg: cfg, tr: tr, c: runtime.NewClient(tr)}, nil
}

// close closes the transport and deletes the queues of this run.
func (b *taskgenBench) close() {
	b.tr.Close()
	var queues, exchanges []string
	for i := range b.seq.Load() {
		qs, xs := b.tr.Objects(fmt.Sprintf("q%d", i+1))
		queues = append(queues, qs...)
		exchanges = append(exchanges, xs...)
	}
	exchanges = append(exchanges, b.cfg.prefix+amqp.DeadExchange)
	if err := deleteObjects(b.cfg.url, queues, exchanges); err != nil {
		fmt.Println("cleanup:", err)
	}
}

// deleteObjects deletes queues and exchanges on a connection of its own.
func deleteObjects(url string, queues, exchanges []string) error {
	conn, err := amqp091.Dial(url)
	if err != nil {
		return err
	}
	defer conn.Close()
	var ch *amqp091.Channel
	for _, q := range queues {
		if ch == nil || ch.IsClosed() {
			if ch, err = conn.Channel(); err != nil {
				return err
			}
		}
		_, _ = ch.QueueDelete(q, false /* ifUnused */, false /* ifEmpty */, false /* noWait */)
	}
	for _, x := range exchanges {
		if ch == nil || ch.IsClosed() {
			if ch, err = conn.Channel(); err != nil {
				return err
			}
		}
		_ = ch.ExchangeDelete(x, false /* ifUnused */, false /* noWait */)
	}
	return nil
}

// bytesArgs are task arguments that encode as the bench payload itself.
type bytesArgs []byte

func (a *bytesArgs) MarshalTask() ([]byte, error) { return *a, nil }
func (a *bytesArgs) UnmarshalTask(data []byte) error {
	*a = append((*a)[:0], data...)
	return nil
}

func noopTask(queue string) *runtime.Task[runtime.None] {
	return &runtime.Task[runtime.None]{
		Def: runtime.TaskDef{
			Name: "bench.Noop", Queue: queue, Priority: runtime.DefaultPriority,
			Retries: 3, BackoffMin: time.Second, BackoffMax: time.Minute, Fingerprint: "bench-v1",
		},
		MarshalResult: runtime.MarshalNone, UnmarshalResult: runtime.UnmarshalNone,
	}
}

// queue returns a fresh queue name for one round.
func (b *taskgenBench) queue() string { return fmt.Sprintf("q%d", b.seq.Add(1)) }

// enqueue publishes n tasks from cfg.goroutines goroutines, one
// Client.Enqueue at a time each, and returns tasks per second.
func (b *taskgenBench) enqueue(ctx context.Context, n int) (float64, error) {
	task := noopTask(b.queue())
	// The first publish declares the queue; keep it out of the timing.
	if err := b.declare(ctx, task); err != nil {
		return 0, err
	}
	args := bytesArgs(payload)
	start := time.Now()
	err := fanOut(b.cfg.goroutines, n, func(int) error {
		_, err := runtime.Enqueue(ctx, b.c, task, &args)
		return err
	})
	return float64(n) / time.Since(start).Seconds(), err
}

// enqueueAsync publishes n tasks from cfg.goroutines goroutines with
// runtime.EnqueueAsync, each keeping its share of cfg.window unconfirmed,
// as the raw windowed publisher does: when its share is in flight, a
// goroutine waits for its oldest.
func (b *taskgenBench) enqueueAsync(ctx context.Context, n int) (float64, error) {
	task := noopTask(b.queue())
	if err := b.declare(ctx, task); err != nil {
		return 0, err
	}
	args := bytesArgs(payload)
	sig := runtime.NewSig(task, &args)
	share := max(b.cfg.window/b.cfg.goroutines, 1)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, b.cfg.goroutines)
	for g := range b.cfg.goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var inflight []*runtime.Pending[runtime.None]
			wait := func() bool {
				_, err := inflight[0].Wait(ctx)
				inflight = inflight[1:]
				errs[g] = err
				return err == nil
			}
			for i := g; i < n; i += b.cfg.goroutines {
				if len(inflight) == share && !wait() {
					return
				}
				inflight = append(inflight, runtime.EnqueueAsync(ctx, b.c, sig))
			}
			for len(inflight) > 0 && wait() {
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds(), errors.Join(errs...)
}

// enqueueBatch publishes n tasks from cfg.goroutines goroutines in
// Client.EnqueueBatch calls of 32.
func (b *taskgenBench) enqueueBatch(ctx context.Context, n int) (float64, error) {
	task := noopTask(b.queue())
	if err := b.declare(ctx, task); err != nil {
		return 0, err
	}
	const size = 32
	args := bytesArgs(payload)
	batch := make([]runtime.BatchItem, size)
	for i := range batch {
		batch[i] = runtime.NewBatchItem(task, &args)
	}
	start := time.Now()
	err := fanOut(b.cfg.goroutines, (n+size-1)/size, func(int) error {
		_, err := b.c.EnqueueBatch(ctx, batch)
		return err
	})
	return float64(n) / time.Since(start).Seconds(), err
}

func (b *taskgenBench) declare(ctx context.Context, task *runtime.Task[runtime.None]) error {
	return b.tr.Declare(ctx, task.Def.Queue)
}

// process fills a queue with n tasks, then runs a worker until its no-op
// handler has run n times, and returns tasks per second of the run alone.
func (b *taskgenBench) process(ctx context.Context, n int) (float64, error) {
	task := noopTask(b.queue())
	if err := b.fill(ctx, task, n); err != nil {
		return 0, err
	}
	var done atomic.Int64
	finished := make(chan struct{})
	w := runtime.NewWorker(b.tr, runtime.WorkerConfig{
		Queues: []string{task.Def.Queue}, Concurrency: b.cfg.concurrency,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	err := runtime.Register(w, task, func(context.Context, *bytesArgs) (runtime.None, error) {
		if done.Add(1) == int64(n) {
			close(finished)
		}
		return runtime.None{}, nil
	})
	if err != nil {
		return 0, err
	}
	wctx, cancel := context.WithCancel(ctx)
	ran := make(chan error, 1)
	measureFrom()
	start := time.Now()
	go func() { ran <- w.Run(wctx) }()
	select {
	case <-finished:
	case err := <-ran:
		cancel()
		return 0, fmt.Errorf("worker stopped early: %v", err)
	case <-time.After(5 * time.Minute):
		cancel()
		return 0, errors.New("worker did not finish within 5 minutes")
	}
	elapsed := time.Since(start)
	cancel()
	if err := <-ran; err != nil {
		return 0, err
	}
	return float64(n) / elapsed.Seconds(), nil
}

// fill enqueues n tasks in batches, outside the measurement.
func (b *taskgenBench) fill(ctx context.Context, task *runtime.Task[runtime.None], n int) error {
	args := bytesArgs(payload)
	const size = 256
	for i := 0; i < n; i += size {
		batch := make([]runtime.BatchItem, min(size, n-i))
		for j := range batch {
			batch[j] = runtime.NewBatchItem(task, &args)
		}
		if _, err := b.c.EnqueueBatch(ctx, batch); err != nil {
			return err
		}
	}
	return nil
}

// latency runs a worker on an idle queue and enqueues one task at a time,
// measuring the time from the start of Enqueue to the start of the
// handler.
func (b *taskgenBench) latency(ctx context.Context, samples int) ([]time.Duration, error) {
	task := noopTask(b.queue())
	started := make(chan time.Time, 1)
	w := runtime.NewWorker(b.tr, runtime.WorkerConfig{
		Queues: []string{task.Def.Queue}, Concurrency: 16,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	err := runtime.Register(w, task, func(context.Context, *bytesArgs) (runtime.None, error) {
		started <- time.Now()
		return runtime.None{}, nil
	})
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- w.Run(wctx) }()
	defer func() {
		cancel()
		<-ran
	}()
	args := bytesArgs(payload)
	// Warm up: the worker's first Fetch starts its consumers.
	if _, err := runtime.Enqueue(ctx, b.c, task, &args); err != nil {
		return nil, err
	}
	<-started
	out := make([]time.Duration, 0, samples)
	for range samples {
		time.Sleep(jitter())
		start := time.Now()
		if _, err := runtime.Enqueue(ctx, b.c, task, &args); err != nil {
			return nil, err
		}
		select {
		case at := <-started:
			out = append(out, at.Sub(start))
		case <-time.After(10 * time.Second):
			return nil, errors.New("a task did not start within 10s")
		}
	}
	return out, nil
}

// jitter spaces latency samples so that each finds the system idle.
func jitter() time.Duration { return 5*time.Millisecond + mrand.N(5*time.Millisecond) }

// fanOut calls fn(i) for i in [0, n) from g goroutines.
func fanOut(g, n int, fn func(i int) error) error {
	var wg sync.WaitGroup
	var first atomic.Value
	for w := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += g {
				if err := fn(i); err != nil {
					first.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := first.Load().(error); err != nil {
		return err
	}
	return nil
}
