package amqp_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskgen/taskgen/internal/tcpproxy"
	"github.com/taskgen/taskgen/internal/testenv"
	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/amqp"
)

// newProxy is a proxy to target for the test's length.
func newProxy(t *testing.T, target string) *tcpproxy.Proxy {
	t.Helper()
	p, err := tcpproxy.New(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// proxiedURL is the broker URL through proxy p.
func proxiedURL(t *testing.T, p *tcpproxy.Proxy, broker string) string {
	u, err := url.Parse(broker)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = p.Addr()
	return u.String()
}

func brokerAddr(t *testing.T, broker string) string {
	u, err := url.Parse(broker)
	if err != nil {
		t.Fatal(err)
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "5672")
	}
	return u.Host
}

// The connection to the broker is cut while a producer publishes and a
// consumer consumes through the same transport. Publishes during the
// outage fail or wait until their ctx expires; after it, the transport
// reconnects, declares its queues again and resumes its consumers, and
// every message whose Publish returned nil is consumed: none is lost.
func TestBrokerOutage(t *testing.T) {
	t.Parallel()
	for _, qt := range queueTypes {
		t.Run(string(qt), func(t *testing.T) {
			t.Parallel()
			broker := testenv.AMQPURL(t)
			px := newProxy(t, brokerAddr(t, broker))
			tr := newTransport(t, amqp.Config{URL: proxiedURL(t, px, broker), QueueType: qt, Heartbeat: time.Second})

			var (
				mu       sync.Mutex
				acked    = make(map[string]bool) // Publish returned nil
				consumed = make(map[string]int)
				failed   atomic.Int64
			)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var wg sync.WaitGroup
			stopProducing := make(chan struct{})
			wg.Add(2)
			go func() { // producer
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stopProducing:
						return
					default:
					}
					id := fmt.Sprint("m", i)
					pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
					err := tr.Publish(pctx, &runtime.Message{ID: id, Queue: "q", Priority: i % 10})
					pcancel()
					if err != nil {
						failed.Add(1)
						continue
					}
					mu.Lock()
					acked[id] = true
					mu.Unlock()
					time.Sleep(2 * time.Millisecond)
				}
			}()
			go func() { // consumer
				defer wg.Done()
				for ctx.Err() == nil {
					ds, err := tr.Fetch(ctx, runtime.FetchRequest{Queues: []string{"q"}, Max: 8, Lease: time.Minute})
					if err != nil {
						continue
					}
					for _, d := range ds {
						// An ack may find its channel gone; the message
						// then comes again, which counts once below.
						_ = tr.Ack(ctx, d)
						mu.Lock()
						consumed[d.ID]++
						mu.Unlock()
					}
				}
			}()

			time.Sleep(500 * time.Millisecond)
			px.Cut()
			time.Sleep(2 * time.Second)
			px.Restore()
			time.Sleep(time.Second)
			close(stopProducing)

			deadline := time.Now().Add(eventually)
			for {
				mu.Lock()
				lost := 0
				for id := range acked {
					if consumed[id] == 0 {
						lost++
					}
				}
				n := len(acked)
				mu.Unlock()
				if lost == 0 {
					t.Logf("%d published, %d publishes failed during the outage, none lost", n, failed.Load())
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d published messages never consumed", lost, n)
				}
				time.Sleep(50 * time.Millisecond)
			}
			cancel()
			wg.Wait()
			if failed.Load() == 0 {
				t.Errorf("no publish failed while the broker was unreachable")
			}
		})
	}
}

