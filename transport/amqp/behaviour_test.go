package amqp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/taskgen/taskgen/internal/tcpproxy"
	"github.com/taskgen/taskgen/internal/testenv"
	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/amqp"
	"github.com/taskgen/taskgen/transport/memory"
)

// eventually bounds what must happen: generous, for shared machines and
// the race detector.
const eventually = 20 * time.Second

var queueTypes = []amqp.QueueType{amqp.Quorum, amqp.Classic}

func fetchOne(t *testing.T, tr runtime.Transport, lease time.Duration, queues ...string) *runtime.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), eventually)
	defer cancel()
	ds, err := tr.Fetch(ctx, runtime.FetchRequest{Queues: queues, Max: 1, Lease: lease})
	if err != nil {
		t.Fatalf("Fetch(%v): %v", queues, err)
	}
	return ds[0]
}

func publish(t *testing.T, tr runtime.Transport, msg *runtime.Message) {
	t.Helper()
	if err := tr.Publish(t.Context(), msg); err != nil {
		t.Fatalf("Publish %s: %v", msg.ID, err)
	}
}

// A message whose queue was deleted behind the transport's back is
// returned by the broker: Publish fails with ErrUnroutable rather than
// report a success. The next publish declares the queue again.
func TestUnroutablePublishFails(t *testing.T) {
	t.Parallel()
	for _, qt := range queueTypes {
		t.Run(string(qt), func(t *testing.T) {
			t.Parallel()
			prefix := uniquePrefix()
			tr := newTransport(t, amqp.Config{QueueType: qt, Prefix: prefix})
			publish(t, tr, &runtime.Message{ID: "first", Queue: "q", Priority: 5})

			work := prefix + "q"
			if qt == amqp.Quorum {
				work += ".p5"
			}
			deleteQueue(t, work)

			err := tr.Publish(t.Context(), &runtime.Message{ID: "lost", Queue: "q", Priority: 5})
			if !errors.Is(err, amqp.ErrUnroutable) {
				t.Fatalf("Publish to a deleted queue: got %v, want amqp.ErrUnroutable", err)
			}
			publish(t, tr, &runtime.Message{ID: "again", Queue: "q", Priority: 5})
			if d := fetchOne(t, tr, time.Minute, "q"); d.ID != "again" {
				t.Fatalf("delivered %s, want again", d.ID)
			}
		})
	}
}

// An asynchronous publish that the broker returns undoes its claims even
// though nobody asks for its outcome: its ID is free again and its queue
// is declared again on the next publish.
func TestUnroutableAsyncNotWaited(t *testing.T) {
	t.Parallel()
	prefix := uniquePrefix()
	tr := newTransport(t, amqp.Config{Prefix: prefix, Store: memory.New(), CloseStore: true})
	publish(t, tr, &runtime.Message{ID: "first", Queue: "q", Priority: 5})

	deleteQueue(t, prefix+"q.p5")

	done, _ := tr.PublishAsync(t.Context(), &runtime.Message{ID: "lost", Queue: "q", Priority: 5})
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the returned publish did not settle within 30s")
	}
	publish(t, tr, &runtime.Message{ID: "lost", Queue: "q", Priority: 5})
	if d := fetchOne(t, tr, time.Minute, "q"); d.ID != "lost" {
		t.Fatalf("delivered %s, want lost", d.ID)
	}
}

