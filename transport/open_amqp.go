package transport

import (
	"context"
	"fmt"
	"net/url"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/amqp"
)

// openAMQP opens the RabbitMQ transport. A store= option names the store
// that keeps results and workflow state, as a URL that Open opens (a
// redis:// URL; mem:// within one process); the returned transport is then
// also that runtime.Store, and closes it with itself. Without store=,
// results need runtime.WithStore.
func openAMQP(ctx context.Context, u *url.URL) (runtime.Transport, error) {
	q := u.Query()
	storeURL := q.Get("store")
	q.Del("store")
	rest := *u
	rest.RawQuery = q.Encode()
	cfg, err := amqp.ParseURL(rest.String())
	if err != nil {
		return nil, err // it names the URL, redacted
	}
	if _, ok := u.Query()["store"]; ok && storeURL == "" {
		return nil, fmt.Errorf("taskgen: open transport %q: option store= is empty; give a store URL such as store=redis://127.0.0.1:6379/0, or leave it out", redactAMQP(u))
	}
	closeStore := func() {}
	if storeURL != "" {
		st, err := Open(ctx, storeURL)
		if err != nil {
			return nil, fmt.Errorf("taskgen: open transport %q: open its store: %w", redactAMQP(u), err)
		}
		s, ok := st.(runtime.Store)
		if !ok {
			_ = st.Close()
			return nil, fmt.Errorf("taskgen: open transport %q: the store= URL names a transport that is not a store; use redis://", redactAMQP(u))
		}
		cfg.Store, cfg.CloseStore = s, true
		closeStore = func() { _ = st.Close() }
	}
	tr, err := amqp.New(ctx, cfg)
	if err != nil {
		closeStore()
		return nil, err
	}
	return tr.WithStore(), nil
}

// redactAMQP shows u with its password, and the store URL's, replaced.
func redactAMQP(u *url.URL) string {
	r := *u
	q := r.Query()
	if s := q.Get("store"); s != "" {
		if su, err := url.Parse(s); err == nil {
			q.Set("store", su.Redacted())
		} else {
			q.Set("store", "(malformed URL)")
		}
		r.RawQuery = q.Encode()
	}
	return r.Redacted()
}
