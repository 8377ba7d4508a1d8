package redis_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	goredis "github.com/redis/go-redis/v9"

	"github.com/taskgen/taskgen/internal/testenv"
	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/redis"
)

// A consumer blocked on an empty queue sleeps with no timer; a delayed
// message must still reach it at its ETA, not earlier.
func TestDelayedWakesBlockedFetch(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, newClient(t), redis.Config{})
	type result struct {
		d   *runtime.Delivery
		at  time.Time
		err error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ds, err := tr.Fetch(ctx, runtime.FetchRequest{Queues: []string{"q"}, Max: 1, Lease: time.Minute})
		if err != nil {
			done <- result{err: err}
			return
		}
		done <- result{d: ds[0], at: time.Now()}
	}()
	time.Sleep(100 * time.Millisecond) // let Fetch block first
	eta := time.Now().Add(500 * time.Millisecond)
	publish(t, tr, &runtime.Message{ID: "later", Queue: "q", Priority: 5, ETA: eta})
	r := <-done
	if r.err != nil {
		t.Fatalf("Fetch: %v", r.err)
	}
	if r.d.ID != "later" || r.at.Before(eta) {
		t.Fatalf("delivered %s at %v, want later at or after its ETA %v", r.d.ID, r.at, eta)
	}
}

// Close releases WaitRecord callers as it releases Fetch.
func TestCloseReleasesWaitRecord(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, newClient(t), redis.Config{})
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := tr.WaitRecord(ctx, "never")
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, runtime.ErrClosed) {
			t.Fatalf("WaitRecord at Close returned %v, want runtime.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitRecord still blocked 10s after Close")
	}
}

// Each queue keeps its newest MaxDeadLetters dead letters.
func TestMaxDeadLetters(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, newClient(t), redis.Config{MaxDeadLetters: 3})
	for i := range 5 {
		publish(t, tr, &runtime.Message{ID: fmt.Sprint(i), Queue: "q", Priority: 5})
		d := fetch(t, tr, "q", 1, time.Minute)[0]
		if err := tr.DeadLetter(t.Context(), d, runtime.DeadLetter{Reason: runtime.ReasonFailed}); err != nil {
			t.Fatal(err)
		}
	}
	dls, err := tr.DeadLetters(t.Context(), "q", 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, dl := range dls {
		ids = append(ids, dl.ID)
	}
	if strings.Join(ids, ",") != "2,3,4" {
		t.Fatalf("dead letters kept: %v, want the newest three, oldest first: 2,3,4", ids)
	}
	expectStats(t, tr, "q", runtime.QueueStats{Dead: 3})
}

// A dead letter stays in its own queue: on Redis Cluster another queue is
// another slot, out of the script's reach.
func TestDeadLetterToAnotherQueue(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, newClient(t), redis.Config{})
	publish(t, tr, &runtime.Message{ID: "a", Queue: "q", Priority: 5})
	d := fetch(t, tr, "q", 1, time.Minute)[0]
	err := tr.DeadLetter(t.Context(), d, runtime.DeadLetter{Queue: "elsewhere", Reason: runtime.ReasonFailed})
	if err == nil || !strings.Contains(err.Error(), "own queue") {
		t.Fatalf("DeadLetter into another queue: got %v, want an error", err)
	}
	if err := tr.Ack(t.Context(), d); err != nil {
		t.Fatalf("Ack after the refused dead letter: %v", err)
	}
}

// PublishBatch reports each message's outcome; the good ones are stored.
func TestPublishBatchPerMessage(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, newClient(t), redis.Config{})
	publish(t, tr, &runtime.Message{ID: "held", Queue: "q", Priority: 5})
	msgs := []*runtime.Message{
		{ID: "a", Queue: "q", Priority: 5},
		{ID: "held", Queue: "q", Priority: 5}, // the queue holds it
		{ID: "b", Queue: "q2", Priority: 9},   // another queue, same batch
		{ID: "a", Queue: "q", Priority: 5},    // twice in the batch
		{ID: "", Queue: "q", Priority: 5},     // no ID
		{ID: "c", Queue: "q", Priority: 11},   // no such priority
		{ID: "d", Queue: "q", ETA: time.Now().Add(time.Hour)},
	}
	errs := tr.PublishBatch(t.Context(), msgs)
	want := []string{"", "already exists", "", "already exists", "no ID", "priority", ""}
	for i, e := range want {
		switch {
		case e == "" && errs[i] != nil:
			t.Errorf("message %d: %v, want it stored", i, errs[i])
		case e != "" && (errs[i] == nil || !strings.Contains(errs[i].Error(), e)):
			t.Errorf("message %d: %v, want an error mentioning %q", i, errs[i], e)
		}
	}
	if !errors.Is(errs[1], runtime.ErrDuplicateTask) {
		t.Errorf("message 1: %v, want runtime.ErrDuplicateTask", errs[1])
	}
	expectStats(t, tr, "q", runtime.QueueStats{Pending: 2, Delayed: 1})
	expectStats(t, tr, "q2", runtime.QueueStats{Pending: 1})
}

