package redis_test

import (
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/redis"
)

// A task's progress lasts as long as its terminal record, which is written
// later with the record's expiry: whether its own handler reported it, or
// an earlier delivery did, through another transport.
func TestProgressLastsAsLongAsTerminalRecord(t *testing.T) {
	t.Parallel()
	client := newClient(t)
	prefix := uniquePrefix(t)
	tr := newTransport(t, client, redis.Config{Prefix: prefix})
	other := newTransport(t, client, redis.Config{Prefix: prefix})
	ctx := t.Context()
	const short, long = 2 * time.Second, time.Hour

	done := func(d *runtime.Delivery) *runtime.Record {
		return &runtime.Record{ID: d.ID, Task: "t", Queue: d.Queue, State: runtime.StateSucceeded}
	}

	// The handler of a first delivery reports progress.
	publish(t, tr, &runtime.Message{ID: "own", Queue: "q", Priority: 5, Body: []byte("b")})
	d := fetch(t, tr, "q", 1, time.Minute)[0]
	if err := tr.SetProgress(ctx, d.ID, "half", nil, short); err != nil {
		t.Fatal(err)
	}
	if err := tr.AckRecord(ctx, d, done(d), long); err != nil {
		t.Fatal(err)
	}

	// An earlier delivery, by another worker, reported progress.
	publish(t, tr, &runtime.Message{ID: "earlier", Queue: "q", Priority: 5, Body: []byte("b")})
	d = fetch(t, other, "q", 1, time.Minute)[0]
	if err := other.SetProgress(ctx, d.ID, "half", nil, short); err != nil {
		t.Fatal(err)
	}
	if err := other.Nack(ctx, d, runtime.NackOptions{}); err != nil {
		t.Fatal(err)
	}
	d = fetch(t, tr, "q", 1, time.Minute)[0]
	if d.Deliveries != 2 {
		t.Fatalf("second delivery of %s has Deliveries %d", d.ID, d.Deliveries)
	}
	if err := tr.AckRecord(ctx, d, done(d), long); err != nil {
		t.Fatal(err)
	}

	time.Sleep(short + 500*time.Millisecond)
	for _, id := range []string{"own", "earlier"} {
		r, err := tr.GetRecord(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.State != runtime.StateSucceeded || r.Progress != "half" {
			t.Errorf("record of %s past the progress's first expiry: state %s, progress %q; want succeeded, half", id, r.State, r.Progress)
		}
	}
}

// A record this version cannot read (another version's) is not replaced
// by a write that must keep terminal records.
func TestPutRecordUnlessTerminalKeepsUnreadable(t *testing.T) {
	t.Parallel()
	client := newClient(t)
	prefix := uniquePrefix(t)
	tr := newTransport(t, client, redis.Config{Prefix: prefix})
	key := prefix + ":rec:{x}"
	client.Set(t.Context(), key, "\x09future", 0)
	ok, err := tr.PutRecordUnlessTerminal(t.Context(), &runtime.Record{ID: "x", State: runtime.StateCancelled}, time.Hour)
	if err != nil || ok {
		t.Fatalf("PutRecordUnlessTerminal over an unreadable record = %v, %v; want false", ok, err)
	}
	if v, _ := client.Get(t.Context(), key).Result(); v != "\x09future" {
		t.Fatalf("record is %q, want it kept", v)
	}
}
