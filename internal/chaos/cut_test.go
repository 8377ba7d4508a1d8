package chaos

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/taskgen/taskgen/internal/tcpproxy"
	"github.com/taskgen/taskgen/internal/testenv"
	"github.com/taskgen/taskgen/transport/amqp"
)

// Scenario 5. The connections of a worker process and of the test's client
// to their broker cut by TCP proxies, which drop them and refuse new ones
// for a few seconds. The client's enqueues fail while it is cut off; once
// the proxies let connections through again, the client enqueues again,
// and the worker reconnects, runs what was enqueued while it was cut off
// and after, loses nothing, and its goroutines come back to what they
// were before the cut. On Redis the clients are go-redis's pools; on
// RabbitMQ the transport's own redialling connections.
func TestConnectionCut(t *testing.T) {
	if testing.Short() {
		t.Skip("runs worker processes on real brokers")
	}
	t.Parallel()
	for _, kind := range []string{"redis", "amqp"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			// The workers connect through one proxy, the test's client
			// through another.
			var h *harness
			var proxy, clientProxy *tcpproxy.Proxy
			if kind == "redis" {
				var broker, client string
				proxy, broker = proxied(t, testenv.RedisURL(t))
				clientProxy, client = proxied(t, testenv.RedisURL(t))
				h = newRedisHarness(t, client, broker)
			} else {
				var broker, client string
				proxy, broker = proxied(t, testenv.AMQPURL(t))
				clientProxy, client = proxied(t, testenv.AMQPURL(t))
				h = newAMQPHarness(t, "", broker, amqp.Config{URL: client})
			}
			ctx := context.Background()
			w := h.worker("-concurrency", "4", "-lease", "2s", "-stats", "100ms")
			const batch = 100
			h.enqueue(ctx, 0, batch, work(10*time.Millisecond))
			h.settle(time.Minute)
			time.Sleep(time.Second) // idle
			_, base := w.Stats()
			t.Logf("before the cut: %v", base)

			// The workers are cut off while the client enqueues; then the
			// client is cut off too, and its enqueues fail.
			proxy.Cut()
			h.checker.Fault("workers' connections cut")
			if failed := h.enqueue(ctx, batch, 2*batch, work(10*time.Millisecond)); failed != 0 {
				t.Fatalf("%d enqueues failed while only the worker was cut off", failed)
			}
			clientProxy.Cut()
			h.checker.Fault("client's connections cut")
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			failed := h.enqueue(cctx, 2*batch, 2*batch+20, work(10*time.Millisecond))
			cancel()
			if failed != 20 {
				t.Errorf("%d of 20 enqueues failed while the client was cut off; want all", failed)
			}
			time.Sleep(2 * time.Second)
			if r, err := h.checker.Report(ctx); err != nil || r.Lost == 0 {
				t.Fatalf("the worker ran every task while cut off (%v): the proxy does not cut", err)
			}
			proxy.Restore()
			clientProxy.Restore()
			// The client reconnects: one enqueue goes through, then the rest.
			from := 2*batch + 20
			waitFor(t, time.Minute, "the client to enqueue again", func() bool {
				cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				return h.enqueue(cctx, from, from+1, work(10*time.Millisecond)) == 0
			})
			if failed := h.enqueue(ctx, from+1, from+batch, work(10*time.Millisecond)); failed != 0 {
				t.Fatalf("%d enqueues failed after the client reconnected", failed)
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
func proxied(t testing.TB, brokerURL string) (*tcpproxy.Proxy, string) {
	t.Helper()
	u, err := url.Parse(brokerURL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := tcpproxy.New(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	u.Host = p.Addr()
	return p, u.String()
}
