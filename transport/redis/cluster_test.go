package redis_test

import (
	"net/url"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/taskgen/taskgen/internal/testenv"
	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/redis"
	"github.com/taskgen/taskgen/transport/transporttest"
)

// newClusterClient returns a client of the test Redis Cluster, closed when
// the test ends.
func newClusterClient(t testing.TB) *goredis.ClusterClient {
	t.Helper()
	u, err := url.Parse(testenv.RedisClusterURL(t))
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: strings.Split(u.Host, ",")})
	t.Cleanup(func() { c.Close() })
	return c
}

// The whole suite on a 3-master cluster: a script that touched keys of two
// slots would fail with CROSSSLOT.
func TestClusterConformance(t *testing.T) {
	t.Parallel()
	client := newClusterClient(t)
	transporttest.Run(t, func(t *testing.T) runtime.Transport { return newTransport(t, client, redis.Config{}) })
	transporttest.RunStore(t, func(t *testing.T) runtime.Store { return newTransport(t, client, redis.Config{}) })
	transporttest.RunWorkflows(t, func(t *testing.T) runtime.Transport { return newTransport(t, client, redis.Config{}) })
	transporttest.RunReliability(t, func(t *testing.T) runtime.Transport { return newTransport(t, client, redis.Config{}) })
	transporttest.RunLimits(t, func(t *testing.T) (runtime.Transport, runtime.Store) {
		tr := newTransport(t, client, redis.Config{})
		return tr, tr
	})
	transporttest.RunRouting(t, func(t *testing.T) runtime.Transport { return newTransport(t, client, redis.Config{}) })
}
