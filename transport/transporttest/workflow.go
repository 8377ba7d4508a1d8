package transporttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

// RunWorkflows runs the workflow semantics against the transports factory
// returns, which must also be runtime.WorkflowStores (a Redis transport, or
// a RabbitMQ transport given a store): chains, groups, chords, Map, Chunks,
// nesting, failures, error callbacks, a duplicated header task and a large
// chord, each with exact expected results. Every case runs in parallel.
func RunWorkflows(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	t.Helper()
	t.Run("workflow", func(t *testing.T) {
		t.Parallel()
		for name, run := range map[string]func(*testing.T, func(*testing.T) runtime.Transport){
			"Shapes":             testWorkflowShapes,
			"ChainFailure":       testWorkflowChainFailure,
			"ChordMemberFailure": testWorkflowChordMemberFailure,
			"DuplicateHeader":    testWorkflowDuplicateHeader,
			"Large":              testWorkflowLarge,
			"OnError":            testWorkflowOnError,
			"Cancel":             testWorkflowCancel,
			"CancelTask":         testCancelTask,
			"CancelLog":          testCancelLog,
			"Parent":             testWorkflowParent,
			"StagePipeline":      testWorkflowStagePipeline,
			"NoHangs":            testWorkflowNoHangs,
		} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				run(t, factory)
			})
		}
	})
}

// addArgs is the payload of the arithmetic tasks.
type addArgs struct {
	A int `json:"a"`
	B int `json:"b"`
}

func (a *addArgs) MarshalTask() ([]byte, error)    { return json.Marshal(a) }
func (a *addArgs) UnmarshalTask(data []byte) error { return json.Unmarshal(data, a) }

// sumArgs is the payload of a task that takes a slice, like a chord body.
type sumArgs struct {
	Xs []int `json:"xs"`
}

func (a *sumArgs) MarshalTask() ([]byte, error)    { return json.Marshal(a) }
func (a *sumArgs) UnmarshalTask(data []byte) error { return json.Unmarshal(data, a) }

// flowBundle is a worker with arithmetic tasks for workflows, which records
// every run.
type flowBundle struct {
	tr             runtime.Transport
	c              *runtime.Client
	w              *runtime.Worker
	queue          string
	add, mul, fail *runtime.Task[int]
	sum            *runtime.Task[int]
	// block waits for gate, or for its ctx to end, whose cause it sends
	// on causes; started gets its argument when it starts.
	block    *runtime.Task[int]
	gate     chan struct{}
	gateOnce sync.Once
	started  chan int
	causes   chan error
	// cbFail is an error callback that fails.
	cbFail    *runtime.Task[runtime.None]
	mu        sync.Mutex
	runs      []string       // "task(args)"
	chunkMsgs map[string]int // message ID → calls, for Chunks
}

func setupFlow(t *testing.T, factory func(t *testing.T) runtime.Transport) *flowBundle {
	t.Helper()
	return setupFlowWith(t, factory, flowConfig{})
}

// flowConfig changes what setupFlowWith sets up.
type flowConfig struct {
	// wrap, when not nil, wraps the transport the client and the worker
	// use.
	wrap func(runtime.Transport) runtime.Transport
	// concurrency is the worker's; zero is 8.
	concurrency int
}

