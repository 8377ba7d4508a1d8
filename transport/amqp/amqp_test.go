package amqp_test

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/taskgen/taskgen/internal/testenv"
	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/amqp"
	"github.com/taskgen/taskgen/transport/memory"
	"github.com/taskgen/taskgen/transport/redis"
	"github.com/taskgen/taskgen/transport/transporttest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		if binDir != "" {
			os.RemoveAll(binDir)
		}
		os.Exit(code)
	}))
}

// quiet discards the transport's logs; tests that break connections on
// purpose would otherwise fill the output.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// uniquePrefix isolates a test's broker objects from every other test's,
// and from those of earlier runs.
func uniquePrefix() string {
	return "tgtest." + strings.ToLower(rand.Text()[:8]) + "."
}

// newTransport returns a transport on the test broker configured by cfg,
// under a prefix of its own. When the test ends it is closed and every
// queue and exchange it declared is deleted.
func newTransport(t testing.TB, cfg amqp.Config) *amqp.Transport {
	t.Helper()
	url := testenv.AMQPURL(t)
	if cfg.URL == "" {
		cfg.URL = url
	}
	if cfg.Prefix == "" {
		cfg.Prefix = uniquePrefix()
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr, err := amqp.New(ctx, cfg)
	if err != nil {
		t.Fatalf("amqp.New: %v", err)
	}
	t.Cleanup(func() {
		if err := tr.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		deleteObjects(t, url, tr)
	})
	return tr
}

// deleteObjects deletes what tr declared, on a connection of its own.
func deleteObjects(t testing.TB, url string, tr *amqp.Transport) {
	queues, exchanges := tr.BrokerNames()
	if len(queues) == 0 {
		return
	}
	conn, err := amqp091.Dial(url)
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	defer conn.Close()
	var ch *amqp091.Channel
	open := func() bool {
		if ch != nil && !ch.IsClosed() {
			return true
		}
		ch, err = conn.Channel()
		return err == nil
	}
	for _, q := range queues {
		if open() {
			_, _ = ch.QueueDelete(q, false, false, false)
		}
	}
	for _, x := range exchanges {
		if open() {
			_ = ch.ExchangeDelete(x, false, false)
		}
	}
}

// deleteRedisKeys deletes the Redis store's keys under prefix when the
// test ends: a workflow leaves thousands, which would otherwise stay until
// they expire.
func deleteRedisKeys(t testing.TB, url, prefix string) {
	t.Cleanup(func() {
		opt, err := goredis.ParseURL(url)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		c := goredis.NewClient(opt)
		defer c.Close()
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+":*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			if keys = append(keys, iter.Val()); len(keys) == 500 {
				c.Unlink(ctx, keys...)
				keys = keys[:0]
			}
		}
		if len(keys) > 0 {
			c.Unlink(ctx, keys...)
		}
		if err := iter.Err(); err != nil {
			t.Errorf("deleting the store's keys under %s: %v", prefix, err)
		}
	})
}

// The workflow semantics on RabbitMQ, with their state in a Redis store.
func TestWorkflows(t *testing.T) {
	t.Parallel()
	transporttest.RunWorkflows(t, withRedisStore)
	transporttest.RunLargeWorkflow(t, withRedisStore, 10_000)
}

// Routing, request context and queue order on RabbitMQ, with a Redis store.
func TestRouting(t *testing.T) {
	t.Parallel()
	transporttest.RunRouting(t, withRedisStore)
}

// withRedisStore returns a transport on the test broker whose store is the
// test Redis, under prefixes of their own.
func withRedisStore(t *testing.T) runtime.Transport {
	return newTransport(t, amqp.Config{Store: redisStore(t), CloseStore: true}).WithStore()
}

// redisStore opens a store on the test Redis under a prefix of its own,
// whose keys are deleted when the test ends.
func redisStore(t *testing.T) *redis.Transport {
	prefix := uniquePrefix()
	store, err := redis.Open(t.Context(), testenv.RedisURL(t)+"?prefix="+prefix)
	if err != nil {
		t.Fatal(err)
	}
	// Registered first, so that it runs after the transport closes.
	deleteRedisKeys(t, testenv.RedisURL(t), prefix)
	return store
}

// The global limits on RabbitMQ, kept in a Redis store.
func TestLimits(t *testing.T) {
	t.Parallel()
	transporttest.RunLimits(t, func(t *testing.T) (runtime.Transport, runtime.Store) {
		store := redisStore(t)
		return newTransport(t, amqp.Config{Store: store, CloseStore: true}), store
	})
}

// The worker's reliability cases on RabbitMQ, with a Redis store.
func TestReliability(t *testing.T) {
	t.Parallel()
	transporttest.RunReliability(t, withRedisStore)
}

func TestConformance(t *testing.T) {
	t.Parallel()
	for _, qt := range []amqp.QueueType{amqp.Quorum, amqp.Classic} {
		t.Run(string(qt), func(t *testing.T) {
			t.Parallel()
			transporttest.Run(t, func(t *testing.T) runtime.Transport {
				// The store guards task IDs, as a Redis store would
				// across processes.
				return newTransport(t, amqp.Config{QueueType: qt, Store: memory.New(), CloseStore: true})
			})
		})
	}
}
