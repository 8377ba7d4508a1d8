// Command testworker runs a worker of the test task (package testtask) on
// the Redis transport until SIGTERM or SIGINT. The process-level tests
// build it, start it and kill it.
//
//	testworker -url redis://127.0.0.1:6379/0?prefix=... [-hang] [-lease 1s] [-concurrency 4] [-delay 2ms]
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/redis"
	"github.com/taskgen/taskgen/transport/redis/internal/testtask"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("testworker: ")
	url := flag.String("url", "", "Redis URL, with the test's prefix")
	hang := flag.Bool("hang", false, "hang in every handler, as a worker stuck mid-task")
	lease := flag.Duration("lease", time.Second, "lease of fetched tasks")
	concurrency := flag.Int("concurrency", 4, "handlers at once")
	delay := flag.Duration("delay", 2*time.Millisecond, "how long a workflow header task works")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	tr, err := redis.Open(ctx, *url)
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Close()
	w := runtime.NewWorker(tr, runtime.WorkerConfig{
		Queues: []string{testtask.Task.Def.Queue}, Concurrency: *concurrency, Lease: *lease,
		DrainTimeout: 5 * time.Second,
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err := testtask.Register(w, tr, *hang); err != nil {
		log.Fatal(err)
	}
	if err := testtask.RegisterWorkflow(w, tr, *hang, *delay); err != nil {
		log.Fatal(err)
	}
	// The test waits for this line before it counts on the worker.
	os.Stdout.WriteString("ready\n")
	if err := w.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
