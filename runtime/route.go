package runtime

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
)

// A client picks each task's queue by the first of these that gives one:
//
//  1. the call's Queue option (or a workflow step's Sig.With(Queue(...)));
//  2. the PriorityPolicy, for a task whose request context (WithRequest)
//     has a source the policy knows, keyed on the queue that layers 3 to 6
//     would pick;
//  3. the first RouteRule whose pattern matches the task's wire name;
//  4. the Router function;
//  5. the task's annotation (queue=);
//  6. the client's default queue, DefaultQueue unless WithDefaultQueue.
//
// The layer that decided is recorded in the message (TaskInfo.Route, and
// the envelope's route field, which dead letters keep in their body).

// RouteRule sends the tasks whose wire name matches Pattern to Queue. Build
// it with Route.
type RouteRule struct {
	// Pattern is a glob on the wire name, in the syntax of path.Match:
	// `*` matches any run of characters (wire names have no `/`, so it
	// crosses dots: "reports.*" matches "reports.daily.Build"), `?` one
	// character, `[a-z]` a class.
	Pattern string
	// Queue is where matching tasks go.
	Queue string
}

// Route returns the rule that sends tasks whose wire name matches the glob
// pattern to queue, for WithRoutes.
func Route(pattern, queue string) RouteRule { return RouteRule{Pattern: pattern, Queue: queue} }

func (r RouteRule) String() string { return fmt.Sprintf("Route(%q, %q)", r.Pattern, r.Queue) }

// Router routes a task by its content: given the task and its encoded
// arguments (the JSON payload), it returns a queue, or "" to leave the
// choice to the annotation. For a workflow step whose first argument is
// the previous step's result, args lack that argument: a workflow is
// routed when it is submitted.
type Router func(task *TaskDef, args []byte) string

// PriorityPolicy maps a request's source, then the queue a task would go
// to otherwise, to an Override: for example
//
//	runtime.PriorityPolicy{
//		"frontend": {"core_computation": {Queue: "core_computation_high_priority"}},
//	}
//
// The queue key "*" matches every queue the source has no entry for.
// Tasks without a request, or whose source the policy does not name, are
// routed by the later layers.
type PriorityPolicy map[string]map[string]Override

// Override is what a PriorityPolicy changes about a task.
type Override struct {
	// Queue replaces the task's queue; "" keeps it.
	Queue string
	// Priority, 1 to 9, replaces the task's priority unless the call sets
	// one; 0 keeps it.
	Priority int
}

// WithQueues declares the queues the client may publish to. Routing rules
// and policies may then name only these, and so may every enqueue: a task
// routed to a queue not declared fails with an error naming the layer
// that chose it. Declaring queues is required for WithRoutes and
// WithPriorityPolicy.
func WithQueues(queues ...string) ClientOption {
	return clientOptionFunc(func(c *Client) { c.routing.queues = append(c.routing.queues, queues...) })
}

// WithRoutes adds routing rules, tried in order; the first whose pattern
// matches a task's wire name gives its queue.
func WithRoutes(rules ...RouteRule) ClientOption {
	return clientOptionFunc(func(c *Client) { c.routing.rules = append(c.routing.rules, rules...) })
}

// WithRouter sets the content-based router, asked when no rule matches.
func WithRouter(r Router) ClientOption {
	return clientOptionFunc(func(c *Client) { c.routing.router = r })
}

// WithPriorityPolicy sets the policy that reroutes tasks by the source of
// their request context.
func WithPriorityPolicy(p PriorityPolicy) ClientOption {
	return clientOptionFunc(func(c *Client) { c.routing.policy = p })
}

// WithDefaultQueue sets the queue of tasks that nothing else routes (a task
// whose definition names no queue). Default DefaultQueue.
func WithDefaultQueue(queue string) ClientOption {
	return clientOptionFunc(func(c *Client) { c.routing.fallback = queue })
}

// The layers as TaskInfo.Route names them; a rule adds ":<pattern>", the
// policy ":<source>".
const (
	routeCall    = "call"
	routePolicy  = "policy"
	routeRule    = "rule"
	routeRouter  = "router"
	routeTask    = "task"
	routeDefault = "default"
)

// routing is a client's routing configuration.
type routing struct {
	queues   []string // declared, as given
	declared map[string]bool
	rules    []RouteRule
	router   Router
	policy   PriorityPolicy
	fallback string
	err      error // the configuration's first problem
}

