// Command schedule runs periodic tasks on the in-memory transport: it adds
// a schedule every second and a nightly cron schedule in a time zone, runs
// a scheduler and a worker, prints a few fires, then pauses and removes
// the schedule and exits. No server is needed:
//
//	go run ./example/cmd/schedule
//
// On Redis, any number of processes may run the same code against one
// store: the schedules are shared, and each tick fires once.
package main

import (
	"context"
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
	log.SetPrefix("schedule: ")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, 3); err != nil {
		log.Fatal(err)
	}
}

// run fires the squares schedule n times, printing each result.
func run(ctx context.Context, out io.Writer, n int) error {
	tr, err := transport.Open(ctx, "mem://")
	if err != nil {
		return err
	}
	defer tr.Close()

	w := runtime.NewWorker(tr, runtime.WorkerConfig{Queues: []string{"numbers"}, Logger: slog.New(slog.DiscardHandler)})
	if err := tasks.Register(w); err != nil {
		return err
	}
	c := runtime.NewClient(tr)
	s := runtime.NewScheduler(c.Store(), c, runtime.SchedulerLogger(slog.New(slog.DiscardHandler)))

	// Adding is idempotent: every process of an application may add its
	// schedules at startup. A fixed interval, skipping a tick while the
	// previous run is still going...
	if err := s.Add(ctx, "squares", "@every 1s", tasks.SquareSig(7), runtime.NoOverlap()); err != nil {
		return err
	}
	// ...and a workflow at 02:00 in Paris each night; if no scheduler ran
	// at 02:00, the first one up fires it once, late.
	squares := []runtime.Sig[int]{tasks.SquareSig(1), tasks.SquareSig(2), tasks.SquareSig(3)}
	if err := s.Add(ctx, "nightly-report", "0 2 * * *", runtime.Chord(squares, tasks.SumStep()),
		runtime.TimeZone("Europe/Paris"), runtime.OnMissed(runtime.MissedRunOnce)); err != nil {
		return err
	}
	if err := list(ctx, out, s); err != nil {
		return err
	}

	rctx, stop := context.WithCancel(ctx)
	defer stop()
	wdone, sdone := make(chan error, 1), make(chan error, 1)
	go func() { wdone <- w.Run(rctx) }()
	go func() { sdone <- s.Run(rctx) }()

	// Each fire's task has the ID "squares@<tick>"; List shows the last.
	var prev time.Time
	for fired := 0; fired < n; {
		info, err := schedule(ctx, s, "squares")
		if err != nil {
			return err
		}
		if info.LastID == "" || !info.LastTick.After(prev) {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		v, err := runtime.NewHandle(info.LastID, c.Store(), tasks.SquareTask.UnmarshalResult).Get(ctx)
		if err != nil {
			return err
		}
		gap := ""
		if !prev.IsZero() {
			gap = fmt.Sprintf(", %v after the previous tick", info.LastTick.Sub(prev))
		}
		fmt.Fprintf(out, "squares fired: Square(7) = %d%s\n", v, gap)
		prev = info.LastTick
		fired++
	}

	// Changes reach every scheduler on the store within its refresh interval.
	if err := s.Pause(ctx, "squares"); err != nil {
		return err
	}
	if info, err := schedule(ctx, s, "squares"); err == nil {
		fmt.Fprintf(out, "squares paused: %v\n", info.Paused)
	}
	if err := s.Remove(ctx, "squares"); err != nil {
		return err
	}
	if err := list(ctx, out, s); err != nil {
		return err
	}
	stop()
	if err := <-sdone; err != nil {
		return err
	}
	if err := <-wdone; err != nil {
		return err
	}
	fmt.Fprintln(out, "scheduler and worker stopped; bye")
	return nil
}

// list prints the schedules.
func list(ctx context.Context, out io.Writer, s *runtime.Scheduler) error {
	infos, err := s.List(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%d schedule(s):\n", len(infos))
	for _, i := range infos {
		fmt.Fprintf(out, "  %-15s %-32q %-12s missed=%s no-overlap=%v\n", i.Name, i.Spec, i.Task, i.Missed, i.NoOverlap)
	}
	return nil
}

// schedule returns the schedule called name.
func schedule(ctx context.Context, s *runtime.Scheduler, name string) (runtime.ScheduleInfo, error) {
	infos, err := s.List(ctx)
	if err != nil {
		return runtime.ScheduleInfo{}, err
	}
	for _, i := range infos {
		if i.Name == name {
			return i, nil
		}
	}
	return runtime.ScheduleInfo{}, fmt.Errorf("schedule %q: %w", name, runtime.ErrNotFound)
}
