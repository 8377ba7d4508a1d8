// Command bench measures taskgen's Redis transport against asynq on the
// same Redis, in the same run, with the same payload and concurrency, and
// prints the results as ratios. It also runs redis-benchmark against the
// server, for the ceiling of a single round trip per command.
//
//	go run . -redis redis://127.0.0.1:6379/0
//
// Every run uses a key prefix and asynq queue names of its own, and
// deletes them at the end.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	goredis "github.com/redis/go-redis/v9"
)

type config struct {
	redisURL       string
	n              int
	goroutines     int
	concurrency    int
	batch          int
	samples        int
	asynqSamples   int
	jitter         time.Duration
	cpuProfile     string
	redisBenchmark string
	only           string
	rounds         int
	chordN         int
	verbose        bool
	meter          *cpuMeter // with -v
	id             string    // this run's suffix for prefixes and queue names
}

// runs reports whether part is to run.
func (c *config) runs(part string) bool {
	return c.only == "" || slices.Contains(strings.Split(c.only, ","), part)
}

func (c *config) prefix() string { return "taskgen-bench-" + c.id }

func (c *config) queue(name string) string { return "taskgen-bench-" + c.id + "-" + name }

// taskgenURL is the Redis URL with this run's key prefix.
func (c *config) taskgenURL() string {
	u, _ := url.Parse(c.redisURL)
	q := u.Query()
	q.Set("prefix", c.prefix())
	u.RawQuery = q.Encode()
	return u.String()
}