// setupFlowWith is setupFlow as cfg says.
func setupFlowWith(t *testing.T, factory func(t *testing.T) runtime.Transport, cfg flowConfig) *flowBundle {
	t.Helper()
	base := setup(t, factory)
	if _, ok := base.tr.(runtime.WorkflowStore); !ok {
		t.Fatalf("%T is not a runtime.WorkflowStore; give the transport a store that runs workflows", base.tr)
	}
	tr := base.tr
	if cfg.wrap != nil {
		tr = cfg.wrap(tr)
	}
	if cfg.concurrency == 0 {
		cfg.concurrency = 8
	}
	b := &flowBundle{
		tr: tr, c: runtime.NewClient(tr), queue: base.queue, chunkMsgs: make(map[string]int),
		w:    runtime.NewWorker(tr, runtime.WorkerConfig{Queues: []string{base.queue}, Concurrency: cfg.concurrency, Logger: quietLogger()}),
		gate: make(chan struct{}), started: make(chan int, 100), causes: make(chan error, 100),
	}
	b.add = flowTask("flow.Add", b.queue)
	b.mul = flowTask("flow.Mul", b.queue)
	b.fail = flowTask("flow.Fail", b.queue)
	b.sum = flowTask("flow.Sum", b.queue)
	record := func(name string, args any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		a, _ := json.Marshal(args)
		b.runs = append(b.runs, name+string(a))
	}
	register(t, b.w, b.add, func(_ context.Context, a *addArgs) (int, error) {
		// Later members finish first, so results must be put in order.
		time.Sleep(time.Duration(10-min(a.A, 10)) * time.Millisecond)
		record("add", a)
		return a.A + a.B, nil
	})
	register(t, b.w, b.mul, func(ctx context.Context, a *addArgs) (int, error) {
		if info, _ := runtime.Info(ctx); info.Headers["chunked"] == "yes" {
			b.mu.Lock()
			b.chunkMsgs[info.ID]++
			b.mu.Unlock()
		}
		record("mul", a)
		return a.A * a.B, nil
	})
	register(t, b.w, b.fail, func(_ context.Context, a *addArgs) (int, error) {
		record("fail", a)
		return 0, runtime.Permanent(fmt.Errorf("cannot do %d", a.A))
	})
	b.block = flowTask("flow.Block", b.queue)
	register(t, b.w, b.block, func(ctx context.Context, a *addArgs) (int, error) {
		record("block", a)
		b.started <- a.A
		select {
		case <-b.gate:
			return a.A, nil
		case <-ctx.Done():
			b.causes <- context.Cause(ctx)
			return 0, ctx.Err()
		}
	})
	b.cbFail = &runtime.Task[runtime.None]{
		Def:           runtime.TaskDef{Name: "flow.CallbackFails", Queue: b.queue, Priority: 5, Fingerprint: "fp-cbfail"},
		MarshalResult: runtime.MarshalNone, UnmarshalResult: runtime.UnmarshalNone,
	}
	register(t, b.w, b.cbFail, func(_ context.Context, a *failureArgs) (runtime.None, error) {
		record("cbfail", a.F.Task)
		return runtime.None{}, runtime.Permanent(errors.New("the callback fails too"))
	})
	if err := runtime.Register(b.w, b.sum, func(_ context.Context, a *sumArgs) (int, error) {
		record("sum", a)
		total := 0
		for _, x := range a.Xs {
			total += x
		}
		return total, nil
	}); err != nil {
		t.Fatal(err)
	}
	startWorker(t, b.w)
	// Before the worker stops (cleanups run last first): blocked
	// handlers return.
	t.Cleanup(b.release)
	return b
}

// release lets every block task return.
func (b *flowBundle) release() { b.gateOnce.Do(func() { close(b.gate) }) }

func flowTask(name, queue string) *runtime.Task[int] {
	return &runtime.Task[int]{
		Def: runtime.TaskDef{
			Name: name, Queue: queue, Priority: runtime.DefaultPriority,
			BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond, Fingerprint: "fp-" + name,
		},
		MarshalResult:   marshalJSON[int],
		UnmarshalResult: unmarshalJSON[int],
	}
}

func unmarshalJSON[T any](b []byte) (T, error) {
	var v T
	err := json.Unmarshal(b, &v)
	return v, err
}

func register[A any, PA interface {
	*A
	runtime.Payload
}, R any](t *testing.T, w *runtime.Worker, task *runtime.Task[R], fn func(context.Context, PA) (R, error)) {
	t.Helper()
	if err := runtime.Register(w, task, fn); err != nil {
		t.Fatal(err)
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startWorker runs w until the case ends.
func startWorker(t *testing.T, w *runtime.Worker) {
	t.Helper()
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

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), eventually)
	t.Cleanup(cancel)
	return ctx
}

func asTaskError(t *testing.T, err error) *runtime.TaskError {
	t.Helper()
	var te *runtime.TaskError
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T) is not a *runtime.TaskError", err, err)
	}
	return te
}

func (b *flowBundle) addSig(a, c int) runtime.Sig[int] {
	return runtime.NewSig(b.add, &addArgs{A: a, B: c})
}
func (b *flowBundle) failSig(a int) runtime.Sig[int] { return runtime.NewSig(b.fail, &addArgs{A: a}) }

