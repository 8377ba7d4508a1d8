package redis

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/taskgen/taskgen/internal/testenv"
	"github.com/taskgen/taskgen/runtime"
)

// counterClient returns a client of the test Redis and a key of the
// test's own, deleted when it ends.
func counterClient(t *testing.T) (*goredis.Client, string) {
	t.Helper()
	opt, err := goredis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := goredis.NewClient(opt)
	key := "taskgen-test-" + rand.Text()[:12] + ":n"
	t.Cleanup(func() {
		client.Del(context.Background(), key)
		client.Close()
	})
	return client, key
}

// incrCall increments key.
func incrCall(key string) *call {
	return &call{build: func(p goredis.Pipeliner) []goredis.Cmder {
		return []goredis.Cmder{p.Incr(context.Background(), key)}
	}}
}

// blockCall holds its pipeline's connection for d: a BLPOP of a list no
// one fills.
func blockCall(key string, d time.Duration) *call {
	return &call{build: func(p goredis.Pipeliner) []goredis.Cmder {
		return []goredis.Cmder{p.BLPop(context.Background(), d, key+":never")}
	}}
}

// Close finishes every call sent, whether its caller leads or waits, and
// refuses the calls after it; concurrent callers share pipelines meanwhile.
func TestBatcherCloseFinishesEverySent(t *testing.T) {
	t.Parallel()
	client, key := counterClient(t)

	b := newBatcher(client)
	var done atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				c := incrCall(key)
				var err error
				if (g+i)%2 == 0 {
					err = b.do(t.Context(), c)
				} else if err = b.send(t.Context(), c); err == nil {
					err = c.result()
				}
				switch {
				case errors.Is(err, runtime.ErrClosed):
					return
				case err != nil:
					t.Errorf("call: %v", err)
					return
				}
				done.Add(1)
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	b.close()
	wg.Wait()

	n, err := client.Get(context.Background(), key).Int64()
	if err != nil {
		t.Fatal(err)
	}
	if n != done.Load() || n == 0 {
		t.Errorf("Redis ran %d calls, callers saw %d succeed; want equal, and some", n, done.Load())
	}
}

// Calls that wait while every leader is busy are sent once one is free,
// with no new caller to lead them, and close waits for them.
func TestBatcherServesWaitingCalls(t *testing.T) {
	t.Parallel()
	client, key := counterClient(t)

	b := newBatcher(client)
	var calls []*call
	for range maxLeaders {
		// Each holds a leader for 200 ms.
		calls = append(calls, blockCall(key, 200*time.Millisecond))
	}
	for range 20 {
		calls = append(calls, incrCall(key))
	}
	for _, c := range calls {
		if err := b.send(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	closed := make(chan struct{})
	go func() {
		b.close()
		close(closed)
	}()
	for i, c := range calls {
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("call %d of %d not finished after 10 s", i, len(calls))
		}
		if c.err != nil {
			t.Errorf("call %d: %v", i, c.err)
		}
	}
	<-closed
	if n, err := client.Get(context.Background(), key).Int64(); err != nil || n != 20 {
		t.Errorf("counter = %d (%v), want 20", n, err)
	}
	if err := b.do(t.Context(), &call{build: func(p goredis.Pipeliner) []goredis.Cmder { return nil }}); !errors.Is(err, runtime.ErrClosed) {
		t.Errorf("call after close: %v, want ErrClosed", err)
	}
}

// Calls sent without waiting hold room until they finish: a producer that
// outruns Redis waits, until its ctx ends, rather than queueing without
// bound.
func TestBatcherSendWaitsForRoom(t *testing.T) {
	t.Parallel()
	client, key := counterClient(t)

	b := newBatcher(client)
	defer b.close()
	var calls []*call
	for i := range maxSent {
		c := incrCall(key)
		if i < maxLeaders {
			// Each holds a leader for 300 ms, so that the rest wait.
			c = blockCall(key, 300*time.Millisecond)
		}
		if err := b.send(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		calls = append(calls, c)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	extra := &call{build: func(p goredis.Pipeliner) []goredis.Cmder { return nil }}
	if err := b.send(ctx, extra); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("send with %d calls unfinished: %v, want to wait until the deadline", maxSent, err)
	}
	for _, c := range calls {
		if err := c.result(); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.do(t.Context(), extra); err != nil {
		t.Fatalf("call once the others finished: %v", err)
	}
}
