package redis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	goredis "github.com/redis/go-redis/v9"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/memory"
	"github.com/taskgen/taskgen/transport/redis"
)

// A worker whose lease lapsed while its task went to another worker can
// neither settle nor extend that task; the new holder can.
func TestFencingStaleWorker(t *testing.T) {
	t.Parallel()
	client := newClient(t)
	prefix := uniquePrefix(t)
	stale := newTransport(t, client, redis.Config{Prefix: prefix})
	// The second worker is another process in real life: its own
	// transport on its own connection.
	fresh := newTransport(t, newClient(t), redis.Config{Prefix: prefix})
	ctx := t.Context()
	publish(t, stale, &runtime.Message{ID: "a", Queue: "q", Priority: 5, Body: []byte("x")})

	old := fetch(t, stale, "q", 1, 300*time.Millisecond)[0]
	// Blocks until the lease lapses, then takes the task over.
	cur := fetch(t, fresh, "q", 1, time.Minute)[0]
	if cur.ID != "a" || cur.Deliveries != 2 {
		t.Fatalf("took over %s with Deliveries %d, want a with 2", cur.ID, cur.Deliveries)
	}
	for op, err := range map[string]error{
		"Ack":        stale.Ack(ctx, old),
		"Nack":       stale.Nack(ctx, old, runtime.NackOptions{}),
		"Extend":     stale.Extend(ctx, old, time.Minute),
		"DeadLetter": stale.DeadLetter(ctx, old, runtime.DeadLetter{Reason: runtime.ReasonFailed}),
	} {
		if !errors.Is(err, runtime.ErrLeaseLost) {
			t.Errorf("stale %s: got %v, want runtime.ErrLeaseLost", op, err)
		}
	}
	expectStats(t, fresh, "q", runtime.QueueStats{Active: 1})
	if err := fresh.Ack(ctx, cur); err != nil {
		t.Fatalf("Ack by the current holder: %v", err)
	}
	expectStats(t, fresh, "q", runtime.QueueStats{})
}

// A lease that lapsed is lost even when no other worker has fetched the
// task since: the stale ack fails and puts the task back.
func TestFencingLapsedWithoutRedelivery(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, newClient(t), redis.Config{})
	ctx := t.Context()
	publish(t, tr, &runtime.Message{ID: "a", Queue: "q", Priority: 5})
	d := fetch(t, tr, "q", 1, 200*time.Millisecond)[0]
	time.Sleep(400 * time.Millisecond)
	if err := tr.Ack(ctx, d); !errors.Is(err, runtime.ErrLeaseLost) {
		t.Fatalf("Ack after the lease lapsed: got %v, want runtime.ErrLeaseLost", err)
	}
	expectStats(t, tr, "q", runtime.QueueStats{Pending: 1})
	if again := fetch(t, tr, "q", 1, time.Minute)[0]; again.ID != "a" || again.Deliveries != 2 {
		t.Fatalf("redelivered %s with Deliveries %d, want a with 2", again.ID, again.Deliveries)
	}
}

// A delivery made by another transport carries no lease this one knows.
func TestFencingForeignDelivery(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, newClient(t), redis.Config{})
	mem := memory.New()
	defer mem.Close()
	if err := mem.Publish(t.Context(), &runtime.Message{ID: "a", Queue: "q"}); err != nil {
		t.Fatal(err)
	}
	d := fetch(t, mem, "q", 1, time.Minute)[0]
	if err := tr.Ack(t.Context(), d); !errors.Is(err, runtime.ErrLeaseLost) {
		t.Fatalf("Ack of another transport's delivery: got %v, want runtime.ErrLeaseLost", err)
	}
}

func publish(t *testing.T, tr runtime.Transport, msg *runtime.Message) {
	t.Helper()
	if err := tr.Publish(t.Context(), msg); err != nil {
		t.Fatalf("Publish %s: %v", msg.ID, err)
	}
}

