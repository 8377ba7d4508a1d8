package memory

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

// A consumer that gives up after being signaled passes the signal on, so
// the message that caused it does not sit ready while others sleep.
func TestAbandonedSignalPassesOn(t *testing.T) {
	tr := New()
	defer tr.Close()
	a := &waiter{queues: []string{"q"}, ch: make(chan struct{}, 1)}
	b := &waiter{queues: []string{"other", "q"}, ch: make(chan struct{}, 1)}
	tr.mu.Lock()
	tr.waiters = append(tr.waiters, a, b)
	tr.mu.Unlock()

	if err := tr.Publish(context.Background(), &runtime.Message{ID: "x", Queue: "q"}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if !a.signaled || b.signaled {
		t.Fatalf("after one publish: a signaled %v, b signaled %v; want only a, the oldest", a.signaled, b.signaled)
	}
	tr.abandonLocked(a)
	if !b.signaled || len(b.ch) != 1 {
		t.Fatalf("b was not signaled when a abandoned its signal")
	}
	if len(tr.waiters) != 0 || len(a.ch) != 0 {
		t.Fatalf("waiters left: %d, a's pending signals: %d; want none", len(tr.waiters), len(a.ch))
	}
}

// Expired keys that are never read again are swept by later writes.
func TestSweepDropsUnreadExpiredKeys(t *testing.T) {
	tr := New()
	defer tr.Close()
	ctx := context.Background()
	const n = 1000
	for i := range n {
		if err := tr.Put(ctx, fmt.Sprint("short", i), nil, time.Millisecond); err != nil {
			t.Fatalf("Put: %v", err)
		}
		if err := tr.PutRecord(ctx, &runtime.Record{ID: fmt.Sprint("rec", i), State: runtime.StateSucceeded}, time.Millisecond); err != nil {
			t.Fatalf("PutRecord: %v", err)
		}
	}
	time.Sleep(5 * time.Millisecond)
	for i := 0; i < 1_000_000; i++ {
		if err := tr.Put(ctx, "busy", nil, 0); err != nil {
			t.Fatalf("Put: %v", err)
		}
		tr.smu.Lock()
		keys, records := len(tr.kv), len(tr.records)
		tr.smu.Unlock()
		if keys == 1 && records == 0 {
			return
		}
	}
	t.Fatalf("after a million writes, %d keys and %d records remain; want only the live key", len(tr.kv), len(tr.records))
}

// An emptied priority list reuses its storage instead of growing.
func TestFIFOCompacts(t *testing.T) {
	var f fifo
	for i := range 10_000 {
		f.push(&entry{seq: uint64(i)})
		f.push(&entry{seq: uint64(i)})
		f.pop()
	}
	if n := len(f.items) - f.head; n != 10_000 {
		t.Fatalf("fifo holds %d entries, want 10000", n)
	}
	if cap(f.items) > 4*10_000 {
		t.Fatalf("fifo capacity %d for 10000 entries: it does not compact", cap(f.items))
	}
	var last uint64
	for i := range 10_000 {
		e := f.pop()
		if e == nil || e.seq < last {
			t.Fatalf("pop %d = %v after seq %d: out of order", i, e, last)
		}
		last = e.seq
	}
	if f.pop() != nil {
		t.Fatalf("pop of an empty fifo returned an entry")
	}
}

// A consumer woken for one queue may take from an earlier one instead; the
// message it was woken for must still reach a consumer.
func TestSignalSpentOnEarlierQueuePassesOn(t *testing.T) {
	tr := New()
	defer tr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	got := make(chan string, 2)
	fetch := func(queues ...string) {
		ds, err := tr.Fetch(ctx, runtime.FetchRequest{Queues: queues, Max: 1})
		if err != nil {
			got <- err.Error()
			return
		}
		got <- ds[0].ID
	}
	waitFor := func(n int) {
		for {
			tr.mu.Lock()
			k := len(tr.waiters)
			tr.mu.Unlock()
			if k == n {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	go fetch("a", "b") // the oldest waiter, so the one b's message signals
	waitFor(1)
	go fetch("b")
	waitFor(2)

	// In one critical section, so the first consumer cannot run between
	// the two: b's message signals it, a's finds no one else to signal.
	now := time.Now()
	tr.mu.Lock()
	for _, m := range []runtime.Message{{ID: "in-b", Queue: "b"}, {ID: "in-a", Queue: "a"}} {
		if err := tr.publishLocked(&entry{msg: m, idx: -1}, now); err != nil {
			t.Fatal(err)
		}
	}
	tr.mu.Unlock()

	seen := map[string]bool{<-got: true, <-got: true}
	if !seen["in-a"] || !seen["in-b"] {
		t.Fatalf("consumers got %v, want in-a and in-b", seen)
	}
}
