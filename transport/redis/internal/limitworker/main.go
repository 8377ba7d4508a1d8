// Command limitworker runs a worker of the limited test tasks (package
// limittask) on the Redis transport until SIGTERM or SIGINT. The
// process-level limit tests start several at once, and kill some.
//
//	limitworker -url redis://127.0.0.1:6379/0?prefix=... [-hang] [-lease 1s] [-concurrency 8]
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
	"github.com/taskgen/taskgen/transport/redis/internal/limittask"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("limitworker: ")
	url := flag.String("url", "", "Redis URL, with the test's prefix")
	hang := flag.Bool("hang", false, "hang in every Held handler, as a worker stuck mid-task")
	lease := flag.Duration("lease", time.Second, "lease of fetched tasks and concurrency slots")
	concurrency := flag.Int("concurrency", 8, "handlers at once")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	tr, err := redis.Open(ctx, *url)
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Close()
	w := runtime.NewWorker(tr, runtime.WorkerConfig{
		Queues: []string{limittask.Queue}, Concurrency: *concurrency, Lease: *lease,
		DrainTimeout: 5 * time.Second,
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err := limittask.Register(w, tr, *hang); err != nil {
		log.Fatal(err)
	}
	// The test waits for this line before it counts on the worker.
	os.Stdout.WriteString("ready\n")
	if err := w.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