// rawChannel returns a channel of a connection of its own to the test
// broker, to work behind the transport's back; it is closed when the test
// ends.
func rawChannel(t *testing.T) *amqp091.Channel {
	t.Helper()
	conn, err := amqp091.Dial(testenv.AMQPURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// deleteQueue deletes a broker queue behind the transport's back.
func deleteQueue(t *testing.T, name string) {
	t.Helper()
	if _, err := rawChannel(t).QueueDelete(name, false, false, false); err != nil {
		t.Fatal(err)
	}
}

// Delays go through the tier ladder and, for the last stretch, are held by
// the consumer: none is ever delivered before its ETA.
func TestDelayNeverEarly(t *testing.T) {
	t.Parallel()
	for _, qt := range queueTypes {
		t.Run(string(qt), func(t *testing.T) {
			t.Parallel()
			tr := newTransport(t, amqp.Config{QueueType: qt})
			delays := []time.Duration{
				0, 10 * time.Millisecond, 49 * time.Millisecond, 50 * time.Millisecond, 120 * time.Millisecond,
				251 * time.Millisecond, 700 * time.Millisecond, 1300 * time.Millisecond, 2600 * time.Millisecond,
			}
			etas := make(map[string]time.Time)
			for i, d := range delays {
				msg := &runtime.Message{ID: fmt.Sprint("m", i), Queue: "q", Priority: i % 10, ETA: time.Now().Add(d), Body: []byte("x")}
				if d == 0 {
					msg.ETA = time.Time{}
				}
				etas[msg.ID] = msg.ETA
				publish(t, tr, msg)
			}
			var late []time.Duration
			for range delays {
				d := fetchOne(t, tr, time.Minute, "q")
				at := time.Now()
				eta := etas[d.ID]
				if at.Before(eta) {
					t.Fatalf("%s delivered %v before its ETA", d.ID, eta.Sub(at))
				}
				if !eta.IsZero() {
					late = append(late, at.Sub(eta))
				}
				if err := tr.Ack(t.Context(), d); err != nil {
					t.Fatal(err)
				}
			}
			slices.Sort(late)
			t.Logf("lateness of %d delayed messages: min %v, median %v, max %v", len(late), late[0], late[len(late)/2], late[len(late)-1])
		})
	}
}

// A message whose lease lapses again and again, as when its handler
// crashes the worker every time, is dead-lettered by the transport once it
// has been abandoned DeliveryLimit times, and its failure is recorded.
func TestDeliveryLimit(t *testing.T) {
	t.Parallel()
	for _, qt := range queueTypes {
		t.Run(string(qt), func(t *testing.T) {
			t.Parallel()
			store := memory.New()
			defer store.Close()
			const limit = 3
			tr := newTransport(t, amqp.Config{QueueType: qt, DeliveryLimit: limit, Store: store})
			body := (&runtime.Envelope{ID: "poison", Task: "tasks.Crash", Queue: "q"}).Marshal()
			publish(t, tr, &runtime.Message{ID: "poison", Queue: "q", Priority: 5, Body: body})
			for want := 1; want <= limit; want++ {
				d := fetchOne(t, tr, 200*time.Millisecond, "q")
				if d.Deliveries != want {
					t.Fatalf("delivery %d has Deliveries %d", want, d.Deliveries)
				}
				// and abandon it
			}
			var dls []runtime.DeadLetter
			deadline := time.Now().Add(eventually)
			for len(dls) == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("not dead-lettered within %v", eventually)
				}
				time.Sleep(50 * time.Millisecond)
				var err error
				if dls, err = tr.DeadLetters(t.Context(), "q", 0); err != nil {
					t.Fatal(err)
				}
			}
			dl := dls[0]
			if dl.ID != "poison" || dl.Reason != runtime.ReasonDeliveryLimit || dl.Task != "tasks.Crash" || string(dl.Body) != string(body) {
				t.Fatalf("dead letter %+v, want poison, delivery_limit, tasks.Crash, its body", dl)
			}
			// The failure is recorded just after the dead letter is published.
			wctx, wcancel := context.WithTimeout(t.Context(), eventually)
			defer wcancel()
			rec, err := store.WaitRecord(wctx, "poison")
			if err != nil || rec.State != runtime.StateFailed || !strings.Contains(rec.Error, "delivery_limit") {
				t.Fatalf("record %+v, %v; want failed with delivery_limit", rec, err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			if ds, err := tr.Fetch(ctx, runtime.FetchRequest{Queues: []string{"q"}, Max: 1}); len(ds) > 0 || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Fetch after the dead letter = %d deliveries, %v", len(ds), err)
			}
		})
	}
}

// echo is the task the worker tests run.
type echoArgs struct {
	N int `json:"n"`
}

func (a *echoArgs) MarshalTask() ([]byte, error)    { return json.Marshal(a) }
func (a *echoArgs) UnmarshalTask(data []byte) error { return json.Unmarshal(data, a) }

func echoTask(queue string, retries int) *runtime.Task[runtime.None] {
	return &runtime.Task[runtime.None]{
		Def: runtime.TaskDef{
			Name: "amqptest.Echo", Queue: queue, Priority: runtime.DefaultPriority, Retries: retries,
			BackoffMin: time.Millisecond, BackoffMax: 10 * time.Millisecond, Fingerprint: "echo-v1",
		},
		MarshalResult: runtime.MarshalNone, UnmarshalResult: runtime.UnmarshalNone,
	}
}

// runWorker runs w until the test ends.
func runWorker(t *testing.T, w *runtime.Worker) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker Run: %v", err)
		}
	})
}

