package transport_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/taskgen/taskgen/internal/testenv"
	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport"
)

// withQuery adds options to a broker URL.
func withQuery(raw string, opts url.Values) string {
	sep := "?"
	if strings.Contains(raw, "?") {
		sep = "&"
	}
	return raw + sep + opts.Encode()
}

func TestOpenAMQP(t *testing.T) {
	t.Parallel()
	raw := testenv.AMQPURL(t)
	tr, err := transport.Open(t.Context(), withQuery(raw, url.Values{"queue_type": {"classic"}, "prefetch": {"8"}}))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer tr.Close()
	if _, ok := tr.(runtime.Store); ok {
		t.Errorf("an AMQP transport without store= presents itself as a store")
	}
	if s, err := tr.Stats(t.Context(), "taskgen.test.never.declared"); err != nil || s.Pending != 0 {
		t.Errorf("Stats of an unknown queue = %+v, %v", s, err)
	}
}

// With store=, the transport is also the store the URL names.
func TestOpenAMQPWithStore(t *testing.T) {
	t.Parallel()
	raw := testenv.AMQPURL(t)
	for _, store := range []string{"mem://", testenv.RedisURL(t)} {
		tr, err := transport.Open(t.Context(), withQuery(raw, url.Values{"store": {store}}))
		if err != nil {
			t.Fatalf("Open with store=%s: %v", store, err)
		}
		s, ok := tr.(runtime.Store)
		if !ok {
			tr.Close()
			t.Fatalf("Open with store=%s returned %T, which is not a runtime.Store", store, tr)
		}
		key := "taskgen-test-open-amqp-" + time.Now().Format("150405.000000000")
		if err := s.Put(t.Context(), key, []byte("v"), time.Minute); err != nil {
			t.Errorf("store=%s: Put: %v", store, err)
		}
		if v, err := s.Get(t.Context(), key); err != nil || string(v) != "v" {
			t.Errorf("store=%s: Get = %q, %v", store, v, err)
		}
		_ = s.Delete(t.Context(), key)
		if err := tr.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}