// A batch of ready messages at one priority takes the script's short way,
// unless an ID is held or repeats: then the first of an ID wins and keeps
// its body, and the rest are duplicates.
// A batch of fresh IDs is stored without a check for a held ID, in a
// transaction, only by a client that never re-sends it: re-sent, the
// transaction would add its messages twice. Publishing a held ID as fresh,
// which a caller must never do, shows which way the batch went.
func TestPublishBatchFreshIDs(t *testing.T) {
	t.Parallel()
	retrying := func(t *testing.T) *goredis.Client {
		opt, err := goredis.ParseURL(testenv.RedisURL(t))
		if err != nil {
			t.Fatal(err)
		}
		opt.MaxRetries = 2
		c := goredis.NewClient(opt)
		t.Cleanup(func() { c.Close() })
		return c
	}
	for _, tc := range []struct {
		name    string
		client  func(t *testing.T) *goredis.Client
		checked bool
	}{
		{"no retries", func(t *testing.T) *goredis.Client { return newClient(t) }, false},
		{"retries", retrying, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTransport(t, tc.client(t), redis.Config{})
			publish(t, tr, &runtime.Message{ID: "held", Queue: "q", Priority: 3, Body: []byte("old")})
			msgs := []*runtime.Message{
				{ID: "a", Queue: "q", Priority: 3, Body: []byte("a"), FreshID: true},
				{ID: "held", Queue: "q", Priority: 3, Body: []byte("new"), FreshID: true},
			}
			errs := tr.PublishBatch(t.Context(), msgs)
			if errs[0] != nil {
				t.Fatalf("PublishBatch: message a: %v", errs[0])
			}
			if got := errors.Is(errs[1], runtime.ErrDuplicateTask); got != tc.checked {
				t.Fatalf("PublishBatch of a held ID marked fresh: %v; want a duplicate error %v", errs[1], tc.checked)
			}
		})
	}
}

// A transaction that fails fails every message of it, naming the queue and
// the cause.
func TestPublishBatchFreshIDsFail(t *testing.T) {
	t.Parallel()
	client := newClient(t)
	prefix := uniquePrefix(t)
	tr := newTransport(t, client, redis.Config{Prefix: prefix})
	publish(t, tr, &runtime.Message{ID: "first", Queue: "q", Priority: 3})
	keys, err := client.Keys(t.Context(), prefix+":*msgs").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("finding the msgs key: %v %v", keys, err)
	}
	// A key of the wrong type, from a foreign program, fails the HSET.
	if err := client.Del(t.Context(), keys[0]).Err(); err != nil {
		t.Fatal(err)
	}
	if err := client.Set(t.Context(), keys[0], "foreign", 0).Err(); err != nil {
		t.Fatal(err)
	}
	msgs := []*runtime.Message{
		{ID: "a", Queue: "q", Priority: 3, FreshID: true},
		{ID: "b", Queue: "q", Priority: 3, FreshID: true},
	}
	for i, err := range tr.PublishBatch(t.Context(), msgs) {
		if err == nil || !strings.Contains(err.Error(), `queue "q"`) || !strings.Contains(err.Error(), "WRONGTYPE") {
			t.Errorf("message %d: %v, want a WRONGTYPE error naming the queue", i, err)
		}
	}
}

