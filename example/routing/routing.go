// Package routing is taskgen's routing example: tasks whose queue is chosen
// by the call, by the source of the request that caused them, by a rule on
// their wire name, by a router that reads their arguments, or by their
// annotation. example/cmd/routing runs them.
package routing

//go:generate go run github.com/taskgen/taskgen/cmd/taskgen

import (
	"context"
	"fmt"
	"sync"

	"github.com/taskgen/taskgen/runtime"
)

// Journal records, for each task run, where it ran and for whom.
type Journal struct {
	mu    sync.Mutex
	lines []string
}

// Note records the task running under ctx as what.
func (j *Journal) Note(ctx context.Context, what string) {
	info, _ := runtime.Info(ctx)
	who := "no request"
	if r := info.Request; r != nil {
		who = fmt.Sprintf("source=%s tenant=%s user=%s", r.Source, r.TenantID, r.UserID)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.lines = append(j.lines, fmt.Sprintf("%-16s queue=%-30s route=%-16s %s", what, info.Queue, info.Route, who))
}

// Lines returns the records so far.
func (j *Journal) Lines() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.lines...)
}

// Core runs the core computations. It enqueues a notification when one
// finishes: that task inherits the request of the computation without
// being passed it.
type Core struct {
	Client  runtime.Enqueuer
	Journal *Journal
}

// Compute is a core computation. A request from the frontend sends it to
// the high-priority twin of its queue (see the command's PriorityPolicy).
//
//taskgen:task queue=core_computation
func (c *Core) Compute(ctx context.Context, job string) (int, error) {
	c.Journal.Note(ctx, "Compute "+job)
	if _, err := EnqueueNotify(ctx, c.Client, job+" is done"); err != nil {
		return 0, err
	}
	return len(job), nil
}

// Notify tells a user about a finished computation.
//
//taskgen:task queue=notifications
func (c *Core) Notify(ctx context.Context, text string) error {
	c.Journal.Note(ctx, "Notify")
	return nil
}

// Reports builds reports; a rule sends every reports.* task to the bulk
// queue.
type Reports struct{ Journal *Journal }

// Daily builds the daily report.
//
//taskgen:task name=reports.Daily
func (r *Reports) Daily(ctx context.Context, day string) error {
	r.Journal.Note(ctx, "reports.Daily")
	return nil
}

// Images resizes images; a router sends the large ones to the bulk queue.
type Images struct{ Journal *Journal }

// Resize resizes an image to width pixels.
//
//taskgen:task queue=images
func (i *Images) Resize(ctx context.Context, url string, width int) error {
	i.Journal.Note(ctx, fmt.Sprintf("Resize %d", width))
	return nil
}