// fetch fetches up to max from queue, failing the test unless something
// arrives within 10s.
func fetch(t *testing.T, tr runtime.Transport, queue string, max int, lease time.Duration) []*runtime.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ds, err := tr.Fetch(ctx, runtime.FetchRequest{Queues: []string{queue}, Max: max, Lease: lease})
	if err != nil || len(ds) == 0 {
		t.Fatalf("Fetch(%s) = %d deliveries, %v", queue, len(ds), err)
	}
	return ds
}

func expectStats(t *testing.T, tr runtime.Transport, queue string, want runtime.QueueStats) {
	t.Helper()
	want.Queue = queue
	got, err := tr.Stats(t.Context(), queue)
	if err != nil || got != want {
		t.Fatalf("Stats(%s) = %+v, %v; want %+v", queue, got, err, want)
	}
}

// A message's deliveries count on across lapses (found by a settling call
// and by a fetch), an extension, a nack and a dead letter, whatever its ID
// holds; settling it for good leaves no lease and no count behind.
func TestLeaseStateCleared(t *testing.T) {
	t.Parallel()
	client, tr, base := queueQ(t)
	ctx := context.Background()
	want := func(d *runtime.Delivery, id string, n int) {
		t.Helper()
		if d.ID != id || d.Deliveries != n {
			t.Fatalf("delivered %q with Deliveries %d, want %q with %d", d.ID, d.Deliveries, id, n)
		}
	}
	for _, id := range []string{"plain", "a|1.2", "a|", "9.9", "|3.4|", "|"} {
		publish(t, tr, &runtime.Message{ID: id, Queue: "q", Priority: 5, Body: []byte("b")})
		d := fetch(t, tr, "q", 1, 200*time.Millisecond)[0]
		want(d, id, 1)
		time.Sleep(300 * time.Millisecond)
		if err := tr.Ack(ctx, d); !errors.Is(err, runtime.ErrLeaseLost) {
			t.Fatalf("%q: ack after the lease lapsed: %v, want runtime.ErrLeaseLost", id, err)
		}
		d = fetch(t, tr, "q", 1, time.Minute)[0]
		want(d, id, 2)
		if err := tr.Extend(ctx, d, 200*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		d = fetch(t, tr, "q", 1, time.Minute)[0] // the fetch finds the lapse
		want(d, id, 3)
		if err := tr.Nack(ctx, d, runtime.NackOptions{Delay: 10 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		d = fetch(t, tr, "q", 1, time.Minute)[0]
		want(d, id, 4)
		if err := tr.DeadLetter(ctx, d, runtime.DeadLetter{Reason: runtime.ReasonFailed}); err != nil {
			t.Fatal(err)
		}
		if err := tr.RequeueDeadLetter(ctx, "q", id); err != nil {
			t.Fatal(err)
		}
		d = fetch(t, tr, "q", 1, time.Minute)[0]
		want(d, id, 1)
		if err := tr.Ack(ctx, d); err != nil {
			t.Fatal(err)
		}
		noKeys(t, client, base, "leases", "deliv", "msgs", "delayed")
	}
}

// The leases of versions before the leases set (bare IDs by deadline in
// leased, their tokens in tokens) are put back once they lapse, with the
// deliveries they kept, while the lease entries of this version are out
// of such a version's sight.
func TestOldLeaseRecovered(t *testing.T) {
	t.Parallel()
	client, tr, base := queueQ(t)
	ctx := context.Background()
	for _, id := range []string{"old", "x|1.2"} {
		client.HSet(ctx, base+"msgs", id, "5body")
		client.HSet(ctx, base+"deliv", id, 1)
		client.HSet(ctx, base+"tokens", id, 7)
		client.ZAdd(ctx, base+"leased", goredis.Z{Score: 1, Member: id})
	}
	client.ZAdd(ctx, base+"leased", goredis.Z{Score: float64(time.Now().Add(time.Hour).UnixMicro()), Member: "held"})
	st, err := tr.Stats(ctx, "q")
	if err != nil || st.Pending != 2 || st.Active != 1 {
		t.Fatalf("Stats = %+v, %v; want 2 pending and 1 active", st, err)
	}
	ds := fetch(t, tr, "q", 5, time.Minute)
	if len(ds) != 2 {
		t.Fatalf("fetched %d, want the 2 lapsed", len(ds))
	}
	for i, id := range []string{"old", "x|1.2"} {
		if d := ds[i]; d.ID != id || d.Deliveries != 2 || string(d.Body) != "body" {
			t.Fatalf("delivered %q, Deliveries %d, body %q; want %q, 2, body", d.ID, d.Deliveries, d.Body, id)
		}
		if err := tr.Ack(ctx, ds[i]); err != nil {
			t.Fatal(err)
		}
	}
	noKeys(t, client, base, "leases", "deliv", "msgs", "tokens")
	if got := client.ZRange(ctx, base+"leased", 0, -1).Val(); len(got) != 1 || got[0] != "held" {
		t.Errorf("old leased set holds %q, want the unexpired lease alone", got)
	}
}

// noKeys fails t if one of base+name exists.
func noKeys(t *testing.T, client *goredis.Client, base string, names ...string) {
	t.Helper()
	for _, k := range names {
		if n := client.Exists(context.Background(), base+k).Val(); n != 0 {
			t.Fatalf("%s is left after the task was settled", base+k)
		}
	}
}

// queueQ returns a client of the test Redis, a transport on it under a
// prefix of its own, and the prefix of its queue q's keys.
func queueQ(t *testing.T) (*goredis.Client, *redis.Transport, string) {
	client := newClient(t)
	prefix := uniquePrefix(t)
	return client, newTransport(t, client, redis.Config{Prefix: prefix}), prefix + ":{q}:"
}

// A delivery whose ID was changed settles nothing but its own message,
// and nothing at all when its lease is not the changed ID's.
func TestSettleUsesTheLeasedID(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, newClient(t), redis.Config{})
	publish(t, tr, &runtime.Message{ID: "a", Queue: "q", Priority: 5})
	publish(t, tr, &runtime.Message{ID: "b", Queue: "q", Priority: 5})
	ds := fetch(t, tr, "q", 2, time.Minute)
	if len(ds) != 2 {
		t.Fatalf("fetched %d, want 2", len(ds))
	}
	ds[0].ID = ds[1].ID
	if err := tr.Nack(t.Context(), ds[0], runtime.NackOptions{}); err != nil {
		t.Fatalf("Nack: %v", err)
	}
	expectStats(t, tr, "q", runtime.QueueStats{Pending: 1, Active: 1})
	again := fetch(t, tr, "q", 2, time.Minute)
	if len(again) != 1 || again[0].ID != "a" {
		t.Fatalf("fetched %v after the nack, want a alone", again)
	}
}

// A malformed deliveries count reads as none, and strands nothing: the
// messages of the fetch are delivered.
func TestFetchReadsBadDeliveriesAsNone(t *testing.T) {
	t.Parallel()
	client := newClient(t)
	prefix := uniquePrefix(t)
	tr := newTransport(t, client, redis.Config{Prefix: prefix})
	publish(t, tr, &runtime.Message{ID: "a", Queue: "q", Priority: 5})
	publish(t, tr, &runtime.Message{ID: "b", Queue: "q", Priority: 5})
	client.HSet(t.Context(), prefix+":{q}:deliv", "a", "junk", "b", " 2")
	got := map[string]int{}
	for _, d := range fetch(t, tr, "q", 2, time.Minute) {
		got[d.ID] = d.Deliveries
	}
	if diff := cmp.Diff(map[string]int{"a": 1, "b": 3}, got); diff != "" {
		t.Errorf("deliveries (-want +got):\n%s", diff)
	}
}
