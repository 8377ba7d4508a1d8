// Command demo runs the example tasks end to end on the in-memory
// transport: it enqueues typed tasks, runs a worker, prints the results and
// exits. `make demo` runs it; no server is needed.
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

	"github.com/taskgen/taskgen/example/tasks"
	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("demo: ")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, out io.Writer) error {
	tr, err := transport.Open(ctx, "mem://")
	if err != nil {
		return err
	}
	defer tr.Close()

	// The worker: queues served in strict order, a mailer with its
	// dependencies, and every plain task of the package.
	outbox := &tasks.Outbox{}
	w := runtime.NewWorker(tr, runtime.WorkerConfig{
		Queues:      []string{"emails", "etl", "numbers", "alerts"},
		Concurrency: 8,
		// The demo prints what it needs; the worker's own logs would repeat it.
		Logger: slog.New(slog.DiscardHandler),
	})
	if err := errors.Join(tasks.Register(w), tasks.RegisterMailer(w, &tasks.Mailer{Outbox: outbox, From: "shop@example.com"})); err != nil {
		return err
	}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()

	c := runtime.NewClient(tr)
	if err := mail(ctx, out, c, outbox); err != nil {
		return err
	}
	if err := etl(ctx, out, c); err != nil {
		return err
	}
	if err := fanOut(ctx, out, c); err != nil {
		return err
	}

	stop() // graceful drain
	if err := <-done; err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	fmt.Fprintln(out, "worker drained; bye")
	return nil
}

func mail(ctx context.Context, out io.Writer, c *runtime.Client, outbox *tasks.Outbox) error {
	welcome, err := tasks.EnqueueSendWelcome(ctx, c, 42, "ada@example.com")
	if err != nil {
		return err
	}
	order := tasks.Order{ID: "A-1001", Email: "ada@example.com", Currency: "EUR", Lines: []tasks.OrderLine{
		{SKU: "book", Quantity: 2, Price: 12.5}, {SKU: "pen", Quantity: 1, Price: 3},
	}}
	receipt, err := tasks.EnqueueSendReceipt(ctx, c, order, runtime.Priority(9))
	if err != nil {
		return err
	}
	if err := errors.Join(welcome.Wait(ctx), receipt.Wait(ctx)); err != nil {
		return err
	}
	// Many in flight from one goroutine: send them all, then learn that
	// the broker holds each, then wait for each to run.
	var pending []*runtime.Pending[runtime.None]
	for i, email := range []string{"bob@example.com", "eve@example.com"} {
		pending = append(pending, runtime.EnqueueAsync(ctx, c, tasks.SendWelcomeSig(int64(43+i), email)))
	}
	for _, p := range pending {
		h, err := p.Wait(ctx)
		if err != nil {
			return err
		}
		if err := h.Wait(ctx); err != nil {
			return err
		}
	}
	// A task that fails permanently reports its error through its handle.
	bad, err := tasks.EnqueueSendWelcome(ctx, c, 7, "not-an-address", runtime.Retries(0))
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "mail:")
	for _, m := range outbox.Sent() {
		fmt.Fprintln(out, "  sent", m)
	}
	fmt.Fprintln(out, "  failed as expected:", bad.Wait(ctx))
	return nil
}

func etl(ctx context.Context, out io.Writer, c *runtime.Client) error {
	// A typed chain: each step takes the previous step's result as its
	// first argument, and the compiler checks that the types line up.
	src := tasks.Source{Name: "orders.csv", Since: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	pipeline := runtime.Then(runtime.Then(tasks.ExtractSig(src), tasks.TransformStep("v2")), tasks.LoadStep("warehouse"))
	h, err := runtime.Submit(ctx, c, pipeline)
	if err != nil {
		return err
	}
	report, err := h.Get(ctx) // a tasks.LoadReport
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "etl: Extract → Transform → Load loaded %d records into %s\n", report.Loaded, report.Destination)

	// A failing step ends the workflow with its error, and the error
	// callback attached with OnError runs once.
	broken := runtime.OnError(
		runtime.Then(runtime.Then(tasks.ExtractSig(src), tasks.TransformStep("v2")), tasks.LoadStep("").With(runtime.Retries(0))),
		tasks.AlertStep("#data-eng"))
	h, err = runtime.Submit(ctx, c, broken)
	if err != nil {
		return err
	}
	_, err = h.Get(ctx)
	fmt.Fprintln(out, "etl without a destination failed as expected:", err != nil)
	for deadline := time.Now().Add(10 * time.Second); len(tasks.Alerts.List()) == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	for _, a := range tasks.Alerts.List() {
		fmt.Fprintln(out, "  alert", a)
	}
	return nil
}

func fanOut(ctx context.Context, out io.Writer, c *runtime.Client) error {
	// A group returns its members' results in order; a chord feeds them
	// to its body.
	var squares []runtime.Sig[int]
	for n := 1; n <= 10; n++ {
		squares = append(squares, tasks.SquareSig(n))
	}
	group, err := runtime.Submit(ctx, c, runtime.Group(squares...))
	if err != nil {
		return err
	}
	xs, err := group.Get(ctx) // a []int
	if err != nil {
		return err
	}
	chord, err := runtime.Submit(ctx, c, runtime.Chord(squares, tasks.SumStep()))
	if err != nil {
		return err
	}
	total, err := chord.Get(ctx) // an int
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "numbers: group of squares of 1..10 = %v; chord summing them = %d\n", xs, total)
	return nil
}
