// Command schedproc runs a Scheduler on the Redis transport until SIGTERM
// or SIGINT. It adds one schedule (idempotently, as every process of an
// application would at startup) and prints each fire as a JSON log line on
// stdout. The process-level scheduler tests build it, start several and
// kill one.
//
//	schedproc -url redis://127.0.0.1:6379/0?prefix=... [-spec '* * * * * *'] [-queue sched-proc]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/redis"
)

// Args is the scheduled task's payload.
type Args struct {
	N int `json:"n"`
}

func (a *Args) MarshalTask() ([]byte, error)    { return json.Marshal(a) }
func (a *Args) UnmarshalTask(data []byte) error { return json.Unmarshal(data, a) }

func main() {
	log.SetFlags(0)
	log.SetPrefix("schedproc: ")
	url := flag.String("url", "", "Redis URL, with the test's prefix")
	name := flag.String("name", "tick", "the schedule's name")
	spec := flag.String("spec", "* * * * * *", "the schedule's spec")
	queue := flag.String("queue", "sched-proc", "the task's queue")
	refresh := flag.Duration("refresh", 200*time.Millisecond, "how often to look for changed schedules")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	tr, err := redis.Open(ctx, *url)
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Close()
	task := &runtime.Task[runtime.None]{
		Def: runtime.TaskDef{
			Name: "schedproc.Tick", Queue: *queue, Priority: runtime.DefaultPriority,
			BackoffMin: time.Second, BackoffMax: time.Second, Fingerprint: "schedproc-v1",
		},
		MarshalResult: runtime.MarshalNone, UnmarshalResult: runtime.UnmarshalNone,
	}
	// Info and up: the fires, and any tick missed or skipped.
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	s := runtime.NewScheduler(tr, runtime.NewClient(tr), runtime.SchedulerLogger(logger), runtime.SchedulerRefresh(*refresh))
	if err := s.Add(ctx, *name, *spec, runtime.NewSig(task, &Args{N: 1})); err != nil {
		log.Fatal(err)
	}
	// The test waits for this line before it counts on the scheduler.
	os.Stdout.WriteString("ready\n")
	if err := s.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
