package runtime

import (
	"encoding/json"

	"github.com/taskgen/taskgen/runtime/codec"
)

// decodeNode decodes a stored node. Without full, a task's node gets only
// its place in the tree (kind, parent, position, error callbacks): what
// finishing or failing the task reads, without decoding its definition
// and arguments. A chain's, group's or chord's node has nothing else, and
// is always whole.
func decodeNode(b []byte, full bool) (*wfNode, error) {
	n := new(wfNode)
	r := codec.NewReader(b)
	if r.BeginObject() {
		for r.NextField() {
			switch string(r.Key()) {
			case "kind":
				n.Kind = nodeKind(r.Uint(8))
			case "parent":
				n.Parent = int(r.Int(0))
			case "pos":
				n.Pos = int(r.Int(0))
			case "children":
				n.Children = readInts(&r)
			case "on_error":
				n.OnError = readInts(&r)
			case "flatten":
				n.Flatten = r.Bool()
			default:
				r.Skip()
			}
		}
	}
	if err := r.End(); err != nil {
		return nil, err
	}
	if full && (n.Kind == nodeTask || n.Kind == nodeChunk) {
		n = new(wfNode)
		if err := json.Unmarshal(b, n); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// readInts reads an array of ints; null is nil.
func readInts(r *codec.Reader) []int {
	var out []int
	if r.BeginArray() {
		out = []int{}
		for r.NextElem() {
			out = append(out, int(r.Int(0)))
		}
	}
	return out
}
