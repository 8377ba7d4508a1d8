package chaos

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
	goredis "github.com/redis/go-redis/v9"

	"github.com/taskgen/taskgen/internal/testenv"
	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/amqp"
	"github.com/taskgen/taskgen/transport/redis"
)

// harness is one scenario's setup: a transport for the test's client, the
// checker, and the arguments its worker processes share.
type harness struct {
	t       testing.TB
	kind    string // "redis" or "amqp"
	prefix  string
	tr      runtime.Transport
	client  *runtime.Client
	checker *Checker
	args    []string // of every worker process
}

// onEachBroker runs fn as a parallel subtest on Redis and on RabbitMQ,
// each with a harness of its own on the test broker. It skips in -short
// mode: a scenario runs worker processes on real brokers.
func onEachBroker(t *testing.T, fn func(t *testing.T, h *harness)) {
	if testing.Short() {
		t.Skip("runs worker processes on real brokers")
	}
	t.Parallel()
	for _, kind := range []string{"redis", "amqp"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			var h *harness
			if kind == "redis" {
				h = newRedisHarness(t, "", "")
			} else {
				h = newAMQPHarness(t, "", "", amqp.Config{})
			}
			fn(t, h)
		})
	}
}

func uniquePrefix() string { return "taskgen-chaos-" + strings.ToLower(rand.Text()[:10]) }

// checkerClient returns a client of the shared Redis, where the checker's
// records live, and deletes every key under prefix when the test ends.
func checkerClient(t testing.TB, prefix string) (*goredis.Client, string) {
	t.Helper()
	url := testenv.RedisURL(t)
	opt, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(opt)
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+":*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("deleting the keys under %s: %v", prefix, err)
		}
		rdb.Close()
	})
	return rdb, url
}

