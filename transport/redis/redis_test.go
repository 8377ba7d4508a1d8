package redis_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/taskgen/taskgen/internal/testenv"
	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/redis"
	"github.com/taskgen/taskgen/transport/transporttest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// uniquePrefix isolates a test's keys, so that tests run in parallel on a
// shared Redis without flushing it.
func uniquePrefix(t testing.TB) string {
	return "taskgen-test-" + strings.ToLower(rand.Text()[:12])
}

// cleanup deletes every key under prefix once the test ends.
func cleanup(t testing.TB, client goredis.UniversalClient, prefix string) {
	t.Cleanup(func() {
		ctx := context.Background()
		// UNLINK in groups: a large workflow leaves tens of thousands.
		del := func(ctx context.Context, c *goredis.Client) error {
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
			return iter.Err()
		}
		var err error
		switch c := client.(type) {
		case *goredis.ClusterClient:
			err = c.ForEachMaster(ctx, del)
		case *goredis.Client:
			err = del(ctx, c)
		}
		if err != nil {
			t.Errorf("deleting the keys under %s: %v", prefix, err)
		}
	})
}

// newClient returns a client of the test Redis, closed when the test ends.
// Like Open's, it never re-sends a command.
func newClient(t testing.TB) *goredis.Client {
	t.Helper()
	opt, err := goredis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	opt.MaxRetries = -1
	c := goredis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// newTransport returns a transport with a prefix of its own on client.
func newTransport(t testing.TB, client goredis.UniversalClient, cfg redis.Config) *redis.Transport {
	t.Helper()
	if cfg.Prefix == "" {
		cfg.Prefix = uniquePrefix(t)
	}
	cfg.Client = client
	cleanup(t, client, cfg.Prefix)
	tr := redis.New(cfg)
	t.Cleanup(func() { tr.Close() })
	return tr
}

func TestConformance(t *testing.T) {
	t.Parallel()
	client := newClient(t)
	transporttest.Run(t, func(t *testing.T) runtime.Transport { return newTransport(t, client, redis.Config{}) })
	transporttest.RunStore(t, func(t *testing.T) runtime.Store { return newTransport(t, client, redis.Config{}) })
	transporttest.RunWorkflows(t, func(t *testing.T) runtime.Transport { return newTransport(t, client, redis.Config{}) })
	transporttest.RunReliability(t, func(t *testing.T) runtime.Transport { return newTransport(t, client, redis.Config{}) })
	transporttest.RunLargeWorkflow(t, func(t *testing.T) runtime.Transport { return newTransport(t, client, redis.Config{}) }, 10_000)
	transporttest.RunLimits(t, func(t *testing.T) (runtime.Transport, runtime.Store) {
		tr := newTransport(t, client, redis.Config{})
		return tr, tr
	})
	transporttest.RunRouting(t, func(t *testing.T) runtime.Transport { return newTransport(t, client, redis.Config{}) })
}