// While the broker blocks publishers (its memory alarm), Publish waits
// until its ctx is done and reports it, and publishes once the alarm
// clears; consumers are not held up. The alarm is raised with rabbitmqctl,
// so the test needs it and root, and runs alone: it blocks every publisher
// on the broker.
func TestBrokerBlocksPublishers(t *testing.T) {
	ctl, err := exec.LookPath("rabbitmqctl")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("needs rabbitmqctl and root to raise the broker's memory alarm")
	}
	watermark := func(v string) {
		t.Helper()
		out, err := exec.Command(ctl, "set_vm_memory_high_watermark", v).CombinedOutput()
		if err != nil {
			t.Fatalf("rabbitmqctl set_vm_memory_high_watermark %s: %v\n%s", v, err, out)
		}
	}
	tr := newTransport(t, amqp.Config{})
	publish(t, tr, &runtime.Message{ID: "before", Queue: "q", Priority: 5})

	watermark("0.000001")
	t.Cleanup(func() { watermark("0.4") })
	// The broker checks its memory periodically; wait for the alarm.
	deadline := time.Now().Add(eventually)
	for {
		out, _ := exec.Command(ctl, "status").CombinedOutput()
		if strings.Contains(string(out), "Memory alarm") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no memory alarm within %v of lowering the watermark", eventually)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// RabbitMQ blocks a connection once it publishes during an alarm; the
	// publish that trips it may go through.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	_ = tr.Publish(ctx, &runtime.Message{ID: "trip", Queue: "q", Priority: 5})
	ctx, cancel = context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	err = tr.Publish(ctx, &runtime.Message{ID: "blocked", Queue: "q", Priority: 5})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish during the alarm: %v, want it to wait out its ctx", err)
	}
	// The broker said it blocks the connection, so the message was not
	// even sent: this publish is not in doubt.
	if errors.Is(err, amqp.ErrUnconfirmed) {
		t.Errorf("Publish during the alarm sent its message: %v", err)
	}
	// Consumers still get and settle messages.
	d := fetchOne(t, tr, time.Minute, "q")
	if err := tr.Ack(t.Context(), d); err != nil || d.ID != "before" {
		t.Fatalf("fetched %s during the alarm, ack: %v", d.ID, err)
	}

	waiting := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), eventually)
		defer cancel()
		waiting <- tr.Publish(ctx, &runtime.Message{ID: "after", Queue: "q", Priority: 5})
	}()
	time.Sleep(500 * time.Millisecond)
	watermark("0.4")
	if err := <-waiting; err != nil {
		t.Fatalf("Publish waiting for the alarm to clear: %v", err)
	}
	// "after" arrives; "trip" and "blocked" may have, as their Publish
	// said they might.
	for {
		d = fetchOne(t, tr, time.Minute, "q")
		if d.ID == "after" {
			break
		}
		if d.ID != "trip" && d.ID != "blocked" {
			t.Fatalf("fetched %s", d.ID)
		}
	}
}

// Reconnecting leaves no goroutines behind: after several outages the
// transport runs as many as before. The test runs alone, so that the count
// is its own.
func TestReconnectLeaksNoGoroutines(t *testing.T) {
	broker := testenv.AMQPURL(t)
	px := newProxy(t, brokerAddr(t, broker))
	tr := newTransport(t, amqp.Config{URL: proxiedURL(t, px, broker), Heartbeat: time.Second})

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	fetched := make(chan string, 16)
	done := make(chan struct{})
	go func() { // a worker's fetch loop
		defer close(done)
		for ctx.Err() == nil {
			ds, err := tr.Fetch(ctx, runtime.FetchRequest{Queues: []string{"q"}, Max: 1})
			if err != nil {
				continue
			}
			_ = tr.Ack(ctx, ds[0])
			fetched <- ds[0].ID
		}
	}()
	// roundTrip publishes a message, retrying through a reconnect, and
	// waits for the fetch loop to get it.
	roundTrip := func(id string) {
		t.Helper()
		deadline := time.Now().Add(eventually)
		for {
			pctx, pcancel := context.WithTimeout(ctx, time.Second)
			err := tr.Publish(pctx, &runtime.Message{ID: id, Queue: "q", Priority: 5})
			pcancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("publish %s: %v", id, err)
			}
		}
		for {
			select {
			case got := <-fetched:
				if got == id {
					return
				}
			case <-time.After(eventually):
				t.Fatalf("%s not fetched within %v", id, eventually)
			}
		}
	}
	settle := func() int {
		time.Sleep(300 * time.Millisecond)
		return goruntime.NumGoroutine()
	}
	roundTrip("warm-up")
	before := settle()
	for i := range 3 {
		px.Cut()
		time.Sleep(300 * time.Millisecond)
		px.Restore()
		roundTrip(fmt.Sprint("after-", i))
	}
	after := settle()
	// A publish whose ctx ran out waits for its confirm in the background
	// for a while; allow for a couple.
	if after > before+4 {
		t.Fatalf("%d goroutines before three reconnects, %d after", before, after)
	}
	t.Logf("%d goroutines before three reconnects, %d after", before, after)
	cancel()
	<-done
}
