package chaos

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/taskgen/taskgen/internal/tcpproxy"
	"github.com/taskgen/taskgen/internal/testenv"
	"github.com/taskgen/taskgen/transport/amqp"
)

// TestChaosLong is `make chaos`: with TASKGEN_CHAOS=1 it enqueues up to
// TASKGEN_CHAOS_TASKS tasks (default 1,000,000) for TASKGEN_CHAOS_DURATION
// (default 10m) on TASKGEN_CHAOS_TRANSPORT (redis, the default, or amqp),
// while faults are injected at random every few seconds: a worker killed
// with SIGKILL, one stopped with SIGTERM, one stopped with SIGSTOP past its
// lease and continued, the workers' connections cut for 2s, and on Redis
// the broker itself (a private redis-server with appendfsync always)
// killed and restarted. Killed and stopped workers are replaced. One
// steady worker is never signalled; its heap, resident set and goroutines
// at the start and at the end are printed with the checker's table.
func TestChaosLong(t *testing.T) {
	if !longRun() {
		t.Skip("the long chaos run is `make chaos` (TASKGEN_CHAOS=1)")
	}
	total := envInt(t, "TASKGEN_CHAOS_TASKS", 1_000_000)
	duration := envDuration(t, "TASKGEN_CHAOS_DURATION", 10*time.Minute)
	kind := os.Getenv("TASKGEN_CHAOS_TRANSPORT")
	if kind == "" {
		kind = "redis"
	}

	var (
		h       *harness
		proxy   *tcpproxy.Proxy
		restart func()
	)
	switch kind {
	case "redis":
		s := startRedisServer(t)
		var workerURL string
		proxy, workerURL = proxied(t, s.URL())
		h = newRedisHarness(t, s.URL(), workerURL)
		restart = func() { s.restart(2 * time.Second) }
	case "amqp":
		// The shared broker is never restarted; on RabbitMQ the faults are
		// the workers' and their connections'.
		var workerURL string
		proxy, workerURL = proxied(t, testenv.AMQPURL(t))
		h = newAMQPHarness(t, "", workerURL, amqp.Config{})
	default:
		t.Fatalf("TASKGEN_CHAOS_TRANSPORT=%q: want redis or amqp", kind)
	}
	ctx := context.Background()
	steady := h.worker("-concurrency", "16", "-lease", "5s", "-stats", "5s", "-prefetch", "64")
	victimArgs := []string{"-concurrency", "16", "-lease", "2s", "-prefetch", "64"}
	var vmu sync.Mutex
	victims := []*proc{h.worker(victimArgs...), h.worker(victimArgs...)}
	first, _ := steady.Stats()
	t.Logf("%s: up to %d tasks for %v; steady worker at the start: %v", kind, total, duration, first)

	var (
		stop     atomic.Bool
		sent     atomic.Int64
		failed   atomic.Int64
		wg       sync.WaitGroup
		deadline = time.Now().Add(duration)
	)
	// The producer keeps at most 50,000 tasks waiting.
	wg.Add(1)
	go func() {
		defer wg.Done()
		const batch = 500
		start := time.Now()
		for n := 0; n < total && !stop.Load() && time.Now().Before(deadline); n += batch {
			// Spread the tasks over the duration.
			if ahead := time.Duration(float64(duration)*float64(n)/float64(total)) - time.Since(start); ahead > 0 {
				time.Sleep(ahead)
			}
			for !stop.Load() {
				runs, err := h.checker.Runs(ctx)
				if err == nil && int64(n)-runs < 50_000 {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			failed.Add(int64(h.enqueue(bctx, n, min(n+batch, total), work(0))))
			cancel()
			sent.Store(int64(min(n+batch, total)))
		}
	}()
	produced := make(chan struct{})
	go func() { wg.Wait(); close(produced) }()

	// Faults, until the producer is done.
	lastRestart := time.Now()
	var warm stats // the steady worker after the first 30s
	progress := time.NewTicker(30 * time.Second)
	defer progress.Stop()
faults:
	for {
		select {
		case <-produced:
			break faults
		case <-progress.C:
			runs, _ := h.checker.Runs(ctx)
			_, last := steady.Stats()
			if warm.At.IsZero() {
				warm = last
			}
			t.Logf("%v left: %d enqueued (%d failed), %d runs; steady worker: %v",
				time.Until(deadline).Round(time.Second), sent.Load(), failed.Load(), runs, last)
			continue
		case <-time.After(time.Duration(3+rand.IntN(6)) * time.Second):
		}
		vmu.Lock()
		i := rand.IntN(len(victims))
		v := victims[i]
		switch f := rand.IntN(9); {
		case f < 3:
			v.kill()
			h.checker.Fault("kill -9 a worker")
			victims[i] = h.worker(victimArgs...)
		case f < 5:
			v.term(time.Minute)
			h.checker.Fault("SIGTERM a worker")
			victims[i] = h.worker(victimArgs...)
		case f < 6:
			v.signal(syscall.SIGSTOP)
			time.Sleep(3 * time.Second)
			v.signal(syscall.SIGCONT)
			h.checker.Fault("SIGSTOP a worker for 3s")
		case f < 8 || restart == nil || time.Since(lastRestart) < time.Minute:
			proxy.Cut()
			time.Sleep(2 * time.Second)
			proxy.Restore()
			h.checker.Fault("cut the workers' connections for 2s")
		default:
			restart()
			lastRestart = time.Now()
			h.checker.Fault("kill -9 and restart the broker")
		}
		vmu.Unlock()
	}
	stop.Store(true)
	r := h.settle(5 * time.Minute)
	time.Sleep(6 * time.Second) // a last stats line
	_, last := steady.Stats()
	t.Logf("%d enqueues, %d failed", sent.Load(), failed.Load())
	t.Logf("steady worker at the start: %v", first)
	t.Logf("steady worker after 30s:    %v", warm)
	t.Logf("steady worker at the end:   %v", last)
	if kind == "redis" && r.AckedTwice != 0 {
		t.Errorf("%d tasks acked twice", r.AckedTwice)
	}
	for _, v := range victims {
		v.term(time.Minute)
	}
	steady.term(time.Minute)
}

func envInt(t testing.TB, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, s, err)
	}
	return v
}

func envDuration(t testing.TB, name string, def time.Duration) time.Duration {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, s, err)
	}
	return v
}