// addStep adds c to the previous result; mulStep multiplies it by c.
func (b *flowBundle) addStep(c int) runtime.Step[int, int] {
	return runtime.NewStep(b.add, "a", &addArgs{B: c}, marshalJSON[int])
}
func (b *flowBundle) mulStep(c int) runtime.Step[int, int] {
	return runtime.NewStep(b.mul, "a", &addArgs{B: c}, marshalJSON[int])
}
func (b *flowBundle) sumStep() runtime.Step[[]int, int] {
	return runtime.NewStep(b.sum, "xs", &sumArgs{}, marshalJSON[[]int])
}

func marshalJSON[T any](v T) ([]byte, error) { return json.Marshal(v) }

func (b *flowBundle) ran(prefix string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, r := range b.runs {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

func submit[R any](t *testing.T, b *flowBundle, sig runtime.Sig[R]) *runtime.Handle[R] {
	t.Helper()
	h, err := runtime.Submit(t.Context(), b.c, sig)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func testWorkflowShapes(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	b := setupFlow(t, factory)
	group := func(sigs ...runtime.Sig[int]) runtime.Sig[[]int] { return runtime.Group(sigs...) }
	chord := func(body runtime.Step[[]int, int], sigs ...runtime.Sig[int]) runtime.Sig[int] {
		return runtime.Chord(sigs, body)
	}
	ints := []struct {
		name string
		sig  runtime.Sig[int]
		want int
	}{
		{"task", b.addSig(2, 3), 5},
		{"then", runtime.Then(b.addSig(2, 3), b.mulStep(10)), 50},
		{"then of then", runtime.Then(runtime.Then(b.addSig(1, 1), b.mulStep(3)), b.addStep(4)), 10},
		{"seq", runtime.Seq(b.addSig(1, 1), b.addSig(40, 2)), 42},
		{"chord", chord(b.sumStep(), b.addSig(1, 0), b.addSig(2, 0), b.addSig(3, 0)), 6},
		{"empty chord", chord(b.sumStep()), 0},
		{"chord then step", runtime.Then(chord(b.sumStep(), b.addSig(1, 1), b.addSig(2, 2)), b.mulStep(10)), 60},
		{"chord of chains", chord(b.sumStep(), runtime.Then(b.addSig(1, 1), b.mulStep(5)), runtime.Then(b.addSig(2, 0), b.mulStep(100))), 210},
		{"chord in chord header", chord(b.sumStep(), chord(b.sumStep(), b.addSig(1, 0), b.addSig(2, 0)), b.addSig(10, 0)), 13},
		{"chord of a group's sum", runtime.Then(chord(b.sumStep(), b.addSig(5, 5), b.addSig(6, 6)), b.addStep(1)), 23},
		{"nested options", runtime.Then(b.addSig(1, 2), b.mulStep(2)).With(runtime.Priority(9), runtime.Header("k", "v")), 6},
	}
	for _, tc := range ints {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := submit(t, b, tc.sig).Get(waitCtx(t))
			if err != nil || got != tc.want {
				t.Fatalf("Get = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
	slicesCases := []struct {
		name string
		sig  runtime.Sig[[]int]
		want []int
	}{
		{"group in order", group(b.addSig(1, 0), b.addSig(2, 0), b.addSig(3, 0), b.addSig(9, 0)), []int{1, 2, 3, 9}},
		{"empty group", group(), []int{}},
		{"group of chains", group(runtime.Then(b.addSig(1, 0), b.mulStep(7)), b.addSig(3, 3), runtime.Seq(b.addSig(0, 0), b.addSig(4, 4))), []int{7, 6, 8}},
		{"chain ending in a group", runtime.Seq(b.addSig(1, 1), group(b.addSig(1, 1), b.addSig(2, 2))), []int{2, 4}},
	}
	for _, tc := range slicesCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := submit(t, b, tc.sig).Get(waitCtx(t))
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("Get = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	t.Run("map", func(t *testing.T) {
		t.Parallel()
		got, err := submit(t, b, runtime.Map(b.mulStep(3), []int{1, 2, 3, 4})).Get(waitCtx(t))
		if err != nil || !slices.Equal(got, []int{3, 6, 9, 12}) {
			t.Fatalf("Get = %v, %v", got, err)
		}
	})
	t.Run("chunks", func(t *testing.T) {
		t.Parallel()
		items := []int{1, 2, 3, 4, 5, 6, 7}
		got, err := submit(t, b, runtime.Chunks(b.mulStep(10).With(runtime.Header("chunked", "yes")), items, 3)).Get(waitCtx(t))
		if err != nil || !slices.Equal(got, []int{10, 20, 30, 40, 50, 60, 70}) {
			t.Fatalf("Get = %v, %v", got, err)
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		var calls []int
		for _, n := range b.chunkMsgs {
			calls = append(calls, n)
		}
		slices.Sort(calls)
		if !slices.Equal(calls, []int{1, 3, 3}) {
			t.Fatalf("calls per message = %v, want 7 items in messages of 3, 3 and 1", calls)
		}
	})
	t.Run("map then chord body", func(t *testing.T) {
		t.Parallel()
		got, err := submit(t, b, runtime.Then(runtime.Map(b.addStep(1), []int{1, 2, 3}), b.sumStep())).Get(waitCtx(t))
		if err != nil || got != 9 {
			t.Fatalf("Get = %v, %v", got, err)
		}
	})
	t.Run("empty map and chunks", func(t *testing.T) {
		t.Parallel()
		for _, sig := range []runtime.Sig[[]int]{runtime.Map(b.mulStep(2), nil), runtime.Chunks(b.mulStep(2), nil, 5)} {
			got, err := submit(t, b, sig).Get(waitCtx(t))
			if err != nil || len(got) != 0 {
				t.Fatalf("Get = %v, %v", got, err)
			}
		}
	})
	t.Run("nested groups", func(t *testing.T) {
		t.Parallel()
		sig := runtime.Group(group(b.addSig(1, 0), b.addSig(2, 0)), group(), group(b.addSig(3, 0)))
		got, err := submit(t, b, sig).Get(waitCtx(t))
		if err != nil || fmt.Sprint(got) != "[[1 2] [] [3]]" {
			t.Fatalf("Get = %v, %v", got, err)
		}
	})
}

func testWorkflowChainFailure(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	b := setupFlow(t, factory)
	h := submit(t, b, runtime.Then(runtime.Then(b.addSig(1, 1), runtime.NewStep(b.fail, "a", &addArgs{}, marshalJSON[int])), b.mulStep(100)))
	_, err := h.Get(waitCtx(t))
	te := asTaskError(t, err)
	if te.Task != "flow.Fail" || te.Queue != b.queue || !strings.Contains(err.Error(), "cannot do 2") {
		t.Fatalf("error does not name the failed task and its cause: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := b.ran("mul"); n != 0 {
		t.Fatalf("a step after the failure ran %d times", n)
	}
}

func testWorkflowChordMemberFailure(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	b := setupFlow(t, factory)
	h := submit(t, b, runtime.Chord([]runtime.Sig[int]{b.addSig(1, 0), b.failSig(7), b.addSig(3, 0)}, b.sumStep()))
	_, err := h.Get(waitCtx(t))
	if te := asTaskError(t, err); te.Task != "flow.Fail" || !strings.Contains(err.Error(), "cannot do 7") {
		t.Fatalf("error does not name the failed member: %v", err)
	}
	deadline := time.Now().Add(eventually)
	for b.ran("add") < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if b.ran("add") != 2 {
		t.Fatalf("siblings of the failed member ran %d times, want 2", b.ran("add"))
	}
	time.Sleep(100 * time.Millisecond)
	if n := b.ran("sum"); n != 0 {
		t.Fatalf("the chord body ran %d times after a member failed", n)
	}
}

// A header task delivered twice is counted once, and the body runs once.
func testWorkflowDuplicateHeader(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	b := setupFlow(t, factory)
	h := submit(t, b, runtime.Chord([]runtime.Sig[int]{b.addSig(1, 0), b.addSig(2, 0)}, b.sumStep()))
	if got, err := h.Get(waitCtx(t)); err != nil || got != 3 {
		t.Fatalf("Get = %d, %v", got, err)
	}
	// Deliver header node 1 (the first member, add(1, 0)) again, as a
	// broker may after a lost ack.
	payload, _ := json.Marshal(&addArgs{A: 1})
	env := &runtime.Envelope{
		ID: "dup-1", Task: b.add.Def.Name, Queue: b.queue, Priority: 5, Fingerprint: b.add.Def.Fingerprint,
		Payload: payload, WorkflowID: h.ID(), NodeID: "1", EnqueuedAt: time.Now(),
	}
	if err := b.tr.Publish(t.Context(), &runtime.Message{ID: env.ID, Queue: b.queue, Priority: 5, Body: env.Marshal()}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(eventually)
	for b.ran(`add{"a":1,`) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if b.ran(`add{"a":1,`) != 2 {
		t.Fatal("the duplicate header task never ran")
	}
	time.Sleep(200 * time.Millisecond)
	if n := b.ran("sum"); n != 1 {
		t.Fatalf("the chord body ran %d times, want 1", n)
	}
}

func testWorkflowLarge(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	runLargeChord(t, factory, 1000, eventually)
}

// RunLargeWorkflow runs a chord of n header tasks and a body on the
// transports factory returns, and checks the body's result and that it ran
// once. It is apart from RunWorkflows because large n take a while.
func RunLargeWorkflow(t *testing.T, factory func(t *testing.T) runtime.Transport, n int) {
	t.Helper()
	t.Run(fmt.Sprintf("workflow/Chord%d", n), func(t *testing.T) {
		t.Parallel()
		runLargeChord(t, factory, n, 2*time.Minute)
	})
}

func runLargeChord(t *testing.T, factory func(t *testing.T) runtime.Transport, n int, timeout time.Duration) {
	b := setupFlowWith(t, factory, flowConfig{concurrency: 32})
	header := make([]runtime.Sig[int], n)
	want := 0
	for i := range header {
		header[i] = b.addSig(i+10, 1) // i+10: no sleep in the handler
		want += i + 11
	}
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	h, err := runtime.Submit(ctx, b.c, runtime.Chord(header, b.sumStep()))
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.Get(ctx)
	if err != nil || got != want {
		t.Fatalf("Get = %d, %v; want %d", got, err, want)
	}
	if b.ran("sum") != 1 || b.ran("add") != n {
		t.Fatalf("body ran %d times (want 1), header tasks %d times (want %d)", b.ran("sum"), b.ran("add"), n)
	}
}

// failureArgs is the payload of an error callback: its first parameter is
// the Failure.
type failureArgs struct {
	F    runtime.Failure `json:"f"`
	Note string          `json:"note"`
}

func (a *failureArgs) MarshalTask() ([]byte, error)    { return json.Marshal(a) }
func (a *failureArgs) UnmarshalTask(data []byte) error { return json.Unmarshal(data, a) }

func testWorkflowOnError(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	b := setupFlow(t, factory)
	cbTask := &runtime.Task[runtime.None]{
		Def:           runtime.TaskDef{Name: "flow.OnFail", Queue: b.queue + ".cb", Priority: 5, Fingerprint: "fp-onfail"},
		MarshalResult: runtime.MarshalNone, UnmarshalResult: runtime.UnmarshalNone,
	}
	got := make(chan failureArgs, 10)
	// Callbacks run on a queue of their own, served by a second worker.
	w2 := runtime.NewWorker(b.tr, runtime.WorkerConfig{Queues: []string{b.queue + ".cb"}, Logger: quietLogger()})
	if err := runtime.Register(w2, cbTask, func(_ context.Context, a *failureArgs) (runtime.None, error) {
		got <- *a
		return runtime.None{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w2.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	cb := runtime.NewStep(cbTask, "f", &failureArgs{Note: "alert"}, marshalJSON[runtime.Failure]).With(runtime.Queue(b.queue + ".cb"))
	// Two header members fail: the callback still runs once.
	sig := runtime.OnError(runtime.Chord([]runtime.Sig[int]{b.failSig(1), b.addSig(2, 0), b.failSig(3)}, b.sumStep()), cb)
	h := submit(t, b, sig)
	if _, err := h.Get(waitCtx(t)); err == nil || !strings.Contains(err.Error(), "cannot do") {
		t.Fatalf("Get = %v, want the member's failure", err)
	}
	select {
	case a := <-got:
		if a.Note != "alert" || a.F.Task != "flow.Fail" || a.F.WorkflowID != h.ID() || a.F.Attempts != 1 || !strings.Contains(a.F.Error, "cannot do") {
			t.Fatalf("callback got %+v", a)
		}
	case <-time.After(eventually):
		t.Fatal("the error callback never ran")
	}
	deadline := time.Now().Add(eventually)
	for b.ran("fail") < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(got); n != 0 {
		t.Fatalf("the error callback ran %d more times", n)
	}
}
