package transporttest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

// runWorkerCases runs a runtime.Worker on the transport and checks what
// only a whole worker shows: bad input is dead-lettered with its reason
// while other tasks keep flowing, and a task held by a worker that died is
// run by another once its lease lapses.
func runWorkerCases(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	t.Helper()
	t.Run("worker", func(t *testing.T) {
		t.Parallel()
		t.Run("RunsEnqueuedTasks", func(t *testing.T) {
			t.Parallel()
			testWorkerRunsEnqueuedTasks(t, factory)
		})
		t.Run("DeadLettersBadInputAndKeepsFlowing", func(t *testing.T) {
			t.Parallel()
			testWorkerDeadLettersBadInput(t, factory)
		})
		t.Run("RerunsTaskOfDeadWorker", func(t *testing.T) {
			t.Parallel()
			testWorkerRerunsTaskOfDeadWorker(t, factory)
		})
	})
}

// echoArgs is the payload of the suite's task; the suite cannot depend on
// generated code, so it encodes with encoding/json, as generated code would
// encode the same struct.
type echoArgs struct {
	N int `json:"n"`
}

func (a *echoArgs) MarshalTask() ([]byte, error)    { return json.Marshal(a) }
func (a *echoArgs) UnmarshalTask(data []byte) error { return json.Unmarshal(data, a) }

// workerBundle is a transport with a worker whose one task records the
// numbers it was given.
type workerBundle struct {
	*bundle
	task   *runtime.Task[runtime.None]
	client *runtime.Client
	worker *runtime.Worker
	mu     sync.Mutex
	seen   map[int]int // n → runs
	ran    chan int
}

func setupWorker(t *testing.T, factory func(t *testing.T) runtime.Transport, lease time.Duration) *workerBundle {
	t.Helper()
	b := setup(t, factory)
	wb := &workerBundle{
		bundle: b,
		task: &runtime.Task[runtime.None]{
			Def: runtime.TaskDef{
				Name: "transporttest.Echo", Queue: b.queue, Priority: runtime.DefaultPriority,
				BackoffMin: time.Millisecond, BackoffMax: time.Millisecond, Fingerprint: "echo-v1",
			},
			MarshalResult: runtime.MarshalNone, UnmarshalResult: runtime.UnmarshalNone,
		},
		client: runtime.NewClient(b.tr),
		seen:   make(map[int]int),
		ran:    make(chan int, 1024),
	}
	wb.worker = runtime.NewWorker(b.tr, runtime.WorkerConfig{
		Queues: []string{b.queue}, Concurrency: 4, Lease: lease,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	err := runtime.Register(wb.worker, wb.task, func(_ context.Context, a *echoArgs) (runtime.None, error) {
		wb.mu.Lock()
		wb.seen[a.N]++
		wb.mu.Unlock()
		wb.ran <- a.N
		return runtime.None{}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return wb
}

// start runs the worker until the case ends.
func (wb *workerBundle) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- wb.worker.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker Run: %v", err)
		}
	})
}

func (wb *workerBundle) enqueue(t *testing.T, n int) {
	t.Helper()
	if _, err := runtime.Enqueue(t.Context(), wb.client, wb.task, &echoArgs{N: n}); err != nil {
		t.Fatalf("enqueue %d: %v", n, err)
	}
}

// awaitRuns waits until the handler has run for every n in want.
func (wb *workerBundle) awaitRuns(t *testing.T, want ...int) {
	t.Helper()
	missing := make(map[int]bool)
	for _, n := range want {
		missing[n] = true
	}
	timeout := time.After(eventually)
	for len(missing) > 0 {
		select {
		case n := <-wb.ran:
			delete(missing, n)
		case <-timeout:
			t.Fatalf("tasks never ran: %v", missing)
		}
	}
}

// publishRaw publishes a hand-built envelope (or body) to the case's queue.
func (wb *workerBundle) publishRaw(t *testing.T, id string, body []byte) {
	t.Helper()
	wb.publish(t, &runtime.Message{ID: id, Queue: wb.queue, Priority: runtime.DefaultPriority, Body: body})
}

