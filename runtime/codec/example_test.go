package codec_test

import (
	"fmt"

	"github.com/taskgen/taskgen/runtime/codec"
)

// TransformArgs stands for a payload struct written by cmd/taskgen.
type TransformArgs struct {
	Rows   []int64
	Schema string
}

// MarshalTask is shaped like the generated encoder.
func (a *TransformArgs) MarshalTask() ([]byte, error) {
	var w codec.Writer
	w.BeginObject()
	w.Key(`"rows":`)
	if a.Rows == nil {
		w.Null()
	} else {
		w.BeginArray()
		for _, v := range a.Rows {
			w.Elem()
			w.Int(v)
		}
		w.EndArray()
	}
	w.Key(`"schema":`)
	w.String(a.Schema)
	w.EndObject()
	return w.Bytes(), w.Err()
}

// UnmarshalTask is shaped like the generated decoder.
func (a *TransformArgs) UnmarshalTask(data []byte) error {
	r := codec.NewReader(data)
	if r.BeginObject() {
		for r.NextField() {
			switch string(r.Key()) {
			case "rows":
				if r.IsNull() {
					a.Rows = nil
					continue
				}
				if r.BeginArray() {
					a.Rows = a.Rows[:0]
					for r.NextElem() {
						a.Rows = append(a.Rows, r.Int(64))
					}
				}
			case "schema":
				a.Schema = r.String()
			default:
				r.Skip()
			}
		}
	}
	return r.End()
}

func Example() {
	in := TransformArgs{Rows: []int64{1, 2, 3}, Schema: "v2 <beta>"}
	data, err := in.MarshalTask()
	if err != nil {
		panic(err)
	}
	fmt.Println(string(data))

	var out TransformArgs
	err = out.UnmarshalTask([]byte(`{"schema":"v3","extra":{"ignored":[true]},"rows":[4,5]}`))
	fmt.Println(out.Rows, out.Schema, err)

	err = out.UnmarshalTask([]byte(`{"rows":[1,2,],"schema":"v3"}`))
	fmt.Println(err)
	// Output:
	// {"rows":[1,2,3],"schema":"v2 \u003cbeta\u003e"}
	// [4 5] v3 <nil>
	// codec: offset 13: expected value, found ']'
}
