package redis_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/redis"
)

// racers returns n transports on one prefix, each with its own client, as
// n worker processes would be.
func racers(t *testing.T, n int) []*redis.Transport {
	t.Helper()
	prefix := uniquePrefix(t)
	trs := make([]*redis.Transport, n)
	for i := range trs {
		trs[i] = newTransport(t, newClient(t), redis.Config{Prefix: prefix})
	}
	return trs
}

// race runs every transport's Fetch on queue at once, each until quiet
// passes without a delivery, and returns what each one got.
func race(t *testing.T, trs []*redis.Transport, queue string, max int, quiet time.Duration) [][]*runtime.Delivery {
	t.Helper()
	got := make([][]*runtime.Delivery, len(trs))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, tr := range trs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for {
				ctx, cancel := context.WithTimeout(context.Background(), quiet)
				ds, err := tr.Fetch(ctx, runtime.FetchRequest{Queues: []string{queue}, Max: max, Lease: time.Minute})
				cancel()
				if err != nil {
					return
				}
				got[i] = append(got[i], ds...)
			}
		}()
	}
	close(start)
	wg.Wait()
	return got
}

// Consumers on several connections promote the same due delayed tasks at
// once: each task is promoted, and delivered, exactly once, never early.
func TestCompetingPromoters(t *testing.T) {
	t.Parallel()
	trs := racers(t, 6)
	const n = 300
	eta := time.Now().Add(time.Second)
	msgs := make([]*runtime.Message, n)
	for i := range msgs {
		msgs[i] = &runtime.Message{ID: fmt.Sprint(i), Queue: "q", Priority: i % 10, ETA: eta}
	}
	for i, err := range trs[0].PublishBatch(t.Context(), msgs) {
		if err != nil {
			t.Fatalf("PublishBatch, message %d: %v", i, err)
		}
	}
	expectStats(t, trs[0], "q", runtime.QueueStats{Delayed: n})

	// The racers block until the ETA, then all wake to promote the set.
	got := race(t, trs, "q", 7, 3*time.Second)
	seen := make(map[string]int)
	for i, ds := range got {
		for _, d := range ds {
			seen[d.ID]++
			if d.Deliveries != 1 {
				t.Errorf("racer %d: %s has Deliveries %d, want 1", i, d.ID, d.Deliveries)
			}
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct tasks delivered, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("task %s delivered %d times, want once", id, k)
		}
	}
	expectStats(t, trs[0], "q", runtime.QueueStats{Active: n})
}

// Consumers on several connections find the same lapsed lease at once:
// exactly one of them requeues and gets the task.
func TestCompetingRecoverers(t *testing.T) {
	t.Parallel()
	trs := racers(t, 6)
	publish(t, trs[0], &runtime.Message{ID: "lost", Queue: "q", Priority: 5})
	fetch(t, trs[0], "q", 1, 500*time.Millisecond) // and never settled

	got := race(t, trs, "q", 10, 2*time.Second)
	var all []*runtime.Delivery
	for _, ds := range got {
		all = append(all, ds...)
	}
	if len(all) != 1 || all[0].ID != "lost" || all[0].Deliveries != 2 {
		ids := make([]string, len(all))
		for i, d := range all {
			ids[i] = fmt.Sprintf("%s/%d", d.ID, d.Deliveries)
		}
		t.Fatalf("after the lease lapsed the racers got %v, want lost/2 once", ids)
	}
	expectStats(t, trs[0], "q", runtime.QueueStats{Active: 1})
}
