// Command amqp measures taskgen's RabbitMQ transport against the ceiling
// of hand-written amqp091-go code, on the same broker, in the same run,
// with the same queue type and the same 60-byte payload, and prints the
// results as ratios:
//
//  1. enqueue from 8 goroutines with publisher confirms: taskgen's
//     Client.Enqueue against a raw publisher sharing one channel with a
//     window of 256 unconfirmed messages;
//  2. consuming and running no-op tasks: a taskgen Worker against a raw
//     consumer with prefetch 256 and multiple acks;
//  3. idle latency, from the start of an enqueue to the start of its
//     handler (raw: to the consumer's receipt), p50 and p99.
//
// Run it from the bench module:
//
//	go run ./amqp -amqp amqp://guest:guest@127.0.0.1:5672/
//
// Every run declares queues under a prefix of its own and deletes them at
// the end. -cpuprofile writes a CPU profile of the whole run (both
// contenders; taskgen's functions are named so); -only picks parts.
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/taskgen/taskgen/transport/amqp"
)

type config struct {
	url         string
	queueType   amqp.QueueType
	n           int
	goroutines  int
	window      int
	prefetch    int
	concurrency int
	rounds      int
	samples     int
	cpuProfile  string
	only        string
	verbose     bool
	prefix      string // this run's queues start with it
}

func (c *config) runs(part string) bool {
	return c.only == "" || slices.Contains(strings.Split(c.only, ","), part)
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("bench amqp: ")
	cfg := &config{}
	def := os.Getenv("TASKGEN_AMQP_URL")
	if def == "" {
		def = "amqp://guest:guest@127.0.0.1:5672/"
	}
	var qt string
	flag.StringVar(&cfg.url, "amqp", def, "RabbitMQ URL (both contenders use it)")
	flag.StringVar(&qt, "queue-type", string(amqp.DefaultQueueType), "queue type for both contenders: quorum or classic")
	flag.IntVar(&cfg.n, "n", 20000, "messages per throughput round")
	flag.IntVar(&cfg.goroutines, "goroutines", 8, "enqueueing goroutines")
	flag.IntVar(&cfg.window, "window", 256, "confirm window of the raw publisher and of taskgen's channels")
	flag.IntVar(&cfg.prefetch, "prefetch", 256, "prefetch of the raw consumer and of taskgen's consumers")
	flag.IntVar(&cfg.concurrency, "concurrency", 64, "taskgen worker concurrency")
	flag.IntVar(&cfg.rounds, "rounds", 5, "rounds of each throughput measurement; the median is reported")
	flag.IntVar(&cfg.samples, "samples", 300, "idle latency samples")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of this process to this file")
	flag.StringVar(&cfg.only, "only", "", "comma-separated parts to run: enqueue, process, latency")
	flag.BoolVar(&cfg.verbose, "v", false, "print each round's result and this process's CPU time per message")
	flag.Parse()
	cfg.queueType = amqp.QueueType(qt)
	verbose = cfg.verbose
	cfg.prefix = "tgbench." + strings.ToLower(rand.Text()[:8]) + "."

	ctx := context.Background()
	if err := run(ctx, cfg); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, cfg *config) error {
	raw, err := newRawBench(cfg)
	if err != nil {
		return err
	}
	defer raw.close()
	tg, err := newTaskgenBench(ctx, cfg)
	if err != nil {
		return err
	}
	defer tg.close()

	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	fmt.Printf("RabbitMQ %s, %s queues, %d-byte payload, %d messages per round, median of %d rounds\n\n",
		raw.serverVersion(), cfg.queueType, len(payload), cfg.n, cfg.rounds)
	var rows []row
	if cfg.runs("enqueue") {
		// Windowed: many confirms outstanding per goroutine, taskgen
		// through EnqueueAsync.
		r, ta, err := alternate(cfg.rounds, cfg.n,
			func() (float64, error) { return raw.enqueue(cfg.n) },
			func() (float64, error) { return tg.enqueueAsync(ctx, cfg.n) })
		if err != nil {
			return err
		}
		rows = append(rows, rateRow(fmt.Sprintf("enqueue, %d goroutines, windowed confirms (EnqueueAsync)", cfg.goroutines), ta, r, 0.7))
		// Enqueue returns once its own confirm came, so a goroutine has
		// one in flight: against the windowed publisher, and against the
		// raw publisher awaiting each confirm too, the floor that
		// contract sets.
		rs, t, err := alternate(cfg.rounds, cfg.n,
			func() (float64, error) { return raw.enqueueEach(cfg.n) },
			func() (float64, error) { return tg.enqueue(ctx, cfg.n) })
		if err != nil {
			return err
		}
		rows = append(rows, rateRow(fmt.Sprintf("enqueue, %d goroutines, Enqueue awaiting each confirm", cfg.goroutines), t, r, 0))
		rows = append(rows, rateRow("  same, vs raw awaiting each confirm", t, rs, 0))
		_, tb, err := alternate(cfg.rounds, cfg.n, nil, func() (float64, error) { return tg.enqueueBatch(ctx, cfg.n) })
		if err != nil {
			return err
		}
		rows = append(rows, rateRow(fmt.Sprintf("enqueue in batches of 32, %d goroutines", cfg.goroutines), tb, r, 0))
	}
	if cfg.runs("process") {
		r, t, err := alternate(cfg.rounds, cfg.n,
			func() (float64, error) { return raw.process(cfg.n) },
			func() (float64, error) { return tg.process(ctx, cfg.n) })
		if err != nil {
			return err
		}
		rows = append(rows, rateRow(fmt.Sprintf("process no-op tasks (worker concurrency %d)", cfg.concurrency), t, r, 0.7))
	}
	if cfg.runs("latency") {
		rl, err := raw.latency(cfg.samples)
		if err != nil {
			return err
		}
		tl, err := tg.latency(ctx, cfg.samples)
		if err != nil {
			return err
		}
		rows = append(rows,
			latencyRow("idle latency p50", percentile(tl, 50), percentile(rl, 50), 2*time.Millisecond),
			latencyRow("idle latency p99", percentile(tl, 99), percentile(rl, 99), 0))
	}
	printTable(rows)
	return nil
}

