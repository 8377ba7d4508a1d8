package redis_test

import (
	"context"
	"errors"
	"testing"
	"time"

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

// A message's deliveries count on across a nack and a lapsed lease, and
// settling it for good leaves no lease and no count behind.
func TestLeaseStateCleared(t *testing.T) {
	t.Parallel()
	client := newClient(t)
	prefix := uniquePrefix(t)
	tr := newTransport(t, client, redis.Config{Prefix: prefix})
	ctx := context.Background()
	publish(t, tr, &runtime.Message{ID: "m", Queue: "q", Priority: 5, Body: []byte("b")})
	d := fetch(t, tr, "q", 1, time.Minute)[0]
	if err := tr.Nack(ctx, d, runtime.NackOptions{}); err != nil {
		t.Fatal(err)
	}
	d = fetch(t, tr, "q", 1, 200*time.Millisecond)[0]
	time.Sleep(300 * time.Millisecond) // the lease lapses
	d = fetch(t, tr, "q", 1, time.Minute)[0]
	if d.Deliveries != 3 {
		t.Fatalf("third delivery has Deliveries %d, want 3", d.Deliveries)
	}
	if err := tr.Ack(ctx, d); err != nil {
		t.Fatal(err)
	}
	base := prefix + ":{q}:"
	for _, k := range []string{"leased", "deliv", "msgs"} {
		if n := client.Exists(ctx, base+k).Val(); n != 0 {
			t.Errorf("%s is left after the ack", base+k)
		}
	}
}

// A lease entry without a token, as an older version wrote them, is
// recovered once it lapses, with the deliveries it kept.
func TestOldLeaseEntryRecovered(t *testing.T) {
	t.Parallel()
	client := newClient(t)
	prefix := uniquePrefix(t)
	tr := newTransport(t, client, redis.Config{Prefix: prefix})
	ctx := context.Background()
	base := prefix + ":{q}:"
	client.HSet(ctx, base+"msgs", "old", "5body")
	client.HSet(ctx, base+"deliv", "old", 1)
	client.ZAdd(ctx, base+"leased", goredis.Z{Score: 1, Member: "old"})
	d := fetch(t, tr, "q", 1, time.Minute)[0]
	if d.ID != "old" || d.Deliveries != 2 || string(d.Body) != "body" {
		t.Fatalf("delivered %s, Deliveries %d, body %q; want old, 2, body", d.ID, d.Deliveries, d.Body)
	}
	if err := tr.Ack(ctx, d); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"leased", "deliv", "msgs"} {
		if n := client.Exists(ctx, base+k).Val(); n != 0 {
			t.Errorf("%s is left after the ack", base+k)
		}
	}
}
