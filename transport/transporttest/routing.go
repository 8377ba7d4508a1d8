package transporttest

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"

	"github.com/taskgen/taskgen/runtime"
)

// RunRouting runs the routing cases against the transports factory returns,
// which must also be runtime.WorkflowStores, as for RunWorkflows: the six
// layers of routing in precedence order, the route kept in dead letters,
// the request context inherited through three hops and through a
// workflow, strict queue order under a backlog, and the share of each
// queue in the worker's weighted mode. Every case runs in parallel.
func RunRouting(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	t.Helper()
	t.Run("routing", func(t *testing.T) {
		t.Parallel()
		for name, run := range map[string]func(*testing.T, func(*testing.T) runtime.Transport){
			"Precedence":      testRoutingPrecedence,
			"RequestHops":     testRequestHops,
			"RequestWorkflow": testRequestWorkflow,
			"StrictOrder":     testStrictOrder,
			"Weighted":        testWeightedOrder,
		} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				run(t, factory)
			})
		}
	})
}

// routed is what a routing case's handler saw.
type routed struct {
	Queue, Route string
	Request      *runtime.Request
}

func (r routed) String() string {
	return fmt.Sprintf("queue %q route %q request %+v", r.Queue, r.Route, r.Request)
}

// routeBundle is a worker serving a case's queues, whose handlers record
// what they saw by task ID.
type routeBundle struct {
	tr     runtime.Transport
	queue  string
	w      *runtime.Worker
	mu     sync.Mutex
	seen   map[string]routed // by task ID
	order  []string          // queues in the order tasks ran
	notify chan struct{}
}

func setupRouting(t *testing.T, factory func(t *testing.T) runtime.Transport, cfg runtime.WorkerConfig) *routeBundle {
	t.Helper()
	base := setup(t, factory)
	for i, q := range cfg.Queues {
		cfg.Queues[i] = base.queue + "." + q
	}
	if cfg.Weights != nil {
		w := make(map[string]int, len(cfg.Weights))
		for q, n := range cfg.Weights {
			w[base.queue+"."+q] = n
		}
		cfg.Weights = w
	}
	cfg.Logger = quietLogger()
	return &routeBundle{
		tr: base.tr, queue: base.queue, w: runtime.NewWorker(base.tr, cfg),
		seen: make(map[string]routed), notify: make(chan struct{}, 1),
	}
}

// q returns the case's queue called name.
func (b *routeBundle) q(name string) string { return b.queue + "." + name }

// record notes the task running under ctx.
func (b *routeBundle) record(ctx context.Context) {
	info, _ := runtime.Info(ctx)
	b.mu.Lock()
	b.seen[info.ID] = routed{Queue: info.Queue, Route: info.Route, Request: info.Request}
	b.order = append(b.order, info.Queue)
	b.mu.Unlock()
	select {
	case b.notify <- struct{}{}:
	default:
	}
}

// runs returns the queues of the tasks run so far, in order.
func (b *routeBundle) runs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.order...)
}

// await waits until n tasks have run, failing the case after eventually.
func (b *routeBundle) await(t *testing.T, n int) map[string]routed {
	t.Helper()
	ctx := waitCtx(t)
	for {
		b.mu.Lock()
		got := len(b.order)
		seen := maps.Clone(b.seen)
		b.mu.Unlock()
		if got >= n {
			return seen
		}
		select {
		case <-b.notify:
		case <-ctx.Done():
			t.Fatalf("%d of %d tasks ran within %v; seen %v", got, n, eventually, seen)
		}
	}
}