// A poison task, whose handler always panics, is retried and then
// dead-lettered with its reason; the others keep flowing, and the
// handle of the poison task returns its failure.
func TestPoisonTaskDeadLettered(t *testing.T) {
	t.Parallel()
	store := memory.New()
	defer store.Close()
	tr := newTransport(t, amqp.Config{Store: store}).WithStore()
	const retries = 2
	task := echoTask("jobs", retries)
	var mu sync.Mutex
	runs := make(map[int]int)
	w := runtime.NewWorker(tr, runtime.WorkerConfig{Queues: []string{"jobs"}, Concurrency: 4, Logger: quiet})
	err := runtime.Register(w, task, func(_ context.Context, a *echoArgs) (runtime.None, error) {
		mu.Lock()
		runs[a.N]++
		mu.Unlock()
		if a.N == 0 {
			panic("poison")
		}
		return runtime.None{}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c := runtime.NewClient(tr)
	var handles []*runtime.Handle[runtime.None]
	for n := range 5 {
		h, err := runtime.Enqueue(t.Context(), c, task, &echoArgs{N: n})
		if err != nil {
			t.Fatal(err)
		}
		handles = append(handles, h)
	}
	runWorker(t, w)
	for n, h := range handles {
		ctx, cancel := context.WithTimeout(t.Context(), eventually)
		_, err := h.Get(ctx)
		cancel()
		switch {
		case n == 0 && (err == nil || !strings.Contains(err.Error(), "panicked")):
			t.Fatalf("poison task: Get = %v, want its panic", err)
		case n > 0 && err != nil:
			t.Fatalf("task %d: %v", n, err)
		}
	}
	dls, err := tr.DeadLetters(t.Context(), "jobs", 0)
	if err != nil || len(dls) != 1 {
		t.Fatalf("DeadLetters = %+v, %v; want the poison task", dls, err)
	}
	if dls[0].Reason != runtime.ReasonPanicked || dls[0].Attempts != retries+1 || !strings.Contains(dls[0].Error, "poison") {
		t.Fatalf("dead letter %+v, want reason panicked after %d attempts", dls[0], retries+1)
	}
	mu.Lock()
	defer mu.Unlock()
	if runs[0] != retries+1 {
		t.Fatalf("poison handler ran %d times, want %d", runs[0], retries+1)
	}
}

// Without a store, waiting for a result is a clear error, not a hang.
func TestNoStoreIsAnError(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, amqp.Config{})
	if _, ok := tr.WithStore().(runtime.Store); ok {
		t.Fatalf("a transport without a store presents itself as a store")
	}
	c := runtime.NewClient(tr)
	h, err := runtime.Enqueue(t.Context(), c, echoTask("q", 0), &echoArgs{N: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), eventually)
	defer cancel()
	if _, err := h.Get(ctx); !errors.Is(err, runtime.ErrNoStore) {
		t.Fatalf("Get without a store: %v, want runtime.ErrNoStore", err)
	}
}

// With a prefetch smaller than what a Fetch asks for, the consumer runs
// out of credit; Fetch then takes the rest with basic.get, in priority
// order, rather than wait for acks.
func TestFetchBeyondPrefetch(t *testing.T) {
	t.Parallel()
	for _, qt := range queueTypes {
		t.Run(string(qt), func(t *testing.T) {
			t.Parallel()
			tr := newTransport(t, amqp.Config{QueueType: qt, Prefetch: 2})
			for i := range 8 {
				publish(t, tr, &runtime.Message{ID: fmt.Sprint("m", i), Queue: "q", Priority: i})
			}
			var got []int
			for len(got) < 8 {
				ctx, cancel := context.WithTimeout(t.Context(), eventually)
				ds, err := tr.Fetch(ctx, runtime.FetchRequest{Queues: []string{"q"}, Max: 8, Lease: time.Minute})
				cancel()
				if err != nil {
					t.Fatalf("Fetch after %d: %v", len(got), err)
				}
				for _, d := range ds {
					got = append(got, d.Priority)
				}
			}
			if !slices.IsSortedFunc(got, func(a, b int) int { return b - a }) {
				t.Fatalf("priorities delivered in order %v, want highest first", got)
			}
			if s, err := tr.Stats(t.Context(), "q"); err != nil || s.Active != 8 || s.Pending != 0 {
				t.Fatalf("Stats = %+v, %v; want 8 active", s, err)
			}
		})
	}
}

// failingClaims is a store whose ID claims fail for IDs containing "bad".
type failingClaims struct{ runtime.Store }

var errClaim = errors.New("claim refused")

func (s failingClaims) PutNX(ctx context.Context, key string, v []byte, ttl time.Duration) (bool, error) {
	if strings.Contains(key, "bad") {
		return false, errClaim
	}
	return s.Store.PutNX(ctx, key, v, ttl)
}

// In a batch, an ID that comes again gets its first occurrence's failure,
// not ErrDuplicateTask, when that one could not claim the ID: no task
// holds it.
func TestPublishBatchRepeatedIDClaimFails(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, amqp.Config{QueueType: amqp.Classic, Store: failingClaims{memory.New()}})
	msgs := []*runtime.Message{
		{ID: "bad1", Queue: "q", Priority: 5},
		{ID: "ok1", Queue: "q", Priority: 5},
		{ID: "bad1", Queue: "q", Priority: 5},
		{ID: "ok1", Queue: "q", Priority: 5},
	}
	errs := tr.PublishBatch(t.Context(), msgs)
	for i, want := range []error{errClaim, nil, errClaim, runtime.ErrDuplicateTask} {
		if want == nil && errs[i] != nil || want != nil && !errors.Is(errs[i], want) {
			t.Errorf("message %d (%s): %v, want %v", i, msgs[i].ID, errs[i], want)
		}
	}
}

