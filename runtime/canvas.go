package runtime

import (
	"cmp"
	"errors"
)

// This file defines the workflow (canvas) types. Composition builds a tree
// of nodes; the compiler checks that each step's input type is the previous
// result type. Submit (workflow.go) stores the tree in the Store and runs it.

type nodeKind uint8

const (
	nodeTask  nodeKind = iota + 1 // one task call
	nodeThen                      // children[0], then children[1] fed its result
	nodeSeq                       // children[0], then children[1] ignoring its result
	nodeGroup                     // children in parallel; results in order
	nodeChord                     // children[:n-1] in parallel, then children[n-1] fed their results
	nodeChunk                     // one message applying a task to several inputs in turn
)

// node is one vertex of a workflow tree.
type node struct {
	kind     nodeKind
	def      *TaskDef
	args     Payload // complete arguments, or all but the first for a step
	firstArg string  // for a step: the wire name of the argument fed by the previous result
	opts     []Option
	children []*node
	// inputs are the encoded first arguments of a Map member or a chunk;
	// flatten joins a group's members' results (the chunks of Chunks).
	inputs  [][]byte
	flatten bool
	err     error // from encoding an item; Submit reports it
	// onError are callbacks (steps taking a Failure) run once when a task
	// of this node's subtree fails.
	onError []*node
}

// Sig is a complete task call, or a composed workflow, whose result is R
// (Celery's signature).
type Sig[R any] struct {
	n      *node
	decode func([]byte) (R, error)
}

// Step is a task call missing its first argument, of type In, which the
// previous step's result fills in (Celery's partial signature).
type Step[In, Out any] struct {
	n        *node
	decode   func([]byte) (Out, error)
	encodeIn func(In) ([]byte, error) // for Map and Chunks, which give In themselves
}

// NewSig returns the call of task t with args. Generated XSig functions
// call it.
func NewSig[R any](t *Task[R], args Payload) Sig[R] {
	return Sig[R]{n: &node{kind: nodeTask, def: &t.Def, args: args}, decode: t.UnmarshalResult}
}

// NewStep returns the call of task t with args, whose argument named
// firstArg on the wire is left to the previous step; marshalIn encodes that
// argument. Generated XStep functions call it.
func NewStep[In, Out any](t *Task[Out], firstArg string, args Payload, marshalIn func(In) ([]byte, error)) Step[In, Out] {
	return Step[In, Out]{
		n:        &node{kind: nodeTask, def: &t.Def, args: args, firstArg: firstArg},
		decode:   t.UnmarshalResult,
		encodeIn: marshalIn,
	}
}

// With returns a copy of s whose task, or every task of the workflow, runs
// with opts (for example Queue or Priority).
func (s Sig[R]) With(opts ...Option) Sig[R] {
	return Sig[R]{n: s.n.with(opts), decode: s.decode}
}

// With returns a copy of s whose task runs with opts.
func (s Step[In, Out]) With(opts ...Option) Step[In, Out] {
	return Step[In, Out]{n: s.n.with(opts), decode: s.decode, encodeIn: s.encodeIn}
}

func (n *node) with(opts []Option) *node {
	c := *n
	c.opts = append(append([]Option(nil), n.opts...), opts...)
	return &c
}

// Then chains a and step: step runs after a succeeds, with a's result as its
// first argument.
func Then[A, B any](a Sig[A], step Step[A, B]) Sig[B] {
	return Sig[B]{n: &node{kind: nodeThen, children: []*node{a.n, step.n}}, decode: step.decode}
}

// Seq chains a and b: b runs after a succeeds, ignoring a's result.
func Seq[A, B any](a Sig[A], b Sig[B]) Sig[B] {
	return Sig[B]{n: &node{kind: nodeSeq, children: []*node{a.n, b.n}}, decode: b.decode}
}

// Group runs sigs in parallel; its result lists theirs in the order given.
func Group[R any](sigs ...Sig[R]) Sig[[]R] {
	n := &node{kind: nodeGroup, children: make([]*node, len(sigs))}
	var elem func([]byte) (R, error)
	for i, s := range sigs {
		n.children[i] = s.n
		elem = s.decode
	}
	return Sig[[]R]{n: n, decode: sliceDecoder(elem)}
}

// Chord runs header in parallel, then body once with their results in order.
func Chord[R, S any](header []Sig[R], body Step[[]R, S]) Sig[S] {
	n := &node{kind: nodeChord, children: make([]*node, 0, len(header)+1)}
	for _, s := range header {
		n.children = append(n.children, s.n)
	}
	n.children = append(n.children, body.n)
	return Sig[S]{n: n, decode: body.decode}
}

// Map runs step once per item, in parallel; its result lists the step's
// results in item order.
func Map[In, Out any](step Step[In, Out], items []In) Sig[[]Out] {
	n := &node{kind: nodeGroup, children: make([]*node, len(items))}
	for i, it := range items {
		c := *step.n
		in, err := encodeItem(step, it)
		c.inputs, c.err = [][]byte{in}, err
		n.children[i] = &c
	}
	return Sig[[]Out]{n: n, decode: sliceDecoder(step.decode)}
}

// Chunks runs step over items in ceil(len(items)/size) messages, each
// applying the step to its items in turn; its result lists the step's
// results in item order. It trades parallelism for fewer messages.
func Chunks[In, Out any](step Step[In, Out], items []In, size int) Sig[[]Out] {
	size = max(size, 1)
	n := &node{kind: nodeGroup, flatten: true}
	for start := 0; start < len(items); start += size {
		c := *step.n
		c.kind = nodeChunk
		for _, it := range items[start:min(start+size, len(items))] {
			in, err := encodeItem(step, it)
			c.inputs = append(c.inputs, in)
			c.err = cmp.Or(c.err, err)
		}
		n.children = append(n.children, &c)
	}
	return Sig[[]Out]{n: n, decode: sliceDecoder(step.decode)}
}

// encodeItem encodes a Map or Chunks item.
func encodeItem[In, Out any](step Step[In, Out], it In) ([]byte, error) {
	if step.encodeIn == nil {
		return nil, errors.New("the step cannot encode its input; regenerate it with this version of taskgen")
	}
	return step.encodeIn(it)
}

// Failure describes a failed task to an OnError callback, whose first
// parameter it is.
type Failure struct {
	Task       string `json:"task"`        // wire name
	TaskID     string `json:"task_id"`     //
	Queue      string `json:"queue"`       //
	WorkflowID string `json:"workflow_id"` //
	Error      string `json:"error"`       // the last error's text, with the dead-letter reason
	Attempts   int    `json:"attempts"`    // runs of the task, the failed one included
}

// OnError returns sig with cb attached: when a task of sig fails for good
// (it is dead-lettered), cb runs once with the Failure. The workflow still
// fails; its handle returns the task's error.
func OnError[R, E any](sig Sig[R], cb Step[Failure, E]) Sig[R] {
	n := *sig.n
	n.onError = append(append([]*node(nil), sig.n.onError...), cb.n)
	return Sig[R]{n: &n, decode: sig.decode}
}
