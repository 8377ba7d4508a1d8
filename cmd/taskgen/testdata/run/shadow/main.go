// Command shadow checks that generated code compiles and works when the
// package's own names and the task's parameter names shadow what the
// generated code uses.
package main

import (
	"context"
	"fmt"
	"os"

	rt "github.com/taskgen/taskgen/runtime"
)

// Package-level names that generated code must not collide with.
var (
	codec   = "not the codec package"
	bytes   = 1
	errors  = "not the errors package"
	v, w, r = 1, 2, 3
)

type k struct{}

func a() string { return "a" }

func keys() {}

// Shadow has parameters named like the generated code's own variables.
//
//taskgen:task
func Shadow(ctx context.Context, c int, opts []string, runtime string, ShadowTask bool, data map[string]int) (string, error) {
	return fmt.Sprintf("%d %v %s %t %v", c, opts, runtime, ShadowTask, data), nil
}

type registrar map[string]rt.Handler

func (m registrar) Register(def *rt.TaskDef, h rt.Handler) error {
	m[def.Name] = h
	return nil
}

type enqueuer struct{ payload []byte }

func (e *enqueuer) EnqueueTask(ctx context.Context, def *rt.TaskDef, payload []byte, opts ...rt.Option) (*rt.Receipt, error) {
	e.payload = payload
	return &rt.Receipt{ID: "1"}, nil
}

func main() {
	_, _, _, _, _, _ = codec, bytes, errors, v, w, r
	_, _ = k{}, a
	keys()

	e := &enqueuer{}
	if _, err := EnqueueShadow(context.Background(), e, 1, []string{"x"}, "rt", true, map[string]int{"b": 2, "a": 1}); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL enqueue:", err)
		os.Exit(1)
	}
	want := `{"c":1,"opts":["x"],"runtime":"rt","ShadowTask":true,"data":{"a":1,"b":2}}`
	if string(e.payload) != want {
		fmt.Fprintf(os.Stderr, "FAIL payload:\ngot  %s\nwant %s\n", e.payload, want)
		os.Exit(1)
	}
	reg := registrar{}
	if err := Register(reg); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL register:", err)
		os.Exit(1)
	}
	res, err := reg["main.Shadow"](context.Background(), e.payload)
	if err != nil || string(res) != `"1 [x] rt true map[a:1 b:2]"` {
		fmt.Fprintf(os.Stderr, "FAIL handler: %s, %v\n", res, err)
		os.Exit(1)
	}
	_ = ShadowStep(nil, "", false, nil)
	fmt.Println("ok")
}
