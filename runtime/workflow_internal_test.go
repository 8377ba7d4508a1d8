package runtime

import (
	"encoding/json"
	"reflect"
	"testing"
)

// A step's first argument replaces its member of the arguments, or is
// added when the arguments lack it (a field marshalled with omitempty).
func TestSpliceArg(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ args, key, value, want string }{
		{`{"a":0,"b":2}`, "a", `7`, `{"a":7,"b":2}`},
		{`{"b":2,"a":0}`, "a", `[1,2]`, `{"b":2,"a":[1,2]}`},
		{`{"b":2}`, "xs", `[1,2]`, `{"b":2,"xs":[1,2]}`},
		{`{}`, "xs", `[]`, `{"xs":[]}`},
	} {
		got, err := spliceArg([]byte(tc.args), tc.key, []byte(tc.value))
		if err != nil || string(got) != tc.want {
			t.Errorf("spliceArg(%s, %s, %s) = %s, %v; want %s", tc.args, tc.key, tc.value, got, err, tc.want)
		}
	}
	if _, err := spliceArg([]byte(`{"a":`), "a", []byte(`1`)); err == nil {
		t.Error("spliceArg of malformed arguments succeeded")
	}
}

type intArgs struct {
	A int `json:"a"`
}

func (a *intArgs) MarshalTask() ([]byte, error)    { return json.Marshal(a) }
func (a *intArgs) UnmarshalTask(data []byte) error { return json.Unmarshal(data, a) }

// A stored node decodes whole, or, for a task, as its place in the tree
// only; a chain's, group's or chord's node is whole either way.
func TestDecodeNode(t *testing.T) {
	t.Parallel()
	task := &Task[int]{Def: TaskDef{Name: "n.Add", Queue: "q", Priority: 3, Fingerprint: "fp"}}
	sumTask := &Task[int]{Def: TaskDef{Name: "n.Sum", Queue: "q", Fingerprint: "fp2"}}
	cbTask := &Task[None]{Def: TaskDef{Name: "n.Cb", Queue: "q", Fingerprint: "fp3"}}
	sig := func(a int) Sig[int] { return NewSig(task, &intArgs{A: a}) }
	sum := NewStep(sumTask, "xs", &intArgs{}, func(xs []int) ([]byte, error) { return json.Marshal(xs) })
	cb := NewStep(cbTask, "a", &intArgs{}, func(f Failure) ([]byte, error) { return json.Marshal(f) })
	root := OnError(Then(Chord([]Sig[int]{sig(1), OnError(sig(2), cb).With(Queue("other"), Priority(7))}, sum),
		NewStep(task, "a", &intArgs{}, func(v int) ([]byte, error) { return json.Marshal(v) })), cb)
	nodes, err := flatten(root.n)
	if err != nil {
		t.Fatal(err)
	}
	tasks := 0
	for id, n := range nodes {
		b, err := json.Marshal(n)
		if err != nil {
			t.Fatal(err)
		}
		whole, err := decodeNode(b, true)
		if err != nil || !reflect.DeepEqual(whole, n) {
			t.Fatalf("node %d %s: decoded whole %+v, %v; want %+v", id, b, whole, err, n)
		}
		link, err := decodeNode(b, false)
		if err != nil {
			t.Fatal(err)
		}
		want := n
		if n.Kind == nodeTask || n.Kind == nodeChunk {
			tasks++
			want = &wfNode{Kind: n.Kind, Parent: n.Parent, Pos: n.Pos, Children: n.Children, OnError: n.OnError, Flatten: n.Flatten}
		}
		if !reflect.DeepEqual(link, want) {
			t.Fatalf("node %d %s: decoded as a link %+v; want %+v", id, b, link, want)
		}
	}
	if tasks != 6 {
		t.Fatalf("%d task nodes, want 6", tasks)
	}
	if _, err := decodeNode([]byte(`{"kind":1,"parent":`), false); err == nil {
		t.Fatal("a malformed node decoded")
	}
}
