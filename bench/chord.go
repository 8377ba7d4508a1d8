package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/taskgen/taskgen/bench/internal/report"
	"github.com/taskgen/taskgen/runtime"
)

// The chord run: a chord of n no-op header tasks and a body that adds
// their results, against n plain tasks of the same no-op task, on the
// same Redis, the runs alternating. Each is timed from the first enqueue
// (Submit, or the first EnqueueBatch) to the last handler's end (the
// body's, or the n-th task's), with the worker already running.

// partTask is the no-op task: the header members and the plain tasks.
func partTask(queue string) *runtime.Task[int] {
	return &runtime.Task[int]{
		Def:           runtime.TaskDef{Name: "bench.Part", Queue: queue, Priority: runtime.DefaultPriority, Fingerprint: "bench-part-v1"},
		MarshalResult: func(v int) ([]byte, error) { return strconv.AppendInt(nil, int64(v), 10), nil },
		UnmarshalResult: func(b []byte) (int, error) {
			v, err := strconv.Atoi(string(b))
			return v, err
		},
	}
}

// sumArgs is the body's payload: the header's results.
type sumArgs struct {
	Xs []int `json:"xs"`
}

func (a *sumArgs) MarshalTask() ([]byte, error)    { return json.Marshal(a) }
func (a *sumArgs) UnmarshalTask(data []byte) error { return json.Unmarshal(data, a) }

func sumTask(queue string) *runtime.Task[int] {
	t := partTask(queue)
	t.Def.Name, t.Def.Fingerprint = "bench.Sum", "bench-sum-v1"
	return t
}

// chordWorker returns a worker of queue running the part and sum tasks;
// parts counts the part handlers' runs.
func (b *taskgenBench) chordWorker(queue string, parts *atomic.Int64) (*runtime.Worker, error) {
	w := runtime.NewWorker(b.tr, runtime.WorkerConfig{
		Queues: []string{queue}, Concurrency: b.cfg.concurrency,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err := runtime.Register(w, partTask(queue), func(_ context.Context, _ *signup) (int, error) {
		parts.Add(1)
		return 1, nil
	}); err != nil {
		return nil, err
	}
	err := runtime.Register(w, sumTask(queue), func(_ context.Context, a *sumArgs) (int, error) {
		total := 0
		for _, x := range a.Xs {
			total += x
		}
		return total, nil
	})
	return w, err
}

// withWorker runs fn with a chord worker of queue running.
func (b *taskgenBench) withWorker(ctx context.Context, queue string, fn func(parts *atomic.Int64) error) error {
	var parts atomic.Int64
	w, err := b.chordWorker(queue, &parts)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	ferr := fn(&parts)
	cancel()
	if err := <-done; ferr == nil {
		ferr = err
	}
	return ferr
}

// chord times a chord of n header tasks and its body.
func (b *taskgenBench) chord(ctx context.Context, queue string, n int) (time.Duration, error) {
	var elapsed time.Duration
	err := b.withWorker(ctx, queue, func(parts *atomic.Int64) error {
		header := make([]runtime.Sig[int], n)
		for i := range header {
			header[i] = runtime.NewSig(partTask(queue), newSignup(i))
		}
		body := runtime.NewStep(sumTask(queue), "xs", &sumArgs{}, func(xs []int) ([]byte, error) { return json.Marshal(xs) })
		start := time.Now()
		h, err := runtime.Submit(ctx, b.c, runtime.Chord(header, body))
		if err != nil {
			return err
		}
		gctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		got, err := h.Get(gctx)
		elapsed = time.Since(start)
		if err != nil {
			return err
		}
		if got != n || parts.Load() < int64(n) {
			return fmt.Errorf("chord of %d: body result %d after %d header runs", n, got, parts.Load())
		}
		return nil
	})
	return elapsed, err
}

// plain times n plain tasks, enqueued in batches of cfg.batch.
func (b *taskgenBench) plain(ctx context.Context, queue string, n int) (time.Duration, error) {
	var elapsed time.Duration
	err := b.withWorker(ctx, queue, func(parts *atomic.Int64) error {
		task := partTask(queue)
		start := time.Now()
		for k := 0; k < n; k += b.cfg.batch {
			items := make([]runtime.BatchItem, 0, b.cfg.batch)
			for i := k; i < min(n, k+b.cfg.batch); i++ {
				items = append(items, runtime.NewBatchItem(task, newSignup(i)))
			}
			if _, err := b.c.EnqueueBatch(ctx, items); err != nil {
				return err
			}
		}
		deadline := time.Now().Add(5 * time.Minute)
		for parts.Load() < int64(n) {
			if time.Now().After(deadline) {
				return fmt.Errorf("%d plain tasks: %d ran in 5 minutes", n, parts.Load())
			}
			time.Sleep(time.Millisecond)
		}
		elapsed = time.Since(start)
		return nil
	})
	return elapsed, err
}

// chordRun runs the chord and the plain tasks cfg.rounds times each,
// alternating, and prints the medians and their ratio.
func chordRun(ctx context.Context, cfg *config, tg *taskgenBench, queue string) error {
	var chords, plains []float64
	for range max(cfg.rounds, 1) {
		c, err := tg.chord(ctx, queue, cfg.chordN)
		if err != nil {
			return fmt.Errorf("chord: %w", err)
		}
		p, err := tg.plain(ctx, queue, cfg.chordN)
		if err != nil {
			return fmt.Errorf("plain tasks: %w", err)
		}
		chords, plains = append(chords, c.Seconds()), append(plains, p.Seconds())
	}
	c, p := middle(chords), middle(plains)
	r := c / p
	fmt.Printf("\nchord of %s no-op header tasks + body vs %s plain tasks, concurrency %d, median of %d runs:\n\n",
		thousands(int64(cfg.chordN)), thousands(int64(cfg.chordN)), cfg.concurrency, len(chords))
	report.Table(os.Stdout, []string{"benchmark", "chord", "plain tasks", "ratio", "goal"}, [][]string{{
		"wall time, enqueue → last handler", fmt.Sprintf("%.2f s", c), fmt.Sprintf("%.2f s", p),
		fmt.Sprintf("%.2f×", r), "≤ 2× " + report.Mark(r <= 2),
	}})
	return nil
}