// alternate runs the raw and the taskgen measurement rounds times each,
// interleaved so that both see the same broker state, and returns their
// medians. A nil function is skipped.
func alternate(rounds, n int, raw, tg func() (float64, error)) (float64, float64, error) {
	var rs, ts []float64
	for range rounds {
		for _, m := range []struct {
			name string
			fn   func() (float64, error)
			out  *[]float64
		}{{"raw", raw, &rs}, {"taskgen", tg, &ts}} {
			if m.fn == nil {
				continue
			}
			cpu := cpuTime()
			broker, _ := brokerCPU()
			setup := " (setup included)"
			measureFrom = func() {
				cpu = cpuTime()
				broker, _ = brokerCPU()
				setup = ""
			}
			v, err := m.fn()
			if err != nil {
				return 0, 0, err
			}
			if verbose {
				us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / float64(n) }
				line := fmt.Sprintf("  %-7s %s, this process %.1f µs CPU per message", m.name, perSecond(v), us(cpuTime()-cpu))
				if after, ok := brokerCPU(); ok {
					line += fmt.Sprintf(", the local broker %.1f µs", us(after-broker))
				}
				fmt.Println(line + setup)
			}
			*m.out = append(*m.out, v)
		}
	}
	return median(rs), median(ts), nil
}

// measureFrom is called by a round once its setup is done (filling the
// queue of a processing round), so that -v reports the CPU time of the
// measured part alone.
var measureFrom = func() {}

// verbose prints each round.
var verbose bool

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	slices.Sort(vs)
	return vs[len(vs)/2]
}

func percentile(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)]
}
