package tasks_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/taskgen/taskgen/example/tasks"
	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport"
)

// Global limits: Thumbnail is annotated rate=20/s concurrency=2, and each
// tenant's renders are limited apart with runtime.ConcurrencyKey. Tasks
// over a limit wait for their turn; none fails. The limits live in the
// store, so they hold across every worker on it (here, two), and
// runtime.SetRateLimit changes a rate while the workers run.
func Example_limits() {
	ctx := context.Background()
	tr, err := transport.Open(ctx, "mem://")
	if err != nil {
		panic(err)
	}
	defer tr.Close()

	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 2)
	for range 2 {
		w := runtime.NewWorker(tr, runtime.WorkerConfig{Queues: []string{"images"}, Concurrency: 8, Logger: slog.New(slog.DiscardHandler)})
		if err := tasks.Register(w); err != nil {
			panic(err)
		}
		go func() { done <- w.Run(wctx) }()
	}

	c := runtime.NewClient(tr)
	start := time.Now()
	var hs []*runtime.Handle[string]
	for i := range 6 {
		for _, tenant := range []string{"acme", "globex"} {
			h, err := tasks.EnqueueThumbnail(ctx, c, tenant, fmt.Sprint("img", i), 128, runtime.ConcurrencyKey(tenant))
			if err != nil {
				panic(err)
			}
			hs = append(hs, h)
		}
	}
	for _, h := range hs {
		if _, err := h.Get(ctx); err != nil {
			panic(err)
		}
	}
	// 12 renders at 20/s: at least 11 intervals of 50ms.
	fmt.Println("12 thumbnails; took at least 550ms:", time.Since(start) >= 550*time.Millisecond)
	fmt.Println("at most 2 renders at once per tenant:", tasks.Renders.Peak("acme") <= 2 && tasks.Renders.Peak("globex") <= 2)

	// Raise the rate for every worker on the store; they read it within a
	// second. The zero Rate goes back to the annotation's.
	store := tr.(runtime.Store)
	if err := runtime.SetRateLimit(ctx, store, tasks.ThumbnailTask.Def.Name, runtime.Rate{N: 100, Period: time.Second}); err != nil {
		panic(err)
	}
	r, _ := runtime.RateLimit(ctx, store, tasks.ThumbnailTask.Def.Name)
	fmt.Println("rate now:", r)

	stop()
	fmt.Println(<-done, <-done)
	// Output:
	// 12 thumbnails; took at least 550ms: true
	// at most 2 renders at once per tenant: true
	// rate now: 100/s
	// <nil> <nil>
}
