package runtime

import "testing"

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