func (c *config) asynqOpt() asynq.RedisClientOpt {
	u, _ := url.Parse(c.redisURL)
	db, _ := strconv.Atoi(strings.Trim(u.Path, "/"))
	pw, _ := u.User.Password()
	return asynq.RedisClientOpt{Addr: u.Host, DB: db, Password: pw, Username: u.User.Username(), PoolSize: 64}
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("bench: ")
	cfg := &config{}
	def := os.Getenv("TASKGEN_REDIS_URL")
	if def == "" {
		def = "redis://127.0.0.1:6379/0"
	}
	flag.StringVar(&cfg.redisURL, "redis", def, "Redis URL (one server; both contenders use it)")
	flag.IntVar(&cfg.n, "n", 20000, "tasks per throughput run")
	flag.IntVar(&cfg.goroutines, "goroutines", 8, "enqueueing goroutines")
	flag.IntVar(&cfg.concurrency, "concurrency", 50, "handlers running at once")
	flag.IntVar(&cfg.batch, "batch", 500, "tasks per EnqueueBatch call")
	flag.IntVar(&cfg.samples, "samples", 300, "idle-latency samples for taskgen")
	flag.IntVar(&cfg.asynqSamples, "asynq-samples", 30, "idle-latency samples for asynq (each can take a second)")
	flag.DurationVar(&cfg.jitter, "jitter", 20*time.Millisecond, "random pause before each latency sample, so samples do not line up with a poll")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write CPU profiles of taskgen's first round of each run to this file name, suffixed with the run's name (.enqueue, .batch, .process)")
	flag.StringVar(&cfg.redisBenchmark, "redis-benchmark", "redis-benchmark", "redis-benchmark binary; empty skips the ceiling")
	flag.IntVar(&cfg.rounds, "rounds", 5, "rounds of each throughput run, taskgen and asynq alternating; the median is reported")
	flag.StringVar(&cfg.only, "only", "", "run only these parts, comma-separated: enqueue, batch, process, latency, ceiling, chord")
	flag.BoolVar(&cfg.verbose, "v", false, "print where each run's CPU time went: the Redis server's and this process's, per task")
	flag.IntVar(&cfg.chordN, "chord-n", 10000, "header tasks of the chord run, and plain tasks it is compared with")
	flag.Parse()
	cfg.id = strings.ToLower(rand.Text()[:10])
	if err := run(context.Background(), cfg); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, cfg *config) (err error) {
	tg, err := newTaskgenBench(ctx, cfg)
	if err != nil {
		return err
	}
	defer tg.close()
	aq := newAsynqBench(cfg)
	defer aq.close()
	if cfg.verbose {
		if cfg.meter, err = newCPUMeter(cfg); err != nil {
			return err
		}
		defer cfg.meter.close()
	}
	queues := []string{cfg.queue("enqueue"), cfg.queue("batch"), cfg.queue("process"), cfg.queue("latency"), cfg.queue("chord")}
	defer func() {
		err = errors.Join(err, aq.cleanup(context.Background(), queues), deletePrefix(cfg))
	}()

	fmt.Printf("taskgen vs asynq on %s: %d tasks per run, median of %d runs; payload %d bytes of JSON; %d enqueuing goroutines; concurrency %d\n\n",
		redacted(cfg.redisURL), cfg.n, cfg.rounds, len(payload(0)), cfg.goroutines, cfg.concurrency)
	var rows []row

	// 1. Single-call enqueue, and 2. batch enqueue against asynq's single
	// call; in each round the three runs follow one another, so that
	// noise from the machine hits them alike.
	if cfg.runs("enqueue") || cfg.runs("batch") {
		var aRates, tRates, bRates []float64
		for round := range max(cfg.rounds, 1) {
			a, err := measure(ctx, cfg, "asynq enqueue", round, func() (float64, error) { return aq.enqueue(ctx, queues[0], cfg.n) })
			if err != nil {
				return fmt.Errorf("asynq enqueue: %w", err)
			}
			aRates = append(aRates, a)
			if cfg.runs("enqueue") {
				t, err := measure(ctx, cfg, "taskgen enqueue", round, func() (float64, error) { return tg.enqueue(ctx, queues[0], cfg.n) })
				if err != nil {
					return fmt.Errorf("taskgen enqueue: %w", err)
				}
				tRates = append(tRates, t)
			}
			if cfg.runs("batch") {
				b, err := measure(ctx, cfg, "taskgen batch", round, func() (float64, error) { return tg.enqueueBatch(ctx, queues[1], cfg.n) })
				if err != nil {
					return fmt.Errorf("taskgen batch enqueue: %w", err)
				}
				bRates = append(bRates, b)
			}
		}
		if cfg.runs("enqueue") {
			rows = append(rows, rateRow(fmt.Sprintf("enqueue, single call, %d goroutines", cfg.goroutines), middle(tRates), middle(aRates), 1.2))
		}
		if cfg.runs("batch") {
			rows = append(rows, rateRow(fmt.Sprintf("enqueue, EnqueueBatch of %d vs asynq single call", cfg.batch), middle(bRates), middle(aRates), 10))
		}
	}

	// 3. Processing no-op tasks, the contenders alternating.
	if cfg.runs("process") {
		var tRates, aRates []float64
		for round := range max(cfg.rounds, 1) {
			t, err := tg.process(ctx, queues[2], cfg.n, cfg.begin(ctx, "taskgen process", round))
			if err != nil {
				return fmt.Errorf("taskgen processing: %w", err)
			}
			a, err := aq.process(ctx, queues[2], cfg.n, cfg.begin(ctx, "asynq process", round))
			if err != nil {
				return fmt.Errorf("asynq processing: %w", err)
			}
			tRates, aRates = append(tRates, t), append(aRates, a)
		}
		rows = append(rows, rateRow(fmt.Sprintf("processing no-op tasks, concurrency %d", cfg.concurrency), middle(tRates), middle(aRates), 5))
	}

	// 4. Idle latency.
	if cfg.runs("latency") {
		tLat, err := tg.latency(ctx, queues[3], cfg.samples)
		if err != nil {
			return fmt.Errorf("taskgen latency: %w", err)
		}
		aLat, err := aq.latency(ctx, queues[3], cfg.asynqSamples)
		if err != nil {
			return fmt.Errorf("asynq latency: %w", err)
		}
		rows = append(rows,
			latencyRow("idle latency, enqueue → handler start, p50", percentile(tLat, 50), percentile(aLat, 50), "≤ 2 ms"),
			latencyRow("idle latency, enqueue → handler start, p99", percentile(tLat, 99), percentile(aLat, 99), ""),
		)
		defer fmt.Printf("\n(latency samples: taskgen %d, asynq %d)\n", len(tLat), len(aLat))
	}
	if len(rows) > 0 {
		printTable(rows)
	}

	// 5. A chord against as many plain tasks.
	if cfg.runs("chord") {
		if err := chordRun(ctx, cfg, tg, queues[4]); err != nil {
			return err
		}
	}

	// 6. The ceiling.
	if cfg.redisBenchmark != "" && cfg.runs("ceiling") {
		fmt.Println()
		if err := ceiling(ctx, cfg); err != nil {
			return err
		}
	}
	return nil
}

