package redis

import (
	"net/url"
	"slices"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

func TestURLOptions(t *testing.T) {
	t.Parallel()
	u, err := url.Parse("redis://u:pw@127.0.0.1:6380/2?prefix=myapp&lease=5s&max_dead_letters=7&pool_size=3")
	if err != nil {
		t.Fatal(err)
	}
	cfg, rest, err := transportOptions(u.Query())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Prefix != "myapp" || cfg.Lease != 5*time.Second || cfg.MaxDeadLetters != 7 {
		t.Errorf("transport options = %+v", cfg)
	}
	c, err := newClient(u, rest)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	opt := c.(*goredis.Client).Options()
	if opt.Addr != "127.0.0.1:6380" || opt.DB != 2 || opt.Password != "pw" || opt.Username != "u" || opt.PoolSize != 3 {
		t.Errorf("client options: addr %s db %d user %s pool %d", opt.Addr, opt.DB, opt.Username, opt.PoolSize)
	}
	if opt.MaxRetries != 0 { // -1, normalized by go-redis
		t.Errorf("client MaxRetries = %d, want 0: a publish re-run after a timeout reports a false duplicate", opt.MaxRetries)
	}
}

// A URL's max_retries is kept.
func TestURLMaxRetries(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"redis://127.0.0.1:6379/0?max_retries=2", "redis+cluster://127.0.0.1:7001/?max_retries=2"} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		_, rest, err := transportOptions(u.Query())
		if err != nil {
			t.Fatal(err)
		}
		c, err := newClient(u, rest)
		if err != nil {
			t.Fatal(err)
		}
		var got int
		switch c := c.(type) {
		case *goredis.Client:
			got = c.Options().MaxRetries
		case *goredis.ClusterClient:
			got = c.Options().MaxRetries
		}
		c.Close()
		if got != 2 {
			t.Errorf("%s: MaxRetries = %d, want 2", raw, got)
		}
	}
}

func TestClusterURL(t *testing.T) {
	t.Parallel()
	u, err := url.Parse("redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003/?prefix=x&read_timeout=2s")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, err := transportOptions(u.Query())
	if err != nil {
		t.Fatal(err)
	}
	c, err := newClient(u, rest)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cc, ok := c.(*goredis.ClusterClient)
	if !ok {
		t.Fatalf("redis+cluster:// made a %T", c)
	}
	opt := cc.Options()
	if want := []string{"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"}; !slices.Equal(opt.Addrs, want) || opt.ReadTimeout != 2*time.Second {
		t.Errorf("cluster options: addrs %v read timeout %v", opt.Addrs, opt.ReadTimeout)
	}
	if opt.MaxRetries != -1 {
		t.Errorf("cluster MaxRetries = %d, want -1 (no retries)", opt.MaxRetries)
	}
}
