package runtime_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/memory"
)

// Every bad routing configuration is refused by NewCheckedClient with an
// error naming the rule, and makes NewClient's enqueues fail the same way.
func TestRoutingValidation(t *testing.T) {
	t.Parallel()
	declared := runtime.WithQueues("default", "bulk", "core", "core_high")
	for name, tc := range map[string]struct {
		opts []runtime.ClientOption
		want []string
	}{
		"unknown queue": {
			[]runtime.ClientOption{declared, runtime.WithRoutes(runtime.Route("reports.*", "bulk"), runtime.Route("etl.*", "blk"))},
			[]string{`rule 2 Route("etl.*", "blk")`, `queue "blk" is not declared`, "default, bulk, core, core_high"},
		},
		"bad pattern": {
			[]runtime.ClientOption{declared, runtime.WithRoutes(runtime.Route("reports.[", "bulk"))},
			[]string{`rule 1 Route("reports.[", "bulk")`, "bad pattern", "syntax error in pattern"},
		},
		"empty pattern": {
			[]runtime.ClientOption{declared, runtime.WithRoutes(runtime.Route("", "bulk"))},
			[]string{`rule 1 Route("", "bulk")`, "empty pattern"},
		},
		"missing default": {
			[]runtime.ClientOption{runtime.WithQueues("bulk"), runtime.WithRoutes(runtime.Route("reports.*", "bulk"))},
			[]string{`default queue "default" is not declared`, "WithDefaultQueue"},
		},
		"default named elsewhere": {
			[]runtime.ClientOption{runtime.WithQueues("bulk"), runtime.WithDefaultQueue("misc")},
			[]string{`default queue "misc" is not declared`},
		},
		"routes without declared queues": {
			[]runtime.ClientOption{runtime.WithRoutes(runtime.Route("reports.*", "bulk"))},
			[]string{"WithQueues"},
		},
		"policy override undeclared": {
			[]runtime.ClientOption{declared, runtime.WithPriorityPolicy(runtime.PriorityPolicy{
				"frontend": {"core": {Queue: "core_high_priority"}},
			})},
			[]string{`priority policy "frontend" → "core" override`, `queue "core_high_priority" is not declared`},
		},
		"policy key undeclared": {
			[]runtime.ClientOption{declared, runtime.WithPriorityPolicy(runtime.PriorityPolicy{
				"frontend": {"cor": {Queue: "core_high"}},
			})},
			[]string{`priority policy "frontend" → "cor"`, `queue "cor" is not declared`},
		},
		"policy bad priority": {
			[]runtime.ClientOption{declared, runtime.WithPriorityPolicy(runtime.PriorityPolicy{
				"frontend": {"*": {Priority: 12}},
			})},
			[]string{`priority policy "frontend" → "*"`, "priority 12 is outside 1..9"},
		},
		"policy empty override": {
			[]runtime.ClientOption{declared, runtime.WithPriorityPolicy(runtime.PriorityPolicy{
				"frontend": {"core": {}},
			})},
			[]string{`priority policy "frontend" → "core"`, "changes neither"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tr := memory.New()
			defer tr.Close()
			c, err := runtime.NewCheckedClient(tr, tc.opts...)
			if err == nil {
				t.Fatal("NewCheckedClient accepted the configuration")
			}
			if c != nil {
				t.Error("NewCheckedClient returned a client with its error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			// NewClient keeps its signature; its enqueues fail instead.
			task := newTask("reports.Daily", "default", 0)
			_, eerr := runtime.Enqueue(t.Context(), runtime.NewClient(tr, tc.opts...), task, &addArgs{})
			if eerr == nil || eerr.Error() != err.Error() {
				t.Errorf("enqueue through NewClient: got %v, want %v", eerr, err)
			}
		})
	}
}

// A valid configuration is accepted, and an enqueue routed to a queue the
// client did not declare fails, naming the task, the queue and the layer.
func TestRoutingUndeclaredAtEnqueue(t *testing.T) {
	t.Parallel()
	tr := memory.New()
	defer tr.Close()
	c, err := runtime.NewCheckedClient(tr,
		runtime.WithQueues("default", "bulk"),
		runtime.WithRoutes(runtime.Route("reports.*", "bulk")),
		runtime.WithRouter(func(def *runtime.TaskDef, args []byte) string {
			if strings.Contains(string(args), `"a":13`) {
				return "unlucky"
			}
			return ""
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		task *runtime.Task[int]
		a    int
		opts []runtime.Option
		want string // "" for success
	}{
		{newTask("reports.Daily", "emails", 0), 1, nil, ""},
		{newTask("etl.Load", "", 0), 1, nil, ""},
		{newTask("etl.Load", "etl", 0), 1, nil, `queue "etl", chosen by task, is not declared`},
		{newTask("etl.Load", "", 0), 13, nil, `queue "unlucky", chosen by router, is not declared`},
		{newTask("etl.Load", "", 0), 1, []runtime.Option{runtime.Queue("bulkk")}, `queue "bulkk", chosen by call, is not declared`},
	} {
		_, err := runtime.Enqueue(t.Context(), c, tc.task, &addArgs{A: tc.a}, tc.opts...)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.task.Def.Name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.task.Def.Name)):
			t.Errorf("%s: got %v, want an error naming the task and containing %q", tc.task.Def.Name, err, tc.want)
		}
	}
}

// A policy override sets the priority of the message, and of its envelope,
// unless the call sets one; a source or queue the policy does not name
// keeps the task's own.
func TestPolicyPriority(t *testing.T) {
	t.Parallel()
	tr := memory.New()
	defer tr.Close()
	c, err := runtime.NewCheckedClient(tr,
		runtime.WithQueues("default", "core", "core_high", "mail"),
		runtime.WithPriorityPolicy(runtime.PriorityPolicy{
			"frontend": {"core": {Queue: "core_high", Priority: 9}, "mail": {Priority: 8}},
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	frontend := runtime.WithRequest(t.Context(), runtime.Request{Source: "frontend"})
	batch := runtime.WithRequest(t.Context(), runtime.Request{Source: "batch"})
	core, mail := newTask("p.Core", "core", 0), newTask("p.Mail", "mail", 0)
	for _, tc := range []struct {
		ctx          context.Context
		task         *runtime.Task[int]
		opts         []runtime.Option
		queue, route string
		priority     int
	}{
		{frontend, core, nil, "core_high", "policy:frontend", 9},
		{frontend, core, []runtime.Option{runtime.Priority(2)}, "core_high", "policy:frontend", 2},
		{frontend, mail, nil, "mail", "policy:frontend", 8},
		{batch, core, nil, "core", "task", runtime.DefaultPriority},
		{t.Context(), mail, nil, "mail", "task", runtime.DefaultPriority},
	} {
		name := fmt.Sprintf("%s %v", tc.task.Def.Name, tc.opts)
		h, err := runtime.Enqueue(tc.ctx, c, tc.task, &addArgs{}, tc.opts...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ds, err := tr.Fetch(t.Context(), runtime.FetchRequest{Queues: []string{tc.queue}, Max: 1, Lease: time.Minute})
		if err != nil || len(ds) != 1 || ds[0].ID != h.ID() {
			t.Fatalf("%s: fetch from %s = %v, %v; want task %s", name, tc.queue, ds, err, h.ID())
		}
		env, err := runtime.DecodeEnvelope(ds[0].Body)
		if err != nil {
			t.Fatal(err)
		}
		if ds[0].Priority != tc.priority || env.Priority != tc.priority || env.Route != tc.route {
			t.Errorf("%s: message priority %d, envelope priority %d route %q; want %d, %q",
				name, ds[0].Priority, env.Priority, env.Route, tc.priority, tc.route)
		}
		if err := tr.Ack(t.Context(), ds[0]); err != nil {
			t.Fatal(err)
		}
	}
}
