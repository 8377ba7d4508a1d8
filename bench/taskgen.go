package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport"
)

// taskgenBench runs the taskgen side against one transport.
type taskgenBench struct {
	cfg *config
	tr  runtime.Transport
	c   *runtime.Client
}

func newTaskgenBench(ctx context.Context, cfg *config) (*taskgenBench, error) {
	tr, err := transport.Open(ctx, cfg.taskgenURL())
	if err != nil {
		return nil, err
	}
	return &taskgenBench{cfg: cfg, tr: tr, c: runtime.NewClient(tr)}, nil
}

func (b *taskgenBench) close() { b.tr.Close() }

// enqueue publishes n tasks from cfg.goroutines goroutines, one call each.
func (b *taskgenBench) enqueue(ctx context.Context, queue string, n int) (float64, error) {
	task := signupTask(queue)
	start := time.Now()
	err := fanOut(b.cfg.goroutines, n, func(i int) error {
		_, err := runtime.Enqueue(ctx, b.c, task, newSignup(i))
		return err
	})
	return rate(n, time.Since(start)), err
}

// enqueueBatch publishes n tasks from cfg.goroutines goroutines, in
// batches of cfg.batch.
func (b *taskgenBench) enqueueBatch(ctx context.Context, queue string, n int) (float64, error) {
	task := signupTask(queue)
	batches := (n + b.cfg.batch - 1) / b.cfg.batch
	start := time.Now()
	err := fanOut(b.cfg.goroutines, batches, func(k int) error {
		items := make([]runtime.BatchItem, 0, b.cfg.batch)
		for i := k * b.cfg.batch; i < min(n, (k+1)*b.cfg.batch); i++ {
			items = append(items, runtime.NewBatchItem(task, newSignup(i)))
		}
		_, err := b.c.EnqueueBatch(ctx, items)
		return err
	})
	return rate(n, time.Since(start)), err
}

// worker returns a worker of queue whose handler calls fn.
func (b *taskgenBench) worker(queue string, fn func(*signup)) (*runtime.Worker, error) {
	w := runtime.NewWorker(b.tr, runtime.WorkerConfig{
		Queues: []string{queue}, Concurrency: b.cfg.concurrency,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	err := runtime.Register(w, signupTask(queue), func(_ context.Context, s *signup) (runtime.None, error) {
		fn(s)
		return runtime.None{}, nil
	})
	return w, err
}

// process enqueues n tasks, then times a worker running them all; profile
// starts when the worker does and returns the function that stops it.
func (b *taskgenBench) process(ctx context.Context, queue string, n int, profile func() func()) (float64, error) {
	if _, err := b.enqueueBatch(ctx, queue, n); err != nil {
		return 0, err
	}
	var done atomic.Int64
	all := make(chan struct{})
	w, err := b.worker(queue, func(*signup) {
		if done.Add(1) == int64(n) {
			close(all)
		}
	})
	if err != nil {
		return 0, err
	}
	stop := profile()
	elapsed, err := runUntil(ctx, w, all)
	stop()
	return rate(n, elapsed), err
}

// latency measures enqueue → handler start on an idle queue.
func (b *taskgenBench) latency(ctx context.Context, queue string, samples int) ([]time.Duration, error) {
	got := make(chan time.Duration, 1)
	w, err := b.worker(queue, func(s *signup) { got <- time.Since(time.Unix(0, s.SentAt)) })
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	defer func() { cancel(); <-done }()
	task := signupTask(queue)
	return sample(ctx, samples, got, func() error {
		s := newSignup(1)
		s.SentAt = time.Now().UnixNano()
		_, err := runtime.Enqueue(ctx, b.c, task, s)
		return err
	})
}

// runUntil runs w until all is closed and returns how long that took.
func runUntil(ctx context.Context, w *runtime.Worker, all <-chan struct{}) (time.Duration, error) {
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- w.Run(wctx) }()
	select {
	case <-all:
	case err := <-done:
		cancel()
		return 0, fmt.Errorf("worker stopped early: %v", err)
	case <-ctx.Done():
		cancel()
		<-done
		return 0, ctx.Err()
	}
	elapsed := time.Since(start)
	cancel()
	return elapsed, <-done
}

// fanOut calls fn(i) for i in [0, n) from g goroutines and returns the
// first error.
func fanOut(g, n int, fn func(i int) error) error {
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	for range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					errOnce.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

func rate(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }
