package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
)

const asynqType = "bench:signup"

// asynqBench runs the asynq side on the same Redis.
type asynqBench struct {
	cfg *config
	opt asynq.RedisClientOpt
	c   *asynq.Client
}

func newAsynqBench(cfg *config) *asynqBench {
	opt := cfg.asynqOpt()
	return &asynqBench{cfg: cfg, opt: opt, c: asynq.NewClient(opt)}
}

func (b *asynqBench) close() { b.c.Close() }

// enqueue publishes n tasks from cfg.goroutines goroutines with
// Client.Enqueue, asynq's only way to enqueue.
func (b *asynqBench) enqueue(ctx context.Context, queue string, n int) (float64, error) {
	start := time.Now()
	err := fanOut(b.cfg.goroutines, n, func(i int) error {
		_, err := b.c.EnqueueContext(ctx, asynq.NewTask(asynqType, payload(i)), asynq.Queue(queue))
		return err
	})
	return rate(n, time.Since(start)), err
}

func (b *asynqBench) server(queue string) *asynq.Server {
	return asynq.NewServer(b.opt, asynq.Config{
		Concurrency: b.cfg.concurrency,
		Queues:      map[string]int{queue: 1},
		LogLevel:    asynq.FatalLevel,
	})
}

// process enqueues n tasks, then times a server running them all; begin
// is called as the server starts and returns the function called when it
// is done.
func (b *asynqBench) process(ctx context.Context, queue string, n int, begin func() func()) (float64, error) {
	if _, err := b.enqueue(ctx, queue, n); err != nil {
		return 0, err
	}
	var done atomic.Int64
	all := make(chan struct{})
	srv := b.server(queue)
	end := begin()
	start := time.Now()
	err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		if done.Add(1) == int64(n) {
			close(all)
		}
		return nil
	}))
	if err != nil {
		end()
		return 0, err
	}
	defer srv.Shutdown()
	select {
	case <-all:
	case <-ctx.Done():
		end()
		return 0, ctx.Err()
	}
	elapsed := time.Since(start)
	end()
	return rate(n, elapsed), nil
}

// latency measures enqueue → handler start on an idle queue.
func (b *asynqBench) latency(ctx context.Context, queue string, samples int) ([]time.Duration, error) {
	got := make(chan time.Duration, 1)
	srv := b.server(queue)
	err := srv.Start(asynq.HandlerFunc(func(_ context.Context, t *asynq.Task) error {
		got <- time.Since(time.Unix(0, sentAt(t.Payload())))
		return nil
	}))
	if err != nil {
		return nil, err
	}
	defer srv.Shutdown()
	return sample(ctx, samples, got, func() error {
		_, err := b.c.EnqueueContext(ctx, asynq.NewTask(asynqType, stamped()), asynq.Queue(queue))
		return err
	})
}

// cleanup deletes the benchmark's asynq queues, then every key left under
// their names (the servers' counters of processed tasks).
func (b *asynqBench) cleanup(ctx context.Context, queues []string) error {
	in := asynq.NewInspector(b.opt)
	defer in.Close()
	var first error
	for _, q := range queues {
		err := in.DeleteQueue(q, true)
		if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) && first == nil {
			first = fmt.Errorf("asynq: delete queue %s: %w", q, err)
		}
		if err := deleteMatching(b.cfg, "asynq:{"+q+"}*"); err != nil && first == nil {
			first = err
		}
	}
	return first
}
