package transport_test

import (
	"context"
	"crypto/rand"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/taskgen/taskgen/internal/testenv"
	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport"
)

func TestOpenRedis(t *testing.T) {
	t.Parallel()
	raw := testenv.RedisURL(t)
	opt, err := goredis.ParseURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	testOpenRedis(t, raw, goredis.NewClient(opt))
}

func TestOpenRedisCluster(t *testing.T) {
	t.Parallel()
	raw := testenv.RedisClusterURL(t)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	testOpenRedis(t, raw, goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: strings.Split(u.Host, ",")}))
}

// testOpenRedis opens rawURL with a prefix of its own, sends a message
// through, and deletes the prefix's keys with client.
func testOpenRedis(t *testing.T, rawURL string, client goredis.UniversalClient) {
	defer client.Close()
	prefix := "taskgen-test-" + strings.ToLower(rand.Text()[:12])
	sep := "?"
	if strings.Contains(rawURL, "?") {
		sep = "&"
	}
	tr, err := transport.Open(t.Context(), rawURL+sep+"prefix="+prefix+"&lease=5s")
	if err != nil {
		t.Fatalf("Open(%q): %v", rawURL, err)
	}
	defer func() {
		ctx := context.Background()
		del := func(ctx context.Context, c *goredis.Client) error {
			keys, err := c.Keys(ctx, prefix+":*").Result()
			if err == nil && len(keys) > 0 {
				for _, k := range keys {
					err = c.Del(ctx, k).Err()
				}
			}
			return err
		}
		switch c := client.(type) {
		case *goredis.ClusterClient:
			err = c.ForEachMaster(ctx, del)
		case *goredis.Client:
			err = del(ctx, c)
		}
		if err != nil {
			t.Errorf("deleting the test's keys: %v", err)
		}
	}()
	defer tr.Close()
	for _, ok := range []bool{is[runtime.Store](tr), is[runtime.Inspector](tr), is[runtime.BatchPublisher](tr)} {
		if !ok {
			t.Fatalf("Open(%q) returned %T, which is not a Store, Inspector and BatchPublisher", rawURL, tr)
		}
	}
	if err := tr.Publish(t.Context(), &runtime.Message{ID: "x", Queue: "q", Body: []byte("hi")}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ds, err := tr.Fetch(ctx, runtime.FetchRequest{Queues: []string{"q"}, Max: 1})
	if err != nil || len(ds) != 1 || string(ds[0].Body) != "hi" {
		t.Fatalf("Fetch = %v, %v; want the message published", ds, err)
	}
	if err := tr.Ack(t.Context(), ds[0]); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	// The keys are under the prefix of the URL.
	var n atomic.Int64 // ForEachMaster runs on the masters at once
	count := func(ctx context.Context, c *goredis.Client) error {
		keys, err := c.Keys(ctx, prefix+":*").Result()
		n.Add(int64(len(keys)))
		return err
	}
	switch c := client.(type) {
	case *goredis.ClusterClient:
		err = c.ForEachMaster(t.Context(), func(ctx context.Context, c *goredis.Client) error { return count(ctx, c) })
	case *goredis.Client:
		err = count(t.Context(), c)
	}
	if err != nil || n.Load() == 0 {
		t.Fatalf("keys under prefix %s: %d, %v; want the queue's counter at least", prefix, n.Load(), err)
	}
}

func is[T any](v any) bool {
	_, ok := v.(T)
	return ok
}
