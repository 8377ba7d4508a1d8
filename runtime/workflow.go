package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/taskgen/taskgen/runtime/codec"
)

// A submitted workflow lives in the Store, not in its messages: each node of
// its tree is a record, and a task's message carries only the workflow ID
// and its node ID. When a task succeeds, the worker finishes its node: it
// stores the result and advances the parent (the next step of a chain, the
// join of a group or a chord's header). Joins count finished members in a
// set, so a member delivered twice is counted once, and a chord's body is
// published under an ID derived from its node, so it is published once.

// WorkflowStore is a Store that can run workflows. The memory and Redis
// stores implement it.
type WorkflowStore interface {
	Store
	// SetAdd adds member to the set under key (creating it with ttl) and
	// returns whether member was new and the set's size after the add,
	// atomically.
	SetAdd(ctx context.Context, key, member string, ttl time.Duration) (added bool, size int64, err error)
}

// ErrNoWorkflowStore is returned by Submit when the client's store cannot
// run workflows.
var ErrNoWorkflowStore = errors.New("taskgen: the store does not support workflows")

// defaultWorkflowTTL is how long a workflow's state stays in the store.
const defaultWorkflowTTL = 7 * 24 * time.Hour

// workflowTask is the task name of a workflow's own record.
const workflowTask = "workflow"

// chunkHeader marks a message that carries a list of calls (Chunks): the
// worker runs the handler on each and returns the list of results.
const chunkHeader = "taskgen.chunk"

// Submit stores the workflow sig and starts it. The handle's ID is the
// workflow's; Get returns the workflow's result, or the error of the first
// task that failed, naming it.
func Submit[R any](ctx context.Context, c *Client, sig Sig[R]) (*Handle[R], error) {
	if sig.n == nil {
		return nil, errors.New("taskgen: submit: empty workflow")
	}
	ws, err := c.workflowStore()
	if err != nil {
		return nil, err
	}
	wf := newTaskID()
	nodes, err := flatten(sig.n)
	if err != nil {
		return nil, fmt.Errorf("taskgen: submit workflow: %w", err)
	}
	var req *Request
	if r, ok := RequestFrom(ctx); ok {
		req = &r
	}
	if err := c.routing.routeNodes(nodes, req); err != nil {
		return nil, fmt.Errorf("taskgen: submit workflow: %w", err)
	}
	// The graph goes to the store in one bulk write, and the first tasks
	// in one batch publish; starting reads the graph from memory.
	entries := make([]KeyValue, len(nodes))
	for id, n := range nodes {
		b, err := json.Marshal(n)
		if err != nil {
			return nil, fmt.Errorf("taskgen: submit workflow %s: node %d: %w", wf, id, err)
		}
		entries[id] = KeyValue{Key: nodeKey(wf, id), Value: b}
	}
	f := &flow{tr: c.tr, store: ws, ttl: defaultWorkflowTTL, fresh: true, graph: nodes, outbox: []*Message{}}
	if err := putMany(ctx, ws, entries, f.ttl); err != nil {
		return nil, fmt.Errorf("taskgen: submit workflow %s: store the graph: %w", wf, err)
	}
	if err := f.start(ctx, wf, 0, nil, req); err != nil {
		return nil, fmt.Errorf("taskgen: submit workflow %s: %w", wf, err)
	}
	// The first tasks' IDs derive from the workflow's, drawn just now: no
	// transport can hold them, and none is published again.
	seen := make(map[string]bool, len(f.outbox))
	first := f.outbox[:0]
	for _, m := range f.outbox {
		if !seen[m.ID] {
			seen[m.ID] = true
			m.FreshID = true
			first = append(first, m)
		}
	}
	if err := publishAll(ctx, c.tr, first); err != nil {
		return nil, fmt.Errorf("taskgen: submit workflow %s: %w", wf, err)
	}
	h := NewHandle(wf, Store(ws), sig.decode)
	h.graph = &submitted{wf: wf, nodes: nodes}
	return h, nil
}

func (c *Client) workflowStore() (WorkflowStore, error) {
	if c.store == nil {
		return nil, ErrNoStore
	}
	ws, ok := c.store.(WorkflowStore)
	if !ok {
		return nil, fmt.Errorf("%w (%T)", ErrNoWorkflowStore, c.store)
	}
	return ws, nil
}

