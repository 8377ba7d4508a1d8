// Command worker is the worker process of the fault-injection suite
// (package chaos). It serves chaos.WorkTask and chaos.PanicTask on Redis or
// RabbitMQ until SIGTERM or SIGINT, and records each completed run, each
// ack and each stale ack refused in the checker's Redis.
//
//	worker -transport redis -url redis://127.0.0.1:6379/0?prefix=p -checker redis://127.0.0.1:6379/0 -checker-prefix p
//	worker -transport amqp -url amqp://... -prefix p. -checker ... -checker-prefix p
//
// It prints lines to stdout, which the tests read:
//
//	ready
//	start <n>                         with -verbose, at each run's start
//	stats <heap-inuse> <rss> <goroutines>
//	exit <finished> <running>         after Run returned
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/signal"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/taskgen/taskgen/internal/chaos"
	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/amqp"
	"github.com/taskgen/taskgen/transport/redis"
)

var (
	out     sync.Mutex
	stdout  = bufio.NewWriter(os.Stdout)
	verbose bool
)

// say prints a line for the test, at once.
func say(format string, args ...any) {
	out.Lock()
	defer out.Unlock()
	fmt.Fprintf(stdout, format+"\n", args...)
	stdout.Flush()
}

func main() {
	log.SetFlags(log.Lmicroseconds)
	log.SetPrefix(fmt.Sprintf("chaos worker %d: ", os.Getpid()))
	kind := flag.String("transport", "redis", "redis or amqp")
	url := flag.String("url", "", "broker URL; for Redis with its ?prefix=")
	prefix := flag.String("prefix", "", "AMQP Config.Prefix")
	queueType := flag.String("queue-type", "quorum", "AMQP queue type")
	prefetch := flag.Int("prefetch", 0, "AMQP Config.Prefetch")
	deliveryLimit := flag.Int("delivery-limit", 0, "AMQP Config.DeliveryLimit")
	heartbeat := flag.Duration("heartbeat", time.Second, "AMQP heartbeat")
	checkerURL := flag.String("checker", "", "Redis URL of the checker's records")
	checkerPrefix := flag.String("checker-prefix", "", "key prefix of the checker's records")
	concurrency := flag.Int("concurrency", 4, "handlers at once")
	lease := flag.Duration("lease", 2*time.Second, "lease of fetched tasks")
	drain := flag.Duration("drain", 10*time.Second, "drain timeout")
	stats := flag.Duration("stats", 0, "print a stats line this often; 0: at ready and exit only")
	flag.BoolVar(&verbose, "verbose", false, "print a line at each run's start")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	opt, err := goredis.ParseURL(*checkerURL)
	if err != nil {
		log.Fatalf("-checker: %v", err)
	}
	rdb := goredis.NewClient(opt)
	defer rdb.Close()
	rec := chaos.NewRecorder(rdb, *checkerPrefix, os.Getpid())
	obs := &observer{rec: rec}

	var tr runtime.Transport
	var store runtime.Store
	switch *kind {
	case "redis":
		rt, err := redis.Open(ctx, *url)
		if err != nil {
			log.Fatal(err)
		}
		t := &redisTransport{Transport: rt, obs: obs}
		tr, store = t, t
	case "amqp":
		at, err := amqp.New(ctx, amqp.Config{
			URL: *url, Prefix: *prefix, QueueType: amqp.QueueType(*queueType),
			Prefetch: *prefetch, DeliveryLimit: *deliveryLimit, Heartbeat: *heartbeat, DialTimeout: 2 * time.Second,
			Logger: logger,
		})
		if err != nil {
			log.Fatal(err)
		}
		tr = &amqpTransport{Transport: at, obs: obs}
	default:
		log.Fatalf("-transport %q: want redis or amqp", *kind)
	}
	defer tr.Close()

	w := runtime.NewWorker(tr, runtime.WorkerConfig{
		Queues: []string{chaos.Queue}, Concurrency: *concurrency, Lease: *lease,
		DrainTimeout: *drain, Store: store, Logger: logger,
	})
	var running, finished atomic.Int64
	err = runtime.Register(w, chaos.WorkTask, func(ctx context.Context, a *chaos.Args) (runtime.None, error) {
		running.Add(1)
		defer running.Add(-1)
		bg := context.WithoutCancel(ctx)
		if verbose {
			say("start %d", a.N)
		}
		if a.ETA != 0 {
			if err := rec.Started(bg, a.N, time.Unix(0, a.ETA), time.Now()); err != nil {
				return runtime.None{}, err
			}
		}
		if a.Work > 0 {
			t := time.NewTimer(a.Work)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				return runtime.None{}, ctx.Err()
			}
		}
		if err := rec.Done(bg, a.N); err != nil {
			return runtime.None{}, err
		}
		finished.Add(1)
		return runtime.None{}, nil
	})
	if err != nil {
		log.Fatal(err)
	}
	err = runtime.Register(w, chaos.PanicTask, func(ctx context.Context, a *chaos.Args) (runtime.None, error) {
		if err := rec.Panicked(context.WithoutCancel(ctx)); err != nil {
			return runtime.None{}, err
		}
		panic(fmt.Sprintf("chaos: task %d panics on every run", a.N))
	})
	if err != nil {
		log.Fatal(err)
	}

	printStats()
	if *stats > 0 {
		go func() {
			t := time.NewTicker(*stats)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					printStats()
				}
			}
		}()
	}
	say("ready")
	err = w.Run(ctx)
	printStats()
	say("exit %d %d", finished.Load(), running.Load())
	if err != nil {
		log.Fatal(err)
	}
}

// printStats prints the heap in use, the resident set and the goroutines.
func printStats() {
	var m goruntime.MemStats
	goruntime.ReadMemStats(&m)
	say("stats %d %d %d", m.HeapInuse, rss(), goruntime.NumGoroutine())
}

// rss reads the process's resident set size, in bytes, from /proc.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// observer records the outcome of each ack.
type observer struct{ rec *chaos.Recorder }

func (o *observer) ack(d *runtime.Delivery, err error) {
	n := chaos.ParseID(d.ID)
	if n < 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rerr error
	switch {
	case err == nil:
		rerr = o.rec.Acked(ctx, n)
	case errors.Is(err, runtime.ErrLeaseLost):
		log.Printf("ack of task %s refused: %v", d.ID, err)
		rerr = o.rec.Refused(ctx, n)
	}
	if rerr != nil {
		log.Printf("recording the ack of task %s: %v", d.ID, rerr)
	}
}

// redisTransport is the Redis transport, observed: it is also the
// worker's store, so the worker settles tasks with AckRecord.
type redisTransport struct {
	*redis.Transport
	obs *observer
}

func (t *redisTransport) Ack(ctx context.Context, d *runtime.Delivery) error {
	err := t.Transport.Ack(ctx, d)
	t.obs.ack(d, err)
	return err
}

func (t *redisTransport) AckRecord(ctx context.Context, d *runtime.Delivery, r *runtime.Record, ttl time.Duration) error {
	err := t.Transport.AckRecord(ctx, d, r, ttl)
	t.obs.ack(d, err)
	return err
}

// amqpTransport is the AMQP transport, observed.
type amqpTransport struct {
	*amqp.Transport
	obs *observer
}

func (t *amqpTransport) Ack(ctx context.Context, d *runtime.Delivery) error {
	err := t.Transport.Ack(ctx, d)
	t.obs.ack(d, err)
	return err
}
