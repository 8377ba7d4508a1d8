package amqp

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Open connects to the broker that rawURL names and returns a transport:
//
//	amqp://user:password@host:port/vhost[?option=value&...]
//	amqps://...                                   TLS
//
// Options of the transport:
//
//	prefix=myapp.              Config.Prefix
//	queue_type=quorum|classic  Config.QueueType
//	prefetch=64                Config.Prefetch
//	lease=30s                  Config.Lease
//	delivery_limit=10          Config.DeliveryLimit (-1: none)
//	confirm_window=256         Config.ConfirmWindow
//	publish_channels=2         Config.PublishChannels
//	heartbeat=10s              Config.Heartbeat (or whole seconds)
//
// The options of amqp091-go's URI (certfile, keyfile, cacertfile,
// server_name_indication, auth_mechanism, connection_timeout,
// channel_max) pass through. A result store is named by transport.Open's
// store= option, or given as Config.Store. Errors show the URL with its
// password redacted.
func Open(ctx context.Context, rawURL string) (*Transport, error) {
	cfg, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	return New(ctx, cfg)
}

// passThrough are the query options amqp091-go reads itself.
var passThrough = []string{"certfile", "keyfile", "cacertfile", "server_name_indication", "auth_mechanism", "connection_timeout", "channel_max"}

// ParseURL returns the Config that rawURL describes, as Open reads it.
func ParseURL(rawURL string) (Config, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL, password included
		}
		return Config{}, fmt.Errorf("taskgen: amqp: malformed URL: %v", err)
	}
	fail := func(format string, args ...any) (Config, error) {
		return Config{}, fmt.Errorf("taskgen: amqp: open %q: %s", u.Redacted(), fmt.Sprintf(format, args...))
	}
	if u.Scheme != "amqp" && u.Scheme != "amqps" {
		return fail("the scheme is %q; use amqp:// or amqps://", u.Scheme)
	}
	var cfg Config
	rest := url.Values{}
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		var err error
		switch k {
		case "prefix":
			cfg.Prefix = v
		case "queue_type":
			cfg.QueueType = QueueType(strings.ToLower(v))
			if cfg.QueueType != Quorum && cfg.QueueType != Classic {
				err = fmt.Errorf("option queue_type=%s is not quorum or classic", v)
			}
		case "prefetch":
			cfg.Prefetch, err = positive(k, v)
		case "confirm_window":
			cfg.ConfirmWindow, err = positive(k, v)
		case "publish_channels":
			cfg.PublishChannels, err = positive(k, v)
		case "delivery_limit":
			cfg.DeliveryLimit, err = strconv.Atoi(v)
			if err == nil && cfg.DeliveryLimit == 0 {
				err = errors.New("option delivery_limit=0: give a positive limit, or -1 for none")
			}
		case "lease":
			cfg.Lease, err = duration(k, v)
		case "heartbeat":
			cfg.Heartbeat, err = duration(k, v)
		case "store":
			err = errors.New("option store= is read by transport.Open; with amqp.Open, set Config.Store")
		default:
			if !slices.Contains(passThrough, k) {
				known := append([]string{"prefix", "queue_type", "prefetch", "lease", "delivery_limit", "confirm_window", "publish_channels", "heartbeat"}, passThrough...)
				err = fmt.Errorf("unknown option %q; the options are %s", k, strings.Join(known, ", "))
			}
			rest[k] = vs
		}
		if err != nil {
			return fail("%v", err)
		}
	}
	u.RawQuery = rest.Encode()
	cfg.URL = u.String()
	return cfg, nil
}

func positive(k, v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("option %s=%s is not a positive integer", k, v)
	}
	return n, nil
}

// duration reads a Go duration, or whole seconds.
func duration(k, v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("option %s=%s is not a positive duration such as 10s", k, v)
	}
	return d, nil
}