// wfNode is the stored form of one node of a workflow tree.
type wfNode struct {
	Kind     nodeKind `json:"kind"`
	Parent   int      `json:"parent"` // -1 for the root
	Pos      int      `json:"pos"`    // index among the parent's children
	Children []int    `json:"children,omitempty"`
	// For tasks: the definition, the encoded arguments (all but the first
	// for a step, which the previous result fills in under FirstArg) and
	// the options of the call and of the workflows around it.
	Def      *TaskDef          `json:"def,omitempty"`
	Args     json.RawMessage   `json:"args,omitempty"`
	FirstArg string            `json:"first_arg,omitempty"`
	Queue    string            `json:"queue,omitempty"`
	Priority *int              `json:"priority,omitempty"`
	Retries  *int              `json:"retries,omitempty"`
	Timeout  *time.Duration    `json:"timeout,omitempty"`
	Headers  map[string]string `json:"headers,omitempty"`
	// Route names the routing layer that chose Queue, at Submit.
	Route string `json:"route,omitempty"`
	// Flatten joins the members' results, which are lists (Chunks).
	Flatten bool `json:"flatten,omitempty"`
	// OnError are the nodes of callbacks run when a task under this node
	// fails; a callback's own Parent is callbackParent.
	OnError []int `json:"on_error,omitempty"`
}

// callbackParent is the Parent of an error callback's node: it belongs to
// no tree, and finishing it finishes nothing else.
const callbackParent = -2

// flatten numbers the tree's nodes in pre-order, the root being 0.
func flatten(root *node) ([]*wfNode, error) {
	var nodes []*wfNode
	var walk func(n *node, parent, pos int, inherited []Option) (int, error)
	walk = func(n *node, parent, pos int, inherited []Option) (int, error) {
		id := len(nodes)
		wn := &wfNode{Kind: n.kind, Parent: parent, Pos: pos, Flatten: n.flatten}
		nodes = append(nodes, wn)
		opts := append(inherited[:len(inherited):len(inherited)], n.opts...)
		if n.kind == nodeTask || n.kind == nodeChunk {
			if err := taskNode(wn, n, opts); err != nil {
				return 0, &TaskError{Task: n.def.Name, Queue: n.def.Queue, Err: err}
			}
		}
		for i, c := range n.children {
			cid, err := walk(c, id, i, opts)
			if err != nil {
				return 0, err
			}
			wn.Children = append(wn.Children, cid)
		}
		for _, cb := range n.onError {
			cid, err := walk(cb, callbackParent, 0, opts)
			if err != nil {
				return 0, err
			}
			wn.OnError = append(wn.OnError, cid)
		}
		return id, nil
	}
	_, err := walk(root, -1, 0, nil)
	return nodes, err
}

// taskNode fills in the task of wn from n. The inputs of a Map member or a
// chunk are spliced into the arguments now: a chunk's arguments are the
// list of its calls' arguments.
func taskNode(wn *wfNode, n *node, opts []Option) error {
	if n.err != nil {
		return n.err
	}
	args, err := n.args.MarshalTask()
	if err != nil {
		return err
	}
	def := *n.def
	o := collectOptions(opts)
	wn.Def, wn.Args, wn.FirstArg = &def, args, n.firstArg
	wn.Queue, wn.Priority, wn.Retries, wn.Timeout, wn.Headers = o.queue, o.priority, o.retries, o.timeout, o.headers
	switch {
	case n.kind == nodeChunk:
		calls := make([][]byte, len(n.inputs))
		for i, in := range n.inputs {
			if calls[i], err = spliceArg(args, n.firstArg, in); err != nil {
				return err
			}
		}
		wn.Args, wn.FirstArg = joinJSON(calls, false), ""
	case len(n.inputs) == 1:
		if wn.Args, err = spliceArg(args, n.firstArg, n.inputs[0]); err != nil {
			return err
		}
		wn.FirstArg = ""
	}
	return nil
}