// measure runs fn, one run of name's round, within begin and its end.
func measure(ctx context.Context, cfg *config, name string, round int, fn func() (float64, error)) (float64, error) {
	end := cfg.begin(ctx, name, round)()
	r, err := fn()
	end()
	return r, err
}

// begin returns the function a run calls as it starts, which returns the
// one it calls as it ends. Together they write a CPU profile of taskgen's
// first round of each run when -cpuprofile asks for one, and with -v they
// print where the run's CPU time went.
func (cfg *config) begin(ctx context.Context, name string, round int) func() func() {
	return func() func() {
		var stopProfile func()
		if cfg.cpuProfile != "" && round == 0 && strings.HasPrefix(name, "taskgen ") {
			f, err := os.Create(cfg.cpuProfile + "." + strings.TrimPrefix(name, "taskgen "))
			if err != nil {
				log.Fatal(err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				log.Fatal(err)
			}
			stopProfile = func() { pprof.StopCPUProfile(); f.Close() }
		}
		var before cpuSample
		if cfg.meter != nil {
			before = cfg.meter.sample(ctx)
		}
		return func() {
			if stopProfile != nil {
				stopProfile()
			}
			if cfg.meter != nil {
				fmt.Printf("%s, round %d: %s\n", name, round+1, per(before, cfg.meter.sample(ctx), cfg.n))
			}
		}
	}
}

// sample sends samples tasks one at a time, each after a random pause,
// and collects the latency its handler reports.
func sample(ctx context.Context, samples int, got <-chan time.Duration, send func() error) ([]time.Duration, error) {
	out := make([]time.Duration, 0, samples)
	for range samples {
		time.Sleep(time.Duration(mrand.Int64N(int64(20 * time.Millisecond))))
		if err := send(); err != nil {
			return out, err
		}
		select {
		case d := <-got:
			out = append(out, d)
		case <-time.After(30 * time.Second):
			return out, errors.New("a task did not start within 30s")
		case <-ctx.Done():
			return out, ctx.Err()
		}
	}
	return out, nil
}

func middle(rs []float64) float64 {
	s := slices.Clone(rs)
	slices.Sort(s)
	return s[len(s)/2]
}

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)]
}

// deletePrefix deletes every key under this run's taskgen prefix.
func deletePrefix(cfg *config) error { return deleteMatching(cfg, cfg.prefix()+":*") }

// deleteMatching deletes every key that matches pattern.
func deleteMatching(cfg *config, pattern string) error {
	opt, err := goredis.ParseURL(cfg.redisURL)
	if err != nil {
		return err
	}
	c := goredis.NewClient(opt)
	defer c.Close()
	ctx := context.Background()
	iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == 1000 {
			if err := c.Unlink(ctx, keys...).Err(); err != nil {
				return err
			}
			keys = keys[:0]
		}
	}
	if len(keys) > 0 {
		if err := c.Unlink(ctx, keys...).Err(); err != nil {
			return err
		}
	}
	return iter.Err()
}

func redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Redacted()
}
