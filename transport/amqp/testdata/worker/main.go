// Command worker runs a taskgen worker on the AMQP transport for the
// process-level tests of package amqp. Each handler run prints a line to
// stdout:
//
//	start <n> <deliveries>
//	done <n> <deliveries>
//
// With -mode=block a handler never returns, so that the test can kill the
// process mid-task; with -mode=crash it exits the process at once; with
// -mode=run it returns.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/amqp"
)

type jobArgs struct {
	N int `json:"n"`
}

func (a *jobArgs) MarshalTask() ([]byte, error)    { return json.Marshal(a) }
func (a *jobArgs) UnmarshalTask(data []byte) error { return json.Unmarshal(data, a) }

func main() {
	url := flag.String("url", "", "broker URL")
	prefix := flag.String("prefix", "", "Config.Prefix")
	queue := flag.String("queue", "jobs", "queue to serve")
	queueType := flag.String("queue-type", "quorum", "quorum or classic")
	mode := flag.String("mode", "run", "run, block or crash")
	concurrency := flag.Int("concurrency", 4, "handlers at once")
	prefetch := flag.Int("prefetch", 0, "Config.Prefetch")
	limit := flag.Int("delivery-limit", 0, "Config.DeliveryLimit")
	flag.Parse()
	log.SetPrefix("worker: ")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tr, err := amqp.New(ctx, amqp.Config{
		URL: *url, Prefix: *prefix, QueueType: amqp.QueueType(*queueType),
		Prefetch: *prefetch, DeliveryLimit: *limit,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Close()

	task := &runtime.Task[runtime.None]{
		Def: runtime.TaskDef{
			Name: "amqptest.Job", Queue: *queue, Priority: runtime.DefaultPriority,
			BackoffMin: time.Millisecond, BackoffMax: time.Millisecond, Fingerprint: "job-v1",
		},
		MarshalResult: runtime.MarshalNone, UnmarshalResult: runtime.UnmarshalNone,
	}
	var out sync.Mutex
	say := func(format string, args ...any) {
		out.Lock()
		defer out.Unlock()
		fmt.Printf(format+"\n", args...)
	}
	w := runtime.NewWorker(tr, runtime.WorkerConfig{
		Queues: []string{*queue}, Concurrency: *concurrency, Lease: time.Minute, DrainTimeout: time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	err = runtime.Register(w, task, func(ctx context.Context, a *jobArgs) (runtime.None, error) {
		info, _ := runtime.Info(ctx)
		say("start %d %d", a.N, info.Deliveries)
		switch *mode {
		case "block":
			<-ctx.Done()
			return runtime.None{}, ctx.Err()
		case "crash":
			os.Exit(3)
		}
		say("done %d %d", a.N, info.Deliveries)
		return runtime.None{}, nil
	})
	if err != nil {
		log.Fatal(err)
	}
	say("ready")
	if err := w.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
