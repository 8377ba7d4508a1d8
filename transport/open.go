package transport

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/memory"
)

// supported lists the schemes Open knows, for error messages.
const supported = "mem://, redis://, rediss://, amqp://, amqps://"

// Open returns a transport for the broker that rawURL names. The scheme
// picks the broker: mem, redis, rediss, amqp or amqps. The caller closes
// the transport. Errors show the URL with its password redacted.
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
	case "redis", "rediss":
		return nil, notYet(u, "Redis")
	case "amqp", "amqps":
		return nil, notYet(u, "RabbitMQ (AMQP)")
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

// notYet reports a scheme whose transport is planned but not in this
// version.
func notYet(u *url.URL, broker string) error {
	return fmt.Errorf("taskgen: open transport %q: the %s transport (%s://) is not available in this version of taskgen yet; use mem:// for now", u.Redacted(), broker, u.Scheme)
}
