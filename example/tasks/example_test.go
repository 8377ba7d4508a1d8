package tasks_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/taskgen/taskgen/example/tasks"
	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport"
)

// A typed enqueue, a worker, and a typed result, on the in-memory transport.
func Example() {
	ctx := context.Background()
	tr, err := transport.Open(ctx, "mem://")
	if err != nil {
		panic(err)
	}
	defer tr.Close()

	w := runtime.NewWorker(tr, runtime.WorkerConfig{Queues: []string{"numbers"}, Logger: slog.New(slog.DiscardHandler)})
	if err := tasks.Register(w); err != nil {
		panic(err)
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- w.Run(wctx) }()

	c := runtime.NewClient(tr)
	h, err := tasks.EnqueueSquare(ctx, c, 12) // tasks.EnqueueSquare(ctx, c, "12") would not compile
	if err != nil {
		panic(err)
	}
	n, err := h.Get(ctx) // n is an int
	fmt.Println(n, err)

	stop()
	fmt.Println(<-done)
	// Output:
	// 144 <nil>
	// <nil>
}

// Workflow steps are typed: Transform takes Extract's result, Load takes
// Transform's, and a chord's body takes the slice of its header's results.
// A step that does not fit does not compile.
func Example_workflowTypes() {
	etl := runtime.Then(runtime.Then(tasks.ExtractSig(tasks.Source{Name: "orders.csv"}), tasks.TransformStep("v2")), tasks.LoadStep("warehouse"))
	sum := runtime.Chord([]runtime.Sig[int]{tasks.SquareSig(1), tasks.SquareSig(2)}, tasks.SumStep())
	fmt.Printf("%T\n%T\n", etl, sum)
	// Output:
	// runtime.Sig[github.com/taskgen/taskgen/example/tasks.LoadReport]
	// runtime.Sig[int]
}
