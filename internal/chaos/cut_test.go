package chaos

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/taskgen/taskgen/internal/testenv"
	"github.com/taskgen/taskgen/transport/amqp"
)

// Scenario 5. A worker's connections to its broker cut by a TCP proxy,
// which drops them and refuses new ones for 3s: once the proxy lets
// connections through again the worker reconnects, runs what was enqueued
// meanwhile and after, loses nothing, and its goroutines come back to
// what they were before the cut. On Redis the client is go-redis's pool;
// on RabbitMQ the transport's own redialling connections.
func TestConnectionCut(t *testing.T) {
	if testing.Short() {
		t.Skip("runs worker processes on real brokers")
	}
	t.Parallel()
	for _, kind := range []string{"redis", "amqp"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			var h *harness
			var proxy *Proxy
			if kind == "redis" {
				broker := testenv.RedisURL(t)
				proxy, broker = proxied(t, broker)
				h = newRedisHarness(t, "", broker)
			} else {
				broker := testenv.AMQPURL(t)
				proxy, broker = proxied(t, broker)
				h = newAMQPHarness(t, "", broker, amqp.Config{})
			}
			ctx := context.Background()
			w := h.worker("-concurrency", "4", "-lease", "2s", "-stats", "100ms")
			const batch = 100
			h.enqueue(ctx, 0, batch, work(10*time.Millisecond))
			h.settle(time.Minute)
			time.Sleep(time.Second) // idle
			_, base := w.Stats()
			t.Logf("before the cut: %v", base)

			proxy.Cut()
			h.checker.Fault("connection cut")
			if failed := h.enqueue(ctx, batch, 2*batch, work(10*time.Millisecond)); failed != 0 {
				t.Fatalf("%d enqueues failed while the worker was cut off", failed)
			}
			time.Sleep(3 * time.Second)
			if r, err := h.checker.Report(ctx); err != nil || r.Lost == 0 {
				t.Fatalf("the worker ran every task while cut off (%v): the proxy does not cut", err)
			}
			proxy.Restore()
			if failed := h.enqueue(ctx, 2*batch, 3*batch, work(10*time.Millisecond)); failed != 0 {
				t.Fatalf("%d enqueues failed", failed)
			}
			r := h.settle(90 * time.Second)
			if r.Duplicates > 4+r.AcksRefused {
				t.Errorf("%d tasks ran twice; at most the 4 running at the cut may, and those whose ack was refused (%d)", r.Duplicates, r.AcksRefused)
			}
			h.drained(0)
			var last stats
			waitFor(t, 30*time.Second, "the worker's goroutines to return to their count before the cut", func() bool {
				_, last = w.Stats()
				return last.Goroutines <= base.Goroutines && time.Since(last.At) < time.Second
			})
			t.Logf("after the cut and %d more tasks: %v", 2*batch, last)
			if f, running := w.term(30 * time.Second); running != 0 || f < 3*batch {
				t.Errorf("the worker finished %d runs and left %d running; want at least %d", f, running, 3*batch)
			}
		})
	}
}

// proxied starts a proxy to the host of brokerURL, closed when the test
// ends, and returns it with brokerURL pointing at it.
func proxied(t testing.TB, brokerURL string) (*Proxy, string) {
	t.Helper()
	u, err := url.Parse(brokerURL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewProxy(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	u.Host = p.Addr()
	return p, u.String()
}