// validate checks the configuration once, when the client is made.
func (r *routing) validate() error {
	if r.fallback == "" {
		r.fallback = DefaultQueue
	}
	if len(r.queues) > 0 {
		r.declared = make(map[string]bool, len(r.queues))
		for i, q := range r.queues {
			if q == "" {
				return fmt.Errorf("taskgen: routing: WithQueues: queue %d is empty", i+1)
			}
			r.declared[q] = true
		}
		if !r.declared[r.fallback] {
			return fmt.Errorf("taskgen: routing: the default queue %q is not declared in WithQueues (%s): declare it, or name a declared one with WithDefaultQueue", r.fallback, r.list())
		}
	} else if len(r.rules) > 0 || len(r.policy) > 0 {
		return errors.New("taskgen: routing: WithRoutes and WithPriorityPolicy need the client's queues declared with WithQueues, so that a misspelt queue fails now rather than strands tasks")
	}
	for i, rule := range r.rules {
		what := fmt.Sprintf("rule %d %s", i+1, rule)
		if rule.Pattern == "" {
			return fmt.Errorf("taskgen: routing: %s: empty pattern", what)
		}
		if _, err := path.Match(rule.Pattern, ""); err != nil {
			return fmt.Errorf("taskgen: routing: %s: bad pattern: %w", what, err)
		}
		if err := r.check(what, rule.Queue); err != nil {
			return err
		}
	}
	for _, src := range slices.Sorted(maps.Keys(r.policy)) {
		if src == "" {
			return errors.New("taskgen: routing: priority policy: empty request source")
		}
		byQueue := r.policy[src]
		for _, q := range slices.Sorted(maps.Keys(byQueue)) {
			o := byQueue[q]
			what := fmt.Sprintf("priority policy %q → %q", src, q)
			if q != "*" {
				if err := r.check(what, q); err != nil {
					return err
				}
			}
			if o.Queue == "" && o.Priority == 0 {
				return fmt.Errorf("taskgen: routing: %s: the override changes neither the queue nor the priority", what)
			}
			if o.Priority < 0 || o.Priority > MaxPriority {
				return fmt.Errorf("taskgen: routing: %s: priority %d is outside 1..%d", what, o.Priority, MaxPriority)
			}
			if o.Queue != "" {
				if err := r.check(what+" override", o.Queue); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// check reports a queue that is empty or not declared.
func (r *routing) check(what, queue string) error {
	switch {
	case queue == "":
		return fmt.Errorf("taskgen: routing: %s: empty queue", what)
	case r.declared != nil && !r.declared[queue]:
		return fmt.Errorf("taskgen: routing: %s: queue %q is not declared in WithQueues (%s)", what, queue, r.list())
	}
	return nil
}

func (r *routing) list() string { return strings.Join(r.queues, ", ") }

// route applies the routing layers to env, built by newEnvelope from def,
// its payload and the call options o.
func (r *routing) route(env *Envelope, def *TaskDef, o *callOptions) error {
	if r.err != nil {
		return r.err
	}
	var queue, how string
	if o.queue != "" {
		queue, how = o.queue, routeCall
	} else {
		queue, how = r.base(def, env.Payload)
	}
	if req := env.Request; how != routeCall && req != nil && r.policy != nil {
		if byQueue, ok := r.policy[req.Source]; ok {
			ov, ok := byQueue[queue]
			if !ok {
				ov, ok = byQueue["*"]
			}
			if ok {
				if ov.Queue != "" {
					queue = ov.Queue
				}
				if ov.Priority > 0 && o.priority == nil {
					env.Priority = ov.Priority
				}
				how = routePolicy + ":" + req.Source
			}
		}
	}
	if r.declared != nil && !r.declared[queue] {
		return &TaskError{Task: def.Name, ID: env.ID, Queue: queue,
			Err: fmt.Errorf("queue %q, chosen by %s, is not declared in WithQueues (%s)", queue, how, r.list())}
	}
	env.Queue, env.Route = queue, how
	return nil
}

// base returns the queue of layers 3 to 6: rules, router, annotation,
// default.
func (r *routing) base(def *TaskDef, args []byte) (queue, how string) {
	for _, rule := range r.rules {
		if ok, _ := path.Match(rule.Pattern, def.Name); ok {
			return rule.Queue, routeRule + ":" + rule.Pattern
		}
	}
	if r.router != nil {
		if q := r.router(def, args); q != "" {
			return q, routeRouter
		}
	}
	if def.Queue != "" {
		return def.Queue, routeTask
	}
	fallback := r.fallback
	if fallback == "" {
		fallback = DefaultQueue
	}
	return fallback, routeDefault
}

// routeNodes routes the task nodes of a workflow being submitted, as its
// client routes an enqueue, with the request of the submit: each node
// keeps the queue, the priority and the layer that chose them.
func (r *routing) routeNodes(nodes []*wfNode, req *Request) error {
	for _, n := range nodes {
		if n.Def == nil {
			continue
		}
		env := &Envelope{Task: n.Def.Name, Priority: n.Def.Priority, Payload: n.Args, Request: req}
		if n.Priority != nil {
			env.Priority = *n.Priority
		}
		o := callOptions{queue: n.Queue, priority: n.Priority}
		if err := r.route(env, n.Def, &o); err != nil {
			return err
		}
		n.Queue, n.Route = env.Queue, env.Route
		if n.Priority == nil && env.Priority != n.Def.Priority {
			p := env.Priority
			n.Priority = &p
		}
	}
	return nil
}