// flow advances workflows: the client starts them, workers finish nodes.
type flow struct {
	tr    Transport
	store WorkflowStore
	ttl   time.Duration
	fresh bool // starting a new workflow: none of its tasks can have run
	// claim is how long a finisher holds the start of the next node;
	// shorter than the worker's lease. finisher is the ID of the task
	// whose end advances the workflow: the claim's value.
	claim    time.Duration
	finisher string
	// graph is the workflow being submitted, read from memory rather than
	// the store; cache keeps nodes read before, which never change.
	graph []*wfNode
	cache *nodeCache
	// outbox, when not nil, collects the messages to publish in one batch.
	outbox []*Message
}

// Keys share the workflow's hash tag, so a clustered store keeps a
// workflow's state on one node.
func nodeKey(wf string, id int) string   { return "wf:{" + wf + "}:n:" + strconv.Itoa(id) }
func resultKey(wf string, id int) string { return "wf:{" + wf + "}:r:" + strconv.Itoa(id) }
func joinKey(wf string, id int) string   { return "wf:{" + wf + "}:j:" + strconv.Itoa(id) }
func startKey(wf string, id int) string  { return "wf:{" + wf + "}:s:" + strconv.Itoa(id) }
func failedKey(wf string) string         { return "wf:{" + wf + "}:failed" }

// nodeRecordID is the ID of node id's record: its task's record, for a
// task; finish writes one for a chain, group or chord inside the tree.
func nodeRecordID(wf string, id int) string {
	if id == 0 {
		return wf
	}
	return workflowTaskID(wf, id)
}

// workflowTaskID is the ID of node id's task: derived, so that publishing
// it again after a crash is refused as a duplicate rather than run twice.
func workflowTaskID(wf string, id int) string { return wf + "." + strconv.Itoa(id) }

// putNode stores node id of workflow wf on its own; Submit stores a whole
// graph in one bulk write instead.
func (f *flow) putNode(ctx context.Context, wf string, id int, n *wfNode) error {
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	return f.store.Put(ctx, nodeKey(wf, id), b, f.ttl)
}

// node returns node id of workflow wf, whole: from the graph being
// submitted, the cache, or the store.
func (f *flow) node(ctx context.Context, wf string, id int) (*wfNode, error) {
	return f.read(ctx, wf, id, true)
}

// link returns node id of workflow wf, of which a task's node need only
// have its place in the tree (decodeNode): finishing or failing a task
// reads no more of it.
func (f *flow) link(ctx context.Context, wf string, id int) (*wfNode, error) {
	return f.read(ctx, wf, id, false)
}

func (f *flow) read(ctx context.Context, wf string, id int, full bool) (*wfNode, error) {
	if f.graph != nil && id >= 0 && id < len(f.graph) {
		return f.graph[id], nil
	}
	key := nodeKey(wf, id)
	ck := key
	if !full {
		ck += "#link" // a load shared only with loads as partial
	}
	return f.cache.get(ck, func() (*wfNode, error) {
		b, err := f.store.Get(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("workflow %s node %d: %w", wf, id, err)
		}
		n, err := decodeNode(b, full)
		if err != nil {
			return nil, fmt.Errorf("workflow %s node %d: %w", wf, id, err)
		}
		return n, nil
	})
}