func testWorkerRunsEnqueuedTasks(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	wb := setupWorker(t, factory, longLease)
	wb.start(t)
	var want []int
	for n := range 50 {
		wb.enqueue(t, n)
		want = append(want, n)
	}
	wb.awaitRuns(t, want...)
	waitFor(t, "every task acked", func() bool {
		s := wb.stats(t, wb.queue)
		return s.Pending == 0 && s.Active == 0 && s.Delayed == 0
	})
	wb.mu.Lock()
	defer wb.mu.Unlock()
	for n, runs := range wb.seen {
		if runs != 1 {
			t.Errorf("task %d ran %d times", n, runs)
		}
	}
}

func testWorkerDeadLettersBadInput(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	wb := setupWorker(t, factory, longLease)
	env := func(task, fingerprint, payload string) []byte {
		return (&runtime.Envelope{
			ID: "x", Task: task, Queue: wb.queue, Fingerprint: fingerprint, Payload: []byte(payload),
			EnqueuedAt: time.Now(),
		}).Marshal()
	}
	bad := map[string]struct {
		body   []byte
		reason runtime.Reason
		says   []string
	}{
		"malformed":   {[]byte("{not an envelope"), runtime.ReasonMalformed, []string{"malformed envelope"}},
		"unknown":     {env("transporttest.Nope", "echo-v1", `{"n":1}`), runtime.ReasonUnknownTask, []string{"transporttest.Nope", wb.queue}},
		"schema":      {env("transporttest.Echo", "echo-v0", `{"n":1}`), runtime.ReasonSchemaMismatch, []string{"echo-v0", "echo-v1"}},
		"undecodable": {env("transporttest.Echo", "echo-v1", `{"n":"one"}`), runtime.ReasonUndecodable, []string{"transporttest.Echo", "decode payload"}},
	}
	// Bad messages interleaved with good ones, all before the worker starts.
	n := 0
	for id, m := range bad {
		wb.enqueue(t, n)
		n++
		wb.publishRaw(t, wb.queue+"-"+id, m.body)
	}
	for range 10 {
		wb.enqueue(t, n)
		n++
	}
	wb.start(t)
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	wb.awaitRuns(t, want...)

	var dls []runtime.DeadLetter
	defer func() {
		// None of the bad messages reached the handler (the schema
		// mismatch carries n=1, as a good task does).
		wb.mu.Lock()
		defer wb.mu.Unlock()
		for n, runs := range wb.seen {
			if runs != 1 {
				t.Errorf("task %d ran %d times; a bad message was decoded and run", n, runs)
			}
		}
	}()
	waitFor(t, "4 dead letters", func() bool {
		var err error
		dls, err = wb.tr.DeadLetters(t.Context(), wb.queue, 100)
		if err != nil {
			t.Fatalf("DeadLetters: %v", err)
		}
		return len(dls) >= len(bad)
	})
	if len(dls) != len(bad) {
		t.Fatalf("got %d dead letters, want %d: %+v", len(dls), len(bad), dls)
	}
	for _, dl := range dls {
		id := strings.TrimPrefix(dl.ID, wb.queue+"-")
		m, ok := bad[id]
		if !ok {
			t.Errorf("unexpected dead letter %+v", dl)
			continue
		}
		if dl.Reason != m.reason {
			t.Errorf("%s: reason %q, want %q", id, dl.Reason, m.reason)
		}
		for _, s := range m.says {
			if !strings.Contains(dl.Error, s) {
				t.Errorf("%s: error %q does not mention %q", id, dl.Error, s)
			}
		}
		if string(dl.Body) != string(m.body) {
			t.Errorf("%s: dead letter does not keep the body as received", id)
		}
	}
	waitFor(t, "queue settled", func() bool {
		s := wb.stats(t, wb.queue)
		return s.Pending == 0 && s.Active == 0 && s.Dead == len(bad)
	})
}

func testWorkerRerunsTaskOfDeadWorker(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	wb := setupWorker(t, factory, time.Second)
	wb.enqueue(t, 7)
	// A worker that fetched the task and died: its lease is never renewed.
	// The lease starts during the fetch, no earlier than this; a broker
	// starts it before the fetch returns.
	start := time.Now()
	ds := wb.fetch(t, 1, 500*time.Millisecond, wb.queue)
	wb.start(t)
	wb.awaitRuns(t, 7)
	if since := time.Since(start); since < 500*time.Millisecond {
		t.Fatalf("task rerun %v after the dead worker's fetch began, before its lease lapsed", since)
	}
	if err := wb.tr.Ack(t.Context(), ds[0]); err == nil {
		t.Fatalf("the dead worker's stale lease acked %s", ds[0].ID)
	}
}
