package memory_test

import (
	"context"
	"fmt"
	"time"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/memory"
)

func Example() {
	ctx := context.Background()
	tr := memory.New()
	defer tr.Close()

	_ = tr.Publish(ctx, &runtime.Message{ID: "low", Queue: "emails", Priority: 1, Body: []byte("newsletter")})
	_ = tr.Publish(ctx, &runtime.Message{ID: "high", Queue: "emails", Priority: 9, Body: []byte("password reset")})

	ds, _ := tr.Fetch(ctx, runtime.FetchRequest{Queues: []string{"emails"}, Max: 10, Lease: time.Minute})
	for _, d := range ds {
		fmt.Printf("%s: %s\n", d.ID, d.Body)
		_ = tr.Ack(ctx, d)
	}
	// Output:
	// high: password reset
	// low: newsletter
}

func ExampleTransport_WaitRecord() {
	ctx := context.Background()
	tr := memory.New()
	defer tr.Close()

	go func() {
		// A worker finishing the task.
		_ = tr.PutRecord(ctx, &runtime.Record{ID: "t1", State: runtime.StateSucceeded, Result: []byte("42")}, time.Hour)
	}()
	r, err := tr.WaitRecord(ctx, "t1")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s %s\n", r.State, r.Result)
	// Output: succeeded 42
}