// newRedisHarness sets up a scenario on the Redis at brokerURL (the
// shared one when empty); the worker processes connect to workerURL when
// given (a proxy), else to brokerURL.
func newRedisHarness(t testing.TB, brokerURL, workerURL string) *harness {
	t.Helper()
	prefix := uniquePrefix()
	rdb, checkerURL := checkerClient(t, prefix)
	if brokerURL == "" {
		brokerURL = checkerURL
	}
	if workerURL == "" {
		workerURL = brokerURL
	}
	withPrefix := func(u string) string {
		if strings.Contains(u, "?") {
			return u + "&prefix=" + prefix
		}
		return u + "?prefix=" + prefix
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr, err := redis.Open(ctx, withPrefix(brokerURL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return &harness{
		t: t, kind: "redis", prefix: prefix, tr: tr, client: runtime.NewClient(tr),
		checker: NewChecker(rdb, prefix),
		args: []string{"-transport", "redis", "-url", withPrefix(workerURL),
			"-checker", checkerURL, "-checker-prefix", prefix},
	}
}

// newAMQPHarness sets up a scenario on the RabbitMQ at brokerURL (the
// shared one when empty), in quorum queues under a prefix of its own;
// the worker processes connect to workerURL when given.
func newAMQPHarness(t testing.TB, brokerURL, workerURL string, cfg amqp.Config) *harness {
	t.Helper()
	prefix := uniquePrefix()
	rdb, checkerURL := checkerClient(t, prefix)
	shared := brokerURL == ""
	if shared {
		brokerURL = testenv.AMQPURL(t)
	}
	if workerURL == "" {
		workerURL = brokerURL
	}
	if cfg.URL == "" {
		cfg.URL = brokerURL
	}
	cfg.Prefix = prefix + "."
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = time.Second
	}
	cfg.DialTimeout = 2 * time.Second
	cfg.Logger = quietLogger(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr, err := amqp.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		tr.Close()
		if shared {
			deleteQueues(t, brokerURL, tr)
		}
	})
	args := []string{"-transport", "amqp", "-url", workerURL, "-prefix", cfg.Prefix,
		"-checker", checkerURL, "-checker-prefix", prefix}
	if cfg.QueueType != "" {
		args = append(args, "-queue-type", string(cfg.QueueType))
	}
	return &harness{
		t: t, kind: "amqp", prefix: prefix, tr: tr, client: runtime.NewClient(tr),
		checker: NewChecker(rdb, prefix), args: args,
	}
}

// deleteQueues deletes the queues and exchanges of the suite's queue.
func deleteQueues(t testing.TB, url string, tr *amqp.Transport) {
	queues, exchanges := tr.Objects(Queue)
	conn, err := amqp091.Dial(url)
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	defer conn.Close()
	for _, q := range queues {
		if ch, err := conn.Channel(); err == nil {
			_, _ = ch.QueueDelete(q, false, false, false)
			ch.Close()
		}
	}
	for _, x := range exchanges {
		if ch, err := conn.Channel(); err == nil {
			_ = ch.ExchangeDelete(x, false, false)
			ch.Close()
		}
	}
}

// worker starts a worker process with the harness's arguments and extra.
func (h *harness) worker(extra ...string) *proc {
	h.t.Helper()
	return startWorker(h.t, append(append([]string{}, h.args...), extra...)...)
}

// enqueue enqueues tasks from..to-1 in batches, each with the options
// opts returns, and records each outcome in the checker. It returns how
// many enqueues failed.
func (h *harness) enqueue(ctx context.Context, from, to int, args func(n int) (*Args, []runtime.Option)) int {
	const batch = 200
	failed := 0
	for lo := from; lo < to; lo += batch {
		hi := min(lo+batch, to)
		items := make([]runtime.BatchItem, 0, hi-lo)
		for n := lo; n < hi; n++ {
			a, opts := args(n)
			items = append(items, runtime.NewBatchItem(WorkTask, a, append(opts, runtime.TaskID(ID(n)))...))
		}
		receipts, _ := h.client.EnqueueBatch(ctx, items)
		for i, rc := range receipts {
			var err error
			if rc == nil {
				err = fmt.Errorf("task %d not enqueued", lo+i)
				failed++
			}
			h.checker.Enqueued(lo+i, err)
		}
	}
	return failed
}

// work returns Args for task n that work for d.
func work(d time.Duration) func(n int) (*Args, []runtime.Option) {
	return func(n int) (*Args, []runtime.Option) { return &Args{N: n, Work: d}, nil }
}

// settle waits up to d for every enqueued task to complete, logs the
// checker's table, and fails the test if a task was lost or ran
// unexpectedly.
func (h *harness) settle(d time.Duration) *Report {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	r, err := h.checker.WaitSettled(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Logf("checker (%s):\n%s", h.kind, r.Table())
	if r.Lost != 0 {
		h.t.Errorf("%d of %d enqueued tasks lost (never completed within %v), e.g. %v", r.Lost, r.Enqueued, d, r.LostSample)
	}
	if r.Unexpected != r.UnexpectedErrored {
		h.t.Errorf("%d tasks completed that were never enqueued", r.Unexpected-r.UnexpectedErrored)
	}
	return r
}

// drained checks that the queue holds nothing pending, delayed or active,
// and dead dead letters, waiting a little for the last acks to land.
func (h *harness) drained(dead int) {
	h.t.Helper()
	h.drainedWithin(30*time.Second, dead)
}

// drainedWithin is drained, waiting up to d.
func (h *harness) drainedWithin(d time.Duration, dead int) {
	h.t.Helper()
	deadline := time.Now().Add(d)
	for {
		s, err := h.tr.Stats(context.Background(), Queue)
		want := runtime.QueueStats{Queue: Queue, Dead: dead}
		if err == nil && s == want {
			return
		}
		if time.Now().After(deadline) {
			h.t.Errorf("queue stats %+v, %v; want %+v", s, err, want)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitRuns waits until at least n runs completed.
func (h *harness) waitRuns(n int64, d time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(d)
	for {
		r, err := h.checker.Report(context.Background())
		if err == nil && r.Runs >= n {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("fewer than %d runs completed within %v", n, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// quietLogger discards the test-side transport's logs: the scenarios break
// its connections on purpose.
func quietLogger(testing.TB) *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// acked reports whether an ack of task n succeeded.
func (h *harness) acked(ctx context.Context, n int) bool {
	ok, err := h.checker.Acked(ctx, n)
	return err == nil && ok
}