func TestPublishBatchOnePriority(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, newClient(t), redis.Config{})
	publish(t, tr, &runtime.Message{ID: "held", Queue: "q", Priority: 3, Body: []byte("old")})
	for _, tc := range []struct {
		name string
		ids  []string
		want []bool // stored
	}{
		{"distinct", []string{"a", "b"}, []bool{true, true}},
		{"repeated", []string{"c", "d", "c"}, []bool{true, true, false}},
		{"held", []string{"e", "held"}, []bool{true, false}},
	} {
		msgs := make([]*runtime.Message, len(tc.ids))
		for i, id := range tc.ids {
			msgs[i] = &runtime.Message{ID: id, Queue: "q", Priority: 3, Body: []byte(fmt.Sprintf("%s %d", tc.name, i))}
		}
		for i, err := range tr.PublishBatch(t.Context(), msgs) {
			if tc.want[i] != (err == nil) || err != nil && !errors.Is(err, runtime.ErrDuplicateTask) {
				t.Errorf("%s: message %d (%s): %v, want stored %v", tc.name, i, tc.ids[i], err, tc.want[i])
			}
		}
	}
	want := map[string]string{"held": "old", "a": "distinct 0", "b": "distinct 1", "c": "repeated 0", "d": "repeated 1", "e": "held 0"}
	got := make(map[string]string)
	for _, d := range fetch(t, tr, "q", 10, time.Minute) {
		got[d.ID] = string(d.Body)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("bodies fetched (-want +got):\n%s", diff)
	}

	// A batch into an empty queue wakes a consumer waiting on it.
	woke := make(chan int, 1)
	go func() {
		ds, _ := tr.Fetch(t.Context(), runtime.FetchRequest{Queues: []string{"idle"}, Max: 10, Lease: time.Minute})
		woke <- len(ds)
	}()
	time.Sleep(100 * time.Millisecond) // let the fetch go to sleep
	batch := []*runtime.Message{{ID: "x", Queue: "idle", Priority: 3}, {ID: "y", Queue: "idle", Priority: 3}}
	for i, err := range tr.PublishBatch(t.Context(), batch) {
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	select {
	case n := <-woke:
		if n == 0 {
			t.Fatalf("the waiting fetch returned nothing")
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the waiting fetch did not wake within 10s of the batch")
	}
}

// Client.EnqueueBatch returns nil only when every item is in Redis, and a
// *runtime.BatchError naming the items that are not.
func TestEnqueueBatch(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, newClient(t), redis.Config{})
	c := runtime.NewClient(tr)
	task := &runtime.Task[runtime.None]{Def: runtime.TaskDef{Name: "t", Queue: "q", Fingerprint: "f"}}
	raw := func(opts ...runtime.Option) runtime.BatchItem {
		return runtime.RawBatchItem(&task.Def, []byte("{}"), opts...)
	}
	rcs, err := c.EnqueueBatch(t.Context(), []runtime.BatchItem{raw(), raw(runtime.TaskID("x")), raw(runtime.Priority(9))})
	if err != nil || len(rcs) != 3 || rcs[1].ID != "x" {
		t.Fatalf("EnqueueBatch = %v, %v; want three receipts, the second with ID x", rcs, err)
	}
	rcs, err = c.EnqueueBatch(t.Context(), []runtime.BatchItem{raw(), raw(runtime.TaskID("x"))})
	var be *runtime.BatchError
	if !errors.As(err, &be) || be.Errs[0] != nil || !errors.Is(be.Errs[1], runtime.ErrDuplicateTask) || rcs[0] == nil || rcs[1] != nil {
		t.Fatalf("EnqueueBatch with a duplicate ID = %v, %v; want a BatchError for the second item only", rcs, err)
	}
	if !errors.Is(err, runtime.ErrDuplicateTask) {
		t.Errorf("errors.Is(BatchError, ErrDuplicateTask) = false")
	}
	expectStats(t, tr, "q", runtime.QueueStats{Pending: 4})
	// Priority 9 first.
	if d := fetch(t, tr, "q", 1, time.Minute)[0]; d.Priority != 9 {
		t.Errorf("first delivery has priority %d, want 9", d.Priority)
	}
}

