package redis

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Open connects to the Redis that rawURL names and returns a transport that
// owns the connection: Close closes it. Open pings the server, so a wrong
// address fails here rather than at the first publish.
//
//	redis://[user:password@]host:port[/db][?option=value&...]
//	rediss://...                                  TLS
//	redis+cluster://host:port,host:port,...[?...]  Redis Cluster, by its seed nodes
//	rediss+cluster://...                          Redis Cluster over TLS
//
// Options of the transport:
//
//	prefix=myapp            Config.Prefix: the start of every key
//	lease=30s               Config.Lease
//	max_dead_letters=10000  Config.MaxDeadLetters
//
// Every other option goes to go-redis (redis.ParseURL, or
// redis.ParseClusterURL for a cluster): dial_timeout, pool_size, and so on.
// Unlike go-redis's own default for one server, the client does not retry
// a command that failed (max_retries=-1) unless the URL sets max_retries:
// the transport's scripts are not idempotent, and a publish re-run after a
// read timeout would report its own message as a duplicate. (go-redis's
// max_retries=0 means its default, 3.) A cluster client still re-sends a
// command after a network error or a timeout, up to max_redirects times,
// as it does to follow MOVED and ASK redirects: there, a publish that timed
// out may still come back as a duplicate of itself. A failed command returns
// its error; the worker retries its fetches, and a task whose settlement
// failed runs again after its lease.
// Errors show the URL with its password redacted.
func Open(ctx context.Context, rawURL string) (*Transport, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL, password included
		}
		return nil, fmt.Errorf("taskgen: redis: malformed URL: %v", err)
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("taskgen: redis: open %q: %s", u.Redacted(), fmt.Sprintf(format, args...))
	}
	cfg, rest, err := transportOptions(u.Query())
	if err != nil {
		return nil, fail("%v", err)
	}
	client, err := newClient(u, rest)
	if err != nil {
		return nil, fail("%v", err)
	}
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fail("cannot reach the server: %v", err)
	}
	cfg.Client = client
	t := New(cfg)
	t.owned = true
	return t, nil
}

// transportOptions takes the transport's own options out of q; the rest
// are go-redis options.
func transportOptions(q url.Values) (Config, url.Values, error) {
	var cfg Config
	rest := url.Values{}
	for k, vs := range q {
		v := vs[len(vs)-1]
		var err error
		switch k {
		case "prefix":
			if err = checkPrefix(v); err == nil && v == "" {
				err = errors.New("option prefix is empty; leave it out for the default")
			}
			cfg.Prefix = v
		case "lease":
			cfg.Lease, err = time.ParseDuration(v)
			if err == nil && cfg.Lease <= 0 {
				err = fmt.Errorf("option lease=%s is not positive", v)
			}
		case "max_dead_letters":
			cfg.MaxDeadLetters, err = strconv.Atoi(v)
		default:
			rest[k] = vs
		}
		if err != nil {
			return cfg, nil, fmt.Errorf("option %s: %w", k, err)
		}
	}
	return cfg, rest, nil
}

// newClient builds the go-redis client for u, with options rest.
func newClient(u *url.URL, rest url.Values) (goredis.UniversalClient, error) {
	scheme := strings.ToLower(u.Scheme)
	base := strings.TrimSuffix(scheme, "+cluster")
	if base != "redis" && base != "rediss" {
		return nil, fmt.Errorf("unknown scheme %q; use redis, rediss, redis+cluster or rediss+cluster", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("no host; for example redis://127.0.0.1:6379/0")
	}
	plain := *u
	plain.Scheme = base
	if base == scheme {
		plain.RawQuery = rest.Encode()
		opt, err := goredis.ParseURL(plain.String())
		if err != nil {
			return nil, err
		}
		if !rest.Has("max_retries") {
			opt.MaxRetries = -1
		}
		return goredis.NewClient(opt), nil
	}
	hosts := strings.Split(u.Host, ",")
	if p := strings.Trim(u.Path, "/"); p != "" && p != "0" {
		return nil, fmt.Errorf("path %q: Redis Cluster has database 0 only", u.Path)
	}
	plain.Host, plain.Path = hosts[0], ""
	for _, h := range hosts[1:] {
		rest.Add("addr", h)
	}
	plain.RawQuery = rest.Encode()
	opt, err := goredis.ParseClusterURL(plain.String())
	if err != nil {
		return nil, err
	}
	return goredis.NewClusterClient(opt), nil
}