// start runs node id of workflow wf; input is the previous step's result,
// which a task step takes as its first argument.
func (f *flow) start(ctx context.Context, wf string, id int, input []byte, req *Request) error {
	n, err := f.node(ctx, wf, id)
	if err != nil {
		return err
	}
	switch n.Kind {
	case nodeTask, nodeChunk:
		return f.publish(ctx, wf, id, n, input, req)
	case nodeThen, nodeSeq:
		return f.start(ctx, wf, n.Children[0], nil, req)
	case nodeGroup:
		if len(n.Children) == 0 {
			return f.finish(ctx, wf, id, []byte("[]"), req)
		}
		for _, c := range n.Children {
			if err := f.start(ctx, wf, c, nil, req); err != nil {
				return err
			}
		}
		return nil
	case nodeChord:
		header, body := n.Children[:len(n.Children)-1], n.Children[len(n.Children)-1]
		if len(header) == 0 {
			return f.start(ctx, wf, body, []byte("[]"), req)
		}
		for _, c := range header {
			if err := f.start(ctx, wf, c, nil, req); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("workflow %s node %d: unknown kind %d", wf, id, n.Kind)
}

// publish sends node id's task, unless it has run or is running: a task
// that finished a node twice (delivered twice, or run again after a crash)
// advances the workflow twice, and the next task must still run once. The
// transport refuses a second message with the same ID while it holds the
// first; the store's record covers the time after.
func (f *flow) publish(ctx context.Context, wf string, id int, n *wfNode, input []byte, req *Request) (err error) {
	taskID := workflowTaskID(wf, id)
	if !f.fresh {
		// Two finishers racing meet at the claim; a finisher that comes
		// later, after the task ran, finds its record. The claim holds
		// the finisher's task ID: the same task delivered again (its
		// worker died, or this try failed) takes it over, and the
		// transport refuses the next task twice while it holds it. The
		// claim also lapses, before the lease of a worker that died
		// holding it.
		key, mine := startKey(wf, id), []byte(f.finisher)
		var claimed bool
		claimed, err = f.store.PutNX(ctx, key, mine, f.claim) // err: the result the deferred give-back reads
		if err == nil && !claimed && f.finisher != "" {
			var held []byte
			if held, err = f.store.Get(ctx, key); err == nil {
				claimed = string(held) == f.finisher
			} else if errors.Is(err, ErrNotFound) {
				err = fmt.Errorf("workflow %s node %d: the start claim was held, then gone", wf, id)
			}
		}
		if err != nil || !claimed {
			return err
		}
		defer func() {
			if err != nil {
				// Give the claim back, so that the finisher's next try
				// (or another) starts the node: it must not stay held
				// by a try that did not.
				bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
				defer cancel()
				_, _ = f.store.CompareAndDelete(bg, key, mine)
			}
		}()
		if _, err := f.store.GetRecord(ctx, taskID); err == nil {
			return nil
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	payload := []byte(n.Args)
	if n.FirstArg != "" && input != nil {
		var err error
		if payload, err = spliceArg(payload, n.FirstArg, input); err != nil {
			return &TaskError{Task: n.Def.Name, Queue: n.Def.Queue, Err: fmt.Errorf("workflow %s node %d: %w", wf, id, err)}
		}
	}
	o := callOptions{queue: n.Queue, priority: n.Priority, retries: n.Retries, timeout: n.Timeout, headers: n.Headers, taskID: taskID}
	if n.Kind == nodeChunk {
		o.headers = maps.Clone(o.headers)
		if o.headers == nil {
			o.headers = make(map[string]string, 1)
		}
		o.headers[chunkHeader] = "1"
	}
	env := newEnvelope(ctx, n.Def, payload, &o, time.Now())
	env.WorkflowID, env.NodeID, env.Route = wf, strconv.Itoa(id), n.Route
	if req != nil {
		env.Request = req
	}
	if err := offloadPayload(ctx, f.store, env, DefaultMaxPayload); err != nil {
		return &TaskError{Task: env.Task, ID: env.ID, Queue: env.Queue, Err: err}
	}
	msg := &Message{ID: env.ID, Queue: env.Queue, Priority: env.Priority, ETA: env.ETA, Body: env.Marshal()}
	if f.outbox != nil {
		f.outbox = append(f.outbox, msg)
		return nil
	}
	if err := f.tr.Publish(ctx, msg); err != nil && !errors.Is(err, ErrDuplicateTask) {
		return &TaskError{Task: env.Task, ID: env.ID, Queue: env.Queue, Err: fmt.Errorf("publish: %w", err)}
	}
	return nil
}

// finish records node id's result and advances its parent. Finishing a
// node twice (a task delivered twice) repeats idempotent steps only.
func (f *flow) finish(ctx context.Context, wf string, id int, result []byte, req *Request) error {
	if len(result) == 0 {
		result = []byte("null")
	}
	// The result is stored while the node is read: one round trip, not
	// two, when the store batches its calls.
	stored := make(chan error, 1)
	go func() { stored <- f.store.Put(ctx, resultKey(wf, id), result, f.ttl) }()
	n, err := f.link(ctx, wf, id)
	if perr := <-stored; perr != nil {
		return perr
	}
	if err != nil {
		return err
	}
	switch n.Parent {
	case callbackParent:
		return nil
	case -1:
		r := &Record{ID: wf, Task: workflowTask, State: StateSucceeded, Result: result, UpdatedAt: time.Now()}
		return f.store.PutRecord(ctx, r, f.ttl)
	}
	if n.Kind != nodeTask && n.Kind != nodeChunk {
		// For Handle.Parent: a task's record is its own.
		r := &Record{ID: workflowTaskID(wf, id), Task: workflowTask, State: StateSucceeded, Result: result, UpdatedAt: time.Now()}
		if err := f.store.PutRecord(ctx, r, f.ttl); err != nil {
			return err
		}
	}
	p, err := f.link(ctx, wf, n.Parent)
	if err != nil {
		return err
	}
	switch p.Kind {
	case nodeThen:
		if n.Pos == 0 {
			return f.start(ctx, wf, p.Children[1], result, req)
		}
		return f.finish(ctx, wf, n.Parent, result, req)
	case nodeSeq:
		if n.Pos == 0 {
			return f.start(ctx, wf, p.Children[1], nil, req)
		}
		return f.finish(ctx, wf, n.Parent, result, req)
	case nodeGroup:
		done, err := f.join(ctx, wf, n.Parent, n.Pos, len(p.Children))
		if err != nil || !done {
			return err
		}
		all, err := f.gather(ctx, wf, p.Children, p.Flatten)
		if err != nil {
			return err
		}
		return f.finish(ctx, wf, n.Parent, all, req)
	case nodeChord:
		header, body := p.Children[:len(p.Children)-1], p.Children[len(p.Children)-1]
		if id == body {
			return f.finish(ctx, wf, n.Parent, result, req)
		}
		done, err := f.join(ctx, wf, n.Parent, n.Pos, len(header))
		if err != nil || !done {
			return err
		}
		all, err := f.gather(ctx, wf, header, false)
		if err != nil {
			return err
		}
		return f.start(ctx, wf, body, all, req)
	}
	return fmt.Errorf("workflow %s node %d: parent of unknown kind %d", wf, n.Parent, p.Kind)
}

// join counts member pos of node id as finished and reports whether all
// want members are. A member counted before (a duplicate delivery) does
// not count twice; seeing the join complete again is harmless, because
// what follows is idempotent. A member that failed is never counted, so
// its join never completes.
func (f *flow) join(ctx context.Context, wf string, id, pos, want int) (bool, error) {
	_, size, err := f.store.SetAdd(ctx, joinKey(wf, id), strconv.Itoa(pos), f.ttl)
	return size == int64(want), err
}

// gather returns the results of nodes as a JSON array, in order; with
// flatten, the results are arrays, and their elements are listed.
func (f *flow) gather(ctx context.Context, wf string, ids []int, flatten bool) ([]byte, error) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = resultKey(wf, id)
	}
	results, err := getMany(ctx, f.store, keys)
	if err != nil {
		return nil, fmt.Errorf("workflow %s: results of %d members: %w", wf, len(ids), err)
	}
	return joinJSON(results, flatten), nil
}

// joinJSON returns the JSON array of values; with flatten, each value is an
// array, and the result lists their elements.
func joinJSON(values [][]byte, flatten bool) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for _, v := range values {
		if flatten {
			if v = bytes.TrimSpace(v); len(v) < 2 {
				continue
			}
			if v = bytes.TrimSpace(v[1 : len(v)-1]); len(v) == 0 {
				continue
			}
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.Write(v)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// fail ends workflow wf with the failure of its task env; the first
// failure wins. Then the error callbacks of the failed node and of the
// nodes around it run, each once.
func (f *flow) fail(ctx context.Context, env *Envelope, cause string) error {
	wf := env.WorkflowID
	first, err := f.store.PutNX(ctx, failedKey(wf), []byte(env.NodeID), f.ttl)
	if err == nil && !first {
		// This node's earlier try may have won, then failed to write
		// the record: it writes it again.
		var held []byte
		if held, err = f.store.Get(ctx, failedKey(wf)); err == nil {
			first = string(held) == env.NodeID
		} else if errors.Is(err, ErrNotFound) {
			err = fmt.Errorf("workflow %s: its failure was held, then gone", wf)
		}
	}
	if err != nil {
		return err
	}
	if first {
		r := &Record{
			ID: wf, Task: env.Task, Queue: env.Queue, State: StateFailed, Attempt: env.Attempt,
			Error: fmt.Sprintf("workflow step %s (task %s) failed: %s", env.NodeID, env.ID, cause), UpdatedAt: time.Now(),
		}
		if err := f.store.PutRecord(ctx, r, f.ttl); err != nil {
			return err
		}
	}
	id, err := strconv.Atoi(env.NodeID)
	if err != nil {
		return fmt.Errorf("workflow %s: bad node ID %q", wf, env.NodeID)
	}
	failure, err := json.Marshal(Failure{
		Task: env.Task, TaskID: env.ID, Queue: env.Queue, WorkflowID: wf, Error: cause, Attempts: env.Attempt + 1,
	})
	if err != nil {
		return err
	}
	// Walk up from the failed node. Callbacks start under derived IDs, and
	// a failure delivered twice finds them started.
	for id >= 0 {
		n, err := f.link(ctx, wf, id)
		if err != nil {
			return err
		}
		for _, cb := range n.OnError {
			if err := f.start(ctx, wf, cb, failure, env.Request); err != nil {
				return err
			}
		}
		if first && id > 0 && n.Kind != nodeTask && n.Kind != nodeChunk {
			// The chains, groups and chords around the failed task fail
			// with it, for their handles (Handle.Parent).
			r := &Record{ID: workflowTaskID(wf, id), Task: env.Task, Queue: env.Queue, State: StateFailed, Attempt: env.Attempt,
				Error: fmt.Sprintf("workflow step %s (task %s) failed: %s", env.NodeID, env.ID, cause), UpdatedAt: time.Now()}
			if err := f.store.PutRecord(ctx, r, f.ttl); err != nil {
				return err
			}
		}
		id = n.Parent
	}
	return nil
}

// spliceArg returns the JSON object args with the member key set to value,
// added when args lacks it (a field marshalled with omitempty).
func spliceArg(args []byte, key string, value []byte) ([]byte, error) {
	r := codec.NewReader(args)
	var w codec.Writer
	w.Grow(len(args) + len(key) + len(value) + 4)
	w.BeginObject()
	found := false
	if r.BeginObject() {
		for r.NextField() {
			k := string(r.Key())
			v := r.Raw()
			if k == key {
				v, found = value, true
			}
			w.MapKeyString(k)
			w.Marshaler(json.RawMessage(v))
		}
	}
	if !found {
		w.MapKeyString(key)
		w.Marshaler(json.RawMessage(value))
	}
	w.EndObject()
	if err := r.End(); err != nil {
		return nil, err
	}
	return w.Bytes(), w.Err()
}

// sliceDecoder decodes a JSON array with elem.
func sliceDecoder[R any](elem func([]byte) (R, error)) func([]byte) ([]R, error) {
	return func(data []byte) ([]R, error) {
		r := codec.NewReader(data)
		var out []R
		if r.BeginArray() {
			out = []R{}
			for r.NextElem() {
				v, err := elem(r.Raw())
				if err != nil {
					return nil, err
				}
				out = append(out, v)
			}
		}
		return out, r.End()
	}
}

// chunkHandler runs h on each call of a chunk message's list, in turn, and
// returns the list of their results. The first failure fails the chunk.
func chunkHandler(h Handler) Handler {
	return func(ctx context.Context, payload []byte) ([]byte, error) {
		r := codec.NewReader(payload)
		var results [][]byte
		if r.BeginArray() {
			for r.NextElem() {
				res, err := h(ctx, r.Raw())
				if err != nil {
					return nil, err
				}
				if len(res) == 0 {
					res = []byte("null")
				}
				results = append(results, res)
			}
		}
		if err := r.End(); err != nil {
			return nil, &decodeError{err: fmt.Errorf("chunk: %w", err)}
		}
		return joinJSON(results, false), nil
	}
}