// Keys live under the prefix, so applications sharing a Redis never meet.
func TestPrefixesIsolate(t *testing.T) {
	t.Parallel()
	client := newClient(t)
	a := newTransport(t, client, redis.Config{})
	b := newTransport(t, client, redis.Config{})
	publish(t, a, &runtime.Message{ID: "x", Queue: "q", Priority: 5})
	publish(t, b, &runtime.Message{ID: "x", Queue: "q", Priority: 5}) // no duplicate: another app
	if err := a.Put(t.Context(), "k", []byte("a"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(t.Context(), "k"); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("Get of the other prefix's key: %v, want runtime.ErrNotFound", err)
	}
	expectStats(t, a, "q", runtime.QueueStats{Pending: 1})
	expectStats(t, b, "q", runtime.QueueStats{Pending: 1})
}

// The first message of an ID in a batch wins, whatever the priorities of
// its copies: the batch is stored as one Publish after another would.
func TestPublishBatchFirstOfAnIDWins(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, newClient(t), redis.Config{})
	msgs := []*runtime.Message{
		{ID: "z", Queue: "q", Priority: 7, Body: []byte("z")},
		{ID: "x", Queue: "q", Priority: 3, Body: []byte("first")},
		{ID: "x", Queue: "q", Priority: 7, Body: []byte("second")},
	}
	errs := tr.PublishBatch(t.Context(), msgs)
	if errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], runtime.ErrDuplicateTask) {
		t.Fatalf("PublishBatch = %v; want the second x a duplicate", errs)
	}
	got := make(map[string]string)
	for _, d := range fetch(t, tr, "q", 10, time.Minute) {
		got[d.ID] = fmt.Sprintf("%d %s", d.Priority, d.Body)
	}
	if diff := cmp.Diff(map[string]string{"z": "7 z", "x": "3 first"}, got); diff != "" {
		t.Errorf("fetched (-want +got):\n%s", diff)
	}
}

// AckRecord acks only once the record is written: a write Redis refuses
// (here a progress key of the wrong type; out of memory, say, in
// production) leaves the task leased, to run again.
func TestAckRecordNoAckWithoutRecord(t *testing.T) {
	t.Parallel()
	client := newClient(t)
	prefix := uniquePrefix(t)
	tr := newTransport(t, client, redis.Config{Prefix: prefix})
	publish(t, tr, &runtime.Message{ID: "t1", Queue: "q", Priority: 3})
	d := fetch(t, tr, "q", 1, time.Minute)[0]
	if err := client.Set(t.Context(), prefix+":rec:{t1}:progress", "foreign", 0).Err(); err != nil {
		t.Fatal(err)
	}
	r := &runtime.Record{ID: "t1", Task: "test.T", Queue: "q", State: runtime.StateSucceeded, Progress: "done"}
	if err := tr.AckRecord(t.Context(), d, r, time.Minute); err == nil {
		t.Fatal("AckRecord with a record write Redis refuses returned nil")
	}
	expectStats(t, tr, "q", runtime.QueueStats{Active: 1})
	if err := tr.Ack(t.Context(), d); err != nil {
		t.Fatalf("Ack after AckRecord failed: %v; the lease should still hold", err)
	}
}

// A batch keeps its order across the script runs and transactions it is
// sent in.
func TestPublishBatchKeepsOrderAcrossRuns(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, newClient(t), redis.Config{})
	for _, fresh := range []bool{true, false} {
		msgs := make([]*runtime.Message, 700)
		for i := range msgs {
			msgs[i] = &runtime.Message{ID: fmt.Sprintf("%v-%d", fresh, i), Queue: "q", Priority: 3, FreshID: fresh}
		}
		for i, err := range tr.PublishBatch(t.Context(), msgs) {
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
		}
		expectInOrder(t, tr, msgs)
	}
}

// A batch mixing fresh IDs with one that is not keeps its order when the
// server has lost its scripts (a restart, a failover): a script run sent
// again after the pipeline must not land behind later transactions.
func TestPublishBatchOrderAfterScriptFlush(t *testing.T) {
	t.Parallel()
	client := newClient(t)
	tr := newTransport(t, client, redis.Config{})
	msgs := make([]*runtime.Message, 600)
	for i := range msgs {
		msgs[i] = &runtime.Message{ID: fmt.Sprint("m", i), Queue: "q", Priority: 3, FreshID: i != 300}
	}
	if err := client.ScriptFlush(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	for i, err := range tr.PublishBatch(t.Context(), msgs) {
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	expectInOrder(t, tr, msgs)
}

// expectInOrder fetches msgs from queue q, acking each, and fails the test
// unless they come in order.
func expectInOrder(t *testing.T, tr *redis.Transport, msgs []*runtime.Message) {
	t.Helper()
	for i := 0; i < len(msgs); {
		for _, d := range fetch(t, tr, "q", 100, time.Minute) {
			if d.ID != msgs[i].ID {
				t.Fatalf("delivery %d is %s, want %s", i, d.ID, msgs[i].ID)
			}
			if err := tr.Ack(t.Context(), d); err != nil {
				t.Fatal(err)
			}
			i++
		}
	}
}