// The batch publisher keeps the order of a batch and reports each
// message's outcome.
func TestPublishBatch(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, amqp.Config{QueueType: amqp.Classic, ConfirmWindow: 8, Store: memory.New(), CloseStore: true})
	var msgs []*runtime.Message
	for i := range 40 {
		msgs = append(msgs, &runtime.Message{ID: fmt.Sprint("m", i), Queue: "q", Priority: 5})
	}
	msgs = append(msgs, &runtime.Message{ID: "m3", Queue: "q", Priority: 5}) // a duplicate
	errs := tr.PublishBatch(t.Context(), msgs)
	for i, err := range errs[:40] {
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if !errors.Is(errs[40], runtime.ErrDuplicateTask) {
		t.Fatalf("duplicate in the batch: %v, want runtime.ErrDuplicateTask", errs[40])
	}
	for i := range 40 {
		d := fetchOne(t, tr, time.Minute, "q")
		if want := fmt.Sprint("m", i); d.ID != want {
			t.Fatalf("delivery %d is %s, want %s", i, d.ID, want)
		}
	}
}

// Requeueing a dead letter publishes it again and removes it; purging
// removes the rest.
func TestInspector(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, amqp.Config{})
	for i := range 3 {
		publish(t, tr, &runtime.Message{ID: fmt.Sprint("m", i), Queue: "q", Priority: 7, Body: []byte{byte(i)}})
		d := fetchOne(t, tr, time.Minute, "q")
		if err := tr.DeadLetter(t.Context(), d, runtime.DeadLetter{Reason: runtime.ReasonFailed, Error: "boom"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.RequeueDeadLetter(t.Context(), "q", "nope"); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("RequeueDeadLetter of a missing letter: %v, want runtime.ErrNotFound", err)
	}
	if err := tr.RequeueDeadLetter(t.Context(), "q", "m1"); err != nil {
		t.Fatalf("RequeueDeadLetter: %v", err)
	}
	d := fetchOne(t, tr, time.Minute, "q")
	if d.ID != "m1" || d.Priority != 7 || d.Deliveries != 1 || string(d.Body) != "\x01" {
		t.Fatalf("requeued delivery %+v", d)
	}
	dls, err := tr.DeadLetters(t.Context(), "q", 0)
	if err != nil || len(dls) != 2 || dls[0].ID != "m0" || dls[1].ID != "m2" {
		t.Fatalf("DeadLetters after requeue = %+v, %v; want m0 and m2 in order", dls, err)
	}
	if n, err := tr.PurgeDeadLetters(t.Context(), "q"); n != 2 || err != nil {
		t.Fatalf("PurgeDeadLetters = %d, %v; want 2", n, err)
	}
	if s, err := tr.Stats(t.Context(), "q"); err != nil || s.Dead != 0 || s.Active != 1 {
		t.Fatalf("Stats = %+v, %v", s, err)
	}
}

// A stale copy of a message, settled after its task ID was freed and
// claimed again by a new publish, leaves the new claim alone: a third
// publish of the ID is still a duplicate.
func TestStaleCopyKeepsNewClaim(t *testing.T) {
	t.Parallel()
	store := memory.New()
	t.Cleanup(func() { store.Close() })
	tr := newTransport(t, amqp.Config{QueueType: amqp.Classic, Store: store})
	ctx := t.Context()
	publish(t, tr, &runtime.Message{ID: "x", Queue: "q", Priority: 5, Body: []byte("one")})
	token, err := store.Get(ctx, "amqp.task:x")
	if err != nil {
		t.Fatalf("the claim of x: %v", err)
	}
	if err := tr.Ack(ctx, fetchOne(t, tr, time.Minute, "q")); err != nil {
		t.Fatal(err)
	}
	publish(t, tr, &runtime.Message{ID: "x", Queue: "q", Priority: 5, Body: []byte("two")})

	// A copy of the first message, as a nack's copy delivered beside its
	// original would be.
	queues, _ := tr.Objects("q")
	err = rawChannel(t).PublishWithContext(ctx, "", queues[0], true, false, amqp091.Publishing{
		MessageId: "x", Priority: 5, Body: []byte("stale"),
		Headers: amqp091.Table{"x-taskgen-guard": string(token)},
	})
	if err != nil {
		t.Fatal(err)
	}

	var held, stale *runtime.Delivery
	for held == nil || stale == nil {
		d := fetchOne(t, tr, time.Minute, "q")
		switch string(d.Body) {
		case "stale":
			stale = d
		case "two":
			held = d
		default:
			t.Fatalf("delivered %q", d.Body)
		}
	}
	if err := tr.Ack(ctx, stale); err != nil {
		t.Fatal(err)
	}
	err = tr.Publish(ctx, &runtime.Message{ID: "x", Queue: "q", Priority: 5, Body: []byte("three")})
	if !errors.Is(err, runtime.ErrDuplicateTask) {
		t.Fatalf("publish of x while its second message is held: %v, want runtime.ErrDuplicateTask", err)
	}
	if err := tr.Ack(ctx, held); err != nil {
		t.Fatal(err)
	}
	publish(t, tr, &runtime.Message{ID: "x", Queue: "q", Priority: 5, Body: []byte("four")})
}

// Batches that share a publishing channel and together outnumber its
// confirm window all complete: a confirm frees its place in the window
// whoever waits for it.
func TestPublishBatchesShareChannel(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, amqp.Config{QueueType: amqp.Classic, ConfirmWindow: 8, PublishChannels: 1})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	const batches, size = 4, 100
	var wg sync.WaitGroup
	var failed atomic.Int32
	for b := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msgs := make([]*runtime.Message, size)
			for i := range msgs {
				msgs[i] = &runtime.Message{ID: fmt.Sprintf("b%d-%d", b, i), Queue: "q", Priority: 5}
			}
			for i, err := range tr.PublishBatch(ctx, msgs) {
				if err != nil && failed.Add(1) == 1 {
					t.Errorf("batch %d, message %d: %v", b, i, err)
				}
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d messages failed", n, batches*size)
	}
	expectPending(t, tr, "q", batches*size)
}