func (b *routeBundle) client(t *testing.T, opts ...runtime.ClientOption) *runtime.Client {
	t.Helper()
	c, err := runtime.NewCheckedClient(b.tr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Each layer wins over the layers below it, and the route is recorded in
// the task's Info and in its dead letter.
func testRoutingPrecedence(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	b := setupRouting(t, factory, runtime.WorkerConfig{
		Queues: []string{"call", "policy", "rule", "router", "task", "fallback"}, Concurrency: 4,
	})
	daily := flowTask("reports.Daily", b.q("task"))
	load := flowTask("etl.Load", b.q("task"))
	bare := flowTask("misc.Bare", "") // no annotation queue
	broken := flowTask("reports.Broken", b.q("task"))
	for _, task := range []*runtime.Task[int]{daily, load, bare} {
		register(t, b.w, task, func(ctx context.Context, a *addArgs) (int, error) {
			b.record(ctx)
			return a.A, nil
		})
	}
	register(t, b.w, broken, func(ctx context.Context, a *addArgs) (int, error) {
		return 0, runtime.Permanent(fmt.Errorf("report %d is broken", a.A))
	})
	startWorker(t, b.w)
	c := b.client(t,
		runtime.WithQueues(b.q("call"), b.q("policy"), b.q("rule"), b.q("router"), b.q("task"), b.q("fallback")),
		runtime.WithDefaultQueue(b.q("fallback")),
		runtime.WithRoutes(runtime.Route("nomatch.*", b.q("call")), runtime.Route("reports.*", b.q("rule"))),
		runtime.WithRouter(func(def *runtime.TaskDef, args []byte) string {
			var a addArgs
			if a.UnmarshalTask(args) == nil && a.A == 4 {
				return b.q("router")
			}
			return ""
		}),
		runtime.WithPriorityPolicy(runtime.PriorityPolicy{
			"frontend": {b.q("rule"): {Queue: b.q("policy"), Priority: 9}},
		}),
	)
	frontend := runtime.WithRequest(t.Context(), runtime.Request{Source: "frontend", UserID: "u1"})
	backend := runtime.WithRequest(t.Context(), runtime.Request{Source: "batch"})
	for i, tc := range []struct {
		layer string
		ctx   context.Context
		task  *runtime.Task[int]
		a     int
		opts  []runtime.Option
		queue string
		route string
	}{
		// Every layer below the one tested would route the task too.
		{"1 call", frontend, daily, 4, []runtime.Option{runtime.Queue(b.q("call"))}, "call", "call"},
		{"2 policy", frontend, daily, 4, nil, "policy", "policy:frontend"},
		{"3 rule", backend, daily, 4, nil, "rule", "rule:reports.*"},
		{"4 router", frontend, load, 4, nil, "router", "router"},
		{"5 annotation", frontend, load, 1, nil, "task", "task"},
		{"6 default", frontend, bare, 1, nil, "fallback", "default"},
	} {
		h, err := runtime.Enqueue(tc.ctx, c, tc.task, &addArgs{A: tc.a}, tc.opts...)
		if err != nil {
			t.Fatalf("layer %s: %v", tc.layer, err)
		}
		got := b.await(t, i+1)[h.ID()]
		if got.Queue != b.q(tc.queue) || got.Route != tc.route {
			t.Errorf("layer %s: the handler saw %v; want queue %q route %q", tc.layer, got, b.q(tc.queue), tc.route)
		}
	}

	// A dead letter is filed under the routed queue, and its body names
	// the route.
	if _, err := runtime.Enqueue(backend, c, broken, &addArgs{A: 7}); err != nil {
		t.Fatal(err)
	}
	var dls []runtime.DeadLetter
	waitFor(t, "the dead letter of reports.Broken on the rule's queue", func() bool {
		var err error
		dls, err = b.tr.DeadLetters(t.Context(), b.q("rule"), 0)
		return err == nil && len(dls) > 0
	})
	env, err := runtime.DecodeEnvelope(dls[0].Body)
	if err != nil {
		t.Fatal(err)
	}
	if dls[0].Task != "reports.Broken" || env.Queue != b.q("rule") || env.Route != "rule:reports.*" {
		t.Errorf("dead letter %s on %s: envelope queue %q route %q; want the rule's", dls[0].Task, dls[0].Queue, env.Queue, env.Route)
	}
}

// A request attached to the first enqueue reaches the third task down the
// line, and the policy routes each hop by it.
func testRequestHops(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	b := setupRouting(t, factory, runtime.WorkerConfig{Queues: []string{"high", "low"}, Concurrency: 2})
	var c *runtime.Client
	hop := func(name string, next *runtime.Task[int]) *runtime.Task[int] {
		task := flowTask(name, b.q("low"))
		register(t, b.w, task, func(ctx context.Context, a *addArgs) (int, error) {
			b.record(ctx)
			if next != nil {
				// The handler's ctx carries the request; nothing is
				// passed on by hand.
				if _, err := runtime.Enqueue(ctx, c, next, a); err != nil {
					return 0, err
				}
			}
			return 0, nil
		})
		return task
	}
	third := hop("hops.Third", nil)
	second := hop("hops.Second", third)
	first := hop("hops.First", second)
	c = b.client(t, runtime.WithQueues(b.q("high"), b.q("low"), "default"),
		runtime.WithPriorityPolicy(runtime.PriorityPolicy{"frontend": {b.q("low"): {Queue: b.q("high")}}}))
	startWorker(t, b.w)

	req := runtime.Request{Source: "frontend", TenantID: "acme", UserID: "u42", Attrs: map[string]string{"trace": "t-1"}}
	if _, err := runtime.Enqueue(runtime.WithRequest(t.Context(), req), c, first, &addArgs{A: 1}); err != nil {
		t.Fatal(err)
	}
	seen := b.await(t, 3)
	if len(seen) != 3 {
		t.Fatalf("ran %d distinct tasks, want 3: %v", len(seen), seen)
	}
	for id, r := range seen {
		if r.Request == nil || r.Request.Source != req.Source || r.Request.TenantID != req.TenantID ||
			r.Request.UserID != req.UserID || r.Request.Attrs["trace"] != "t-1" {
			t.Errorf("task %s saw request %+v, want %+v", id, r.Request, req)
		}
		if r.Queue != b.q("high") || r.Route != "policy:frontend" {
			t.Errorf("task %s: %v; want the policy's queue %s", id, r, b.q("high"))
		}
	}
}

// Every step of a workflow submitted with a request sees it, and is routed
// by it, including the steps that workers publish as the workflow runs.
func testRequestWorkflow(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	b := setupRouting(t, factory, runtime.WorkerConfig{Queues: []string{"high", "low"}, Concurrency: 4})
	if _, ok := b.tr.(runtime.WorkflowStore); !ok {
		t.Fatalf("%T is not a runtime.WorkflowStore; give the transport a store that runs workflows", b.tr)
	}
	add := flowTask("wfreq.Add", b.q("low"))
	register(t, b.w, add, func(ctx context.Context, a *addArgs) (int, error) {
		b.record(ctx)
		return a.A + a.B, nil
	})
	sum := flowTask("wfreq.Sum", b.q("low"))
	register(t, b.w, sum, func(ctx context.Context, a *sumArgs) (int, error) {
		b.record(ctx)
		total := 0
		for _, x := range a.Xs {
			total += x
		}
		return total, nil
	})
	startWorker(t, b.w)
	c := b.client(t, runtime.WithQueues(b.q("high"), b.q("low"), "default"),
		runtime.WithPriorityPolicy(runtime.PriorityPolicy{"frontend": {b.q("low"): {Queue: b.q("high")}}}))

	addSig := func(a, c int) runtime.Sig[int] { return runtime.NewSig(add, &addArgs{A: a, B: c}) }
	addStep := func(c int) runtime.Step[int, int] { return runtime.NewStep(add, "a", &addArgs{B: c}, marshalJSON[int]) }
	sumStep := runtime.NewStep(sum, "xs", &sumArgs{}, marshalJSON[[]int])
	// (1+1) + (2+2) summed by the chord = 6, then + 10 = 16.
	flow := runtime.Then(runtime.Chord([]runtime.Sig[int]{addSig(1, 1), addSig(2, 2)}, sumStep), addStep(10))
	req := runtime.Request{Source: "frontend", TenantID: "acme", UserID: "u7"}
	h, err := runtime.Submit(runtime.WithRequest(t.Context(), req), c, flow)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := h.Get(waitCtx(t)); err != nil || got != 16 {
		t.Fatalf("workflow result = %d, %v; want 16", got, err)
	}
	seen := b.await(t, 4)
	if len(seen) != 4 {
		t.Fatalf("ran %d distinct steps, want 4: %v", len(seen), seen)
	}
	for id, r := range seen {
		if r.Request == nil || r.Request.Source != req.Source || r.Request.TenantID != req.TenantID || r.Request.UserID != req.UserID {
			t.Errorf("step %s saw request %+v, want %+v", id, r.Request, req)
		}
		if r.Queue != b.q("high") || r.Route != "policy:frontend" {
			t.Errorf("step %s: %v; want the policy's queue %s", id, r, b.q("high"))
		}
	}
}

// backlog enqueues n tasks of task to each of queues in one batch each,
// the later queues first, so that they hold the older tasks.
func (b *routeBundle) backlog(t *testing.T, task *runtime.Task[int], n int, queues ...string) {
	t.Helper()
	c := runtime.NewClient(b.tr)
	for i := len(queues) - 1; i >= 0; i-- {
		items := make([]runtime.BatchItem, n)
		for j := range items {
			items[j] = runtime.NewBatchItem(task, &addArgs{A: j}, runtime.Queue(b.q(queues[i])))
		}
		if _, err := c.EnqueueBatch(t.Context(), items); err != nil {
			t.Fatal(err)
		}
	}
}

// With a backlog in both, a strict worker runs every task of its first
// queue before any of the second, though the second's are older.
func testStrictOrder(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	// More than a consumer prefetches (RabbitMQ: 64), so that the broker
	// still holds part of the first queue's backlog while it is served.
	const n = 100
	b := setupRouting(t, factory, runtime.WorkerConfig{Queues: []string{"high", "low"}, Concurrency: 1})
	task := flowTask("order.Strict", "")
	register(t, b.w, task, func(ctx context.Context, _ *addArgs) (int, error) {
		b.record(ctx)
		return 0, nil
	})
	b.backlog(t, task, n, "high", "low")
	startWorker(t, b.w)
	b.await(t, 2*n)
	for i, q := range b.runs() {
		if want := b.q("high"); i < n && q != want {
			t.Fatalf("task %d of %d ran from %s before the high queue was drained; order %v", i+1, 2*n, q, b.runs())
		}
	}
}

// With a backlog in both, a weighted worker gives each queue its share.
func testWeightedOrder(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	const (
		backlog = 150 // more than a consumer prefetches
		sample  = 120
		want    = 0.75 // 3:1
		margin  = 0.15
	)
	b := setupRouting(t, factory, runtime.WorkerConfig{
		Queues: []string{"high", "low"}, Weights: map[string]int{"high": 3, "low": 1}, Concurrency: 1,
	})
	task := flowTask("order.Weighted", "")
	register(t, b.w, task, func(ctx context.Context, _ *addArgs) (int, error) {
		b.record(ctx)
		return 0, nil
	})
	b.backlog(t, task, backlog, "high", "low")
	startWorker(t, b.w)
	b.await(t, sample)
	high := 0
	for _, q := range b.runs()[:sample] {
		if q == b.q("high") {
			high++
		}
	}
	share := float64(high) / sample
	t.Logf("weighted 3:1: the high queue ran %d of the first %d tasks (%.2f)", high, sample, share)
	if share < want-margin || share > want+margin {
		t.Fatalf("the high queue ran %d of the first %d tasks (%.2f), want %.2f ± %.2f", high, sample, share, want, margin)
	}
}
