// Command routing shows how taskgen picks a task's queue, on the in-memory
// transport: the call's Queue option, then the PriorityPolicy keyed on the
// source of the request (runtime.WithRequest), then rules on the wire name,
// then a router on the arguments, then the annotation, then the default
// queue. The request travels with each task, to the tasks it enqueues and
// to every step of a workflow. `go run ./example/cmd/routing`; no server
// is needed.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/taskgen/taskgen/example/routing"
	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("routing: ")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// queues are the queues of the example, the most urgent first: the order
// in which the worker serves them.
var queues = []string{
	"core_computation_high_priority", "core_computation", "notifications", "images", "bulk", "default",
}

// options is the routing of the example's client.
func options() []runtime.ClientOption {
	return []runtime.ClientOption{
		// Every queue a rule or policy names must be declared: a typo
		// fails at startup, not by stranding tasks in a queue nobody
		// serves.
		runtime.WithQueues(queues...),
		// Layer 2: a request from the frontend goes to the high-priority
		// twin of the core queue, and its notifications jump their queue.
		runtime.WithPriorityPolicy(runtime.PriorityPolicy{
			"frontend": {
				"core_computation": {Queue: "core_computation_high_priority"},
				"notifications":    {Priority: 9},
			},
		}),
		// Layer 3: glob rules on the wire name.
		runtime.WithRoutes(runtime.Route("reports.*", "bulk")),
		// Layer 4: a router that reads the arguments.
		runtime.WithRouter(func(task *runtime.TaskDef, args []byte) string {
			var a routing.ResizeArgs
			if task.Name == routing.ResizeTask.Def.Name && a.UnmarshalTask(args) == nil && a.Width > 4000 {
				return "bulk"
			}
			return ""
		}),
	}
}

func run(ctx context.Context, out io.Writer) error {
	tr, err := transport.Open(ctx, "mem://")
	if err != nil {
		return err
	}
	defer tr.Close()

	// A policy that names a queue nobody declared is refused at startup.
	_, err = runtime.NewCheckedClient(tr, runtime.WithQueues(queues...), runtime.WithPriorityPolicy(runtime.PriorityPolicy{
		"frontend": {"core_computation": {Queue: "core_computation_high"}},
	}))
	fmt.Fprintln(out, "a misspelt policy is refused:", err)

	c, err := runtime.NewCheckedClient(tr, options()...)
	if err != nil {
		return err
	}
	journal := &routing.Journal{}
	w := runtime.NewWorker(tr, runtime.WorkerConfig{
		Queues: queues, Concurrency: 4, Logger: slog.New(slog.DiscardHandler),
	})
	if err := errors.Join(
		routing.RegisterCore(w, &routing.Core{Client: c, Journal: journal}),
		routing.RegisterReports(w, &routing.Reports{Journal: journal}),
		routing.RegisterImages(w, &routing.Images{Journal: journal}),
	); err != nil {
		return err
	}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()

	// Who asked travels with the task: attach it once, where the request
	// comes in.
	frontend := runtime.WithRequest(ctx, runtime.Request{Source: "frontend", TenantID: "acme", UserID: "u42"})
	nightly := runtime.WithRequest(ctx, runtime.Request{Source: "cron", TenantID: "acme"})
	settle := func(h waiter, err error) error {
		if err != nil {
			return err
		}
		return h.Wait(ctx)
	}
	steps := []struct {
		title string
		runs  int // tasks the step runs
		do    func() error
	}{
		{"the frontend asks for a forecast; its notification inherits the request", 2, func() error {
			return settle(routing.EnqueueCompute(frontend, c, "forecast"))
		}},
		{"a nightly job asks for the same", 2, func() error {
			return settle(routing.EnqueueCompute(nightly, c, "forecast"))
		}},
		{"the call's Queue option beats everything", 2, func() error {
			return settle(routing.EnqueueCompute(frontend, c, "rerun", runtime.Queue("default")))
		}},
		{"a rule on the wire name", 1, func() error {
			return settle(routing.EnqueueDaily(nightly, c, "2026-01-01"))
		}},
		{"a router on the arguments, then the annotation", 2, func() error {
			return errors.Join(settle(routing.EnqueueResize(ctx, c, "poster.png", 8000)),
				settle(routing.EnqueueResize(ctx, c, "thumb.png", 640)))
		}},
		{"every step of a workflow carries the request", 2, func() error {
			h, err := runtime.Submit(frontend, c, runtime.Seq(routing.ResizeSig("avatar.png", 128), routing.DailySig("today")))
			return settle(h, err)
		}},
	}
	seen := 0
	for _, s := range steps {
		if err := s.do(); err != nil {
			return fmt.Errorf("%s: %w", s.title, err)
		}
		seen += s.runs
		lines, err := await(ctx, journal, seen)
		if err != nil {
			return fmt.Errorf("%s: %w", s.title, err)
		}
		fmt.Fprintln(out, s.title+":")
		for _, l := range lines[seen-s.runs:] {
			fmt.Fprintln(out, "  "+l)
		}
	}

	stop() // graceful drain
	if err := <-done; err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	return nil
}

// waiter is a task's handle, whatever its result type.
type waiter interface{ Wait(context.Context) error }

// await waits until the journal holds n lines, and returns them.
func await(ctx context.Context, j *routing.Journal, n int) ([]string, error) {
	for {
		if lines := j.Lines(); len(lines) >= n {
			return lines, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%d of %d tasks ran: %w", len(j.Lines()), n, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}