// frozenTransport returns a transport whose connection goes through a
// proxy, and the proxy; the publishing channels are open.
func frozenTransport(t *testing.T, cfg amqp.Config) (*amqp.Transport, *tcpproxy.Proxy) {
	t.Helper()
	broker := testenv.AMQPURL(t)
	p := newProxy(t, brokerAddr(t, broker))
	cfg.URL = proxiedURL(t, p, broker)
	cfg.QueueType = amqp.Classic
	cfg.Heartbeat = time.Minute // no heartbeat timeout while frozen
	tr := newTransport(t, cfg)
	for i := range max(cfg.PublishChannels, amqp.DefaultPublishChannels) {
		publish(t, tr, &runtime.Message{ID: fmt.Sprint("warm", i), Queue: "q", Priority: 5})
	}
	t.Cleanup(p.Thaw) // before the proxy closes
	return tr, p
}

// A batch whose confirms do not come waits one confirmGrace (5s) past its
// ctx for all of them, not one per message.
func TestPublishBatchWaitsOneGrace(t *testing.T) {
	t.Parallel()
	tr, p := frozenTransport(t, amqp.Config{})
	p.Freeze()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	msgs := make([]*runtime.Message, 6)
	for i := range msgs {
		msgs[i] = &runtime.Message{ID: fmt.Sprint("m", i), Queue: "q", Priority: 5}
	}
	start := time.Now()
	errs := tr.PublishBatch(ctx, msgs)
	took := time.Since(start)
	for i, err := range errs {
		if !errors.Is(err, amqp.ErrUnconfirmed) {
			t.Errorf("message %d with the broker silent: %v, want amqp.ErrUnconfirmed", i, err)
		}
	}
	// 1s of ctx and 5s of grace; one grace per message would be 31s.
	if took > 20*time.Second {
		t.Fatalf("PublishBatch took %v with a 1s ctx, want its ctx and one grace", took)
	}
}

