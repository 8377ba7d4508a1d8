package transport

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/memory"
	"github.com/taskgen/taskgen/transport/redis"
)

// supported lists the schemes Open knows, for error messages.
const supported = "mem://, redis://, rediss://, redis+cluster://, rediss+cluster://, amqp://, amqps://"

// Open returns a transport for the broker that rawURL names. The scheme
// picks the broker: mem, redis, rediss, redis+cluster, rediss+cluster, amqp
// or amqps. The caller closes the transport. Errors show the URL with its
// password redacted.
//
// A Redis URL may carry the transport's options, such as
// redis://127.0.0.1:6379/0?prefix=myapp&lease=30s; see redis.Open.
func Open(ctx context.Context, rawURL string) (runtime.Transport, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error repeats the whole URL, password included; keep only
		// the reason.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("taskgen: open transport: malformed URL (want scheme://..., for example mem:// or redis://127.0.0.1:6379/0): %v", err)
	}
	switch u.Scheme {
	case "mem":
		return openMemory(u)
	case "redis", "rediss", "redis+cluster", "rediss+cluster":
		tr, err := redis.Open(ctx, rawURL)
		if err != nil {
			return nil, err // it names the URL, redacted
		}
		return tr, nil
	case "amqp", "amqps":
		return openAMQP(ctx, u)
	case "":
		return nil, fmt.Errorf("taskgen: open transport %q: the URL has no scheme; use one of %s", u.Redacted(), supported)
	default:
		return nil, fmt.Errorf("taskgen: open transport %q: unknown scheme %q; use one of %s", u.Redacted(), u.Scheme, supported)
	}
}

// openMemory accepts mem:// and mem: alone. It rejects anything more rather
// than ignore settings a caller expected to take effect.
func openMemory(u *url.URL) (runtime.Transport, error) {
	if u.Host != "" || u.User != nil || u.Path != "" || u.Opaque != "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("taskgen: open transport %q: mem:// takes no host, path or options; use \"mem://\"", u.Redacted())
	}
	return memory.New(), nil
}