// With a confirm window of 1, a batch still waits for each confirm, and
// one that never came does not hold the window after the broker answers.
func TestPublishBatchWindowOne(t *testing.T) {
	t.Parallel()
	tr, p := frozenTransport(t, amqp.Config{ConfirmWindow: 1, PublishChannels: 1})
	p.Freeze()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	errs := tr.PublishBatch(ctx, []*runtime.Message{{ID: "m1", Queue: "q", Priority: 5}})
	if !errors.Is(errs[0], amqp.ErrUnconfirmed) {
		t.Fatalf("PublishBatch with the broker silent: %v, want amqp.ErrUnconfirmed", errs[0])
	}
	p.Thaw()
	ctx, cancel = context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := tr.Publish(ctx, &runtime.Message{ID: "m2", Queue: "q", Priority: 5}); err != nil {
		t.Fatalf("Publish once the broker answers again: %v", err)
	}
	if errs := tr.PublishBatch(ctx, []*runtime.Message{{ID: "m3", Queue: "q", Priority: 5}, {ID: "m4", Queue: "q", Priority: 5}}); errs[0] != nil || errs[1] != nil {
		t.Fatalf("PublishBatch once the broker answers again: %v", errs)
	}
}

// expectPending waits until queue holds n messages ready.
func expectPending(t *testing.T, tr *amqp.Transport, queue string, n int) {
	t.Helper()
	var s runtime.QueueStats
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if s, err = tr.Stats(t.Context(), queue); err == nil && s.Pending == n {
			return
		}
	}
	t.Fatalf("Stats(%s) = %+v, %v; want %d pending", queue, s, err, n)
}

// A publish that must open a channel while the broker does not answer
// gives up when its ctx is done, and the channel opens for the next
// publish once the broker answers again.
func TestPublishChannelOpenHonoursCtx(t *testing.T) {
	t.Parallel()
	tr, p := frozenTransport(t, amqp.Config{PublishChannels: 1})
	// A publish to a delay exchange deleted behind the transport's back
	// closes the publishing channel.
	_, exchanges := tr.Objects("q")
	ch := rawChannel(t)
	for _, x := range exchanges {
		if err := ch.ExchangeDelete(x, false, false); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := tr.Publish(ctx, &runtime.Message{ID: "late", Queue: "q", Priority: 5, ETA: time.Now().Add(time.Hour)}); err == nil {
		t.Fatal("Publish to a deleted delay exchange succeeded")
	}
	p.Freeze()
	ctx, cancel = context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	start := time.Now()
	err := tr.Publish(ctx, &runtime.Message{ID: "m1", Queue: "q", Priority: 5})
	if took := time.Since(start); err == nil || took > 8*time.Second {
		t.Fatalf("Publish with the broker silent: %v after %v; want an error once its 1s ctx is done", err, took)
	}
	p.Thaw()
	ctx, cancel = context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := tr.Publish(ctx, &runtime.Message{ID: "m2", Queue: "q", Priority: 5}); err != nil {
		t.Fatalf("Publish once the broker answers again: %v", err)
	}
}
