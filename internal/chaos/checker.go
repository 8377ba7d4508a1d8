package chaos

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Enqueue outcomes the checker keeps per task.
const (
	notEnqueued   byte = iota
	enqueued           // the enqueue returned nil
	enqueueFailed      // the enqueue returned an error
)

// Checker records every enqueue of a test and compares them with the
// completions the worker processes recorded (see Recorder).
type Checker struct {
	rdb  goredis.UniversalClient
	keys keys

	mu     sync.Mutex
	state  []byte // by task n
	faults map[string]int
}

// NewChecker returns a checker reading the records under prefix in rdb.
func NewChecker(rdb goredis.UniversalClient, prefix string) *Checker {
	return &Checker{rdb: rdb, keys: newKeys(prefix), faults: make(map[string]int)}
}

// Enqueued records the outcome of task n's enqueue.
func (c *Checker) Enqueued(n int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n >= len(c.state) {
		c.state = append(c.state, make([]byte, n+1-len(c.state)+len(c.state)/2)...)
	}
	if err != nil {
		c.state[n] = enqueueFailed
	} else {
		c.state[n] = enqueued
	}
}

// Fault counts an injected fault of a kind ("kill -9", "SIGTERM", ...).
func (c *Checker) Fault(kind string) {
	c.mu.Lock()
	c.faults[kind]++
	c.mu.Unlock()
}

// Report is what the checker found.
type Report struct {
	Enqueued      int   // enqueues that returned nil
	EnqueueErrors int   // enqueues that returned an error
	Completed     int   // distinct tasks completed at least once
	Runs          int64 // completed runs in all
	Lost          int   // enqueued, and never completed
	Duplicates    int   // tasks completed more than once
	ExtraRuns     int   // completed runs beyond each task's first
	Unexpected    int   // completed tasks whose enqueue did not return nil
	// UnexpectedErrored counts the Unexpected tasks whose enqueue returned
	// an error: the broker kept a message whose publish reported failure,
	// which at-least-once allows.
	UnexpectedErrored int
	AcksRefused       int           // stale acks refused with ErrLeaseLost
	AckedTwice        int           // tasks acked successfully more than once
	Early             int           // runs started before their task's ETA
	MaxLateness       time.Duration // largest start past a task's ETA
	Panics            int64         // runs of PanicTask
	Faults            map[string]int
	LostSample        []int // some lost tasks' numbers
}

// Report reads the records and compares them with the enqueues so far.
func (c *Checker) Report(ctx context.Context) (*Report, error) {
	k := c.keys
	pipe := c.rdb.Pipeline()
	done := pipe.Get(ctx, k.done())
	dup := pipe.HGetAll(ctx, k.dup())
	runs := pipe.Get(ctx, k.runs())
	ackDup := pipe.HLen(ctx, k.ackDup())
	refused := pipe.HGetAll(ctx, k.refused())
	early := pipe.HGetAll(ctx, k.early())
	late := pipe.Get(ctx, k.late())
	panics := pipe.Get(ctx, k.panics())
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
		return nil, fmt.Errorf("reading the chaos records: %w", err)
	}
	bits := []byte(done.Val())
	isDone := func(n int) bool { return n/8 < len(bits) && bits[n/8]&(0x80>>(n%8)) != 0 }

	c.mu.Lock()
	r := &Report{Faults: maps.Clone(c.faults)}
	state := slices.Clone(c.state)
	c.mu.Unlock()
	for n, s := range state {
		d := isDone(n)
		switch {
		case s == enqueued:
			r.Enqueued++
			if !d {
				r.Lost++
				if len(r.LostSample) < 10 {
					r.LostSample = append(r.LostSample, n)
				}
			}
		case s == enqueueFailed:
			r.EnqueueErrors++
			if d {
				r.Unexpected++
				r.UnexpectedErrored++
			}
		case d:
			r.Unexpected++
		}
		if d {
			r.Completed++
		}
	}
	for n := len(state); n < 8*len(bits); n++ {
		if isDone(n) {
			r.Unexpected++
			r.Completed++
		}
	}
	r.Duplicates = len(dup.Val())
	for _, v := range dup.Val() {
		x, _ := strconv.Atoi(v)
		r.ExtraRuns += x
	}
	r.Runs, _ = runs.Int64()
	r.AckedTwice = int(ackDup.Val())
	for _, v := range refused.Val() {
		x, _ := strconv.Atoi(v)
		r.AcksRefused += x
	}
	for _, v := range early.Val() {
		x, _ := strconv.Atoi(v)
		r.Early += x
	}
	if ns, err := late.Int64(); err == nil {
		r.MaxLateness = time.Duration(ns)
	}
	r.Panics, _ = panics.Int64()
	return r, nil
}

// RunsOf returns the completed runs recorded by each process, by pid.
func (c *Checker) RunsOf(ctx context.Context) (map[int]int, error) {
	m, err := c.rdb.HGetAll(ctx, c.keys.byPID()).Result()
	if err != nil {
		return nil, err
	}
	out := make(map[int]int, len(m))
	for pid, v := range m {
		p, _ := strconv.Atoi(pid)
		out[p], _ = strconv.Atoi(v)
	}
	return out, nil
}

// WaitSettled polls until every enqueued task has completed, or ctx is
// done, and returns the last report.
func (c *Checker) WaitSettled(ctx context.Context) (*Report, error) {
	for {
		r, err := c.Report(ctx)
		if err == nil && r.Lost == 0 {
			return r, nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return nil, err
			}
			return r, nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Table formats the report as a two-column table.
func (r *Report) Table() string {
	var b strings.Builder
	row := func(name string, v any) { fmt.Fprintf(&b, "  %-44s %v\n", name, v) }
	row("enqueued (nil error)", r.Enqueued)
	row("enqueue errors", r.EnqueueErrors)
	row("completed (distinct tasks)", r.Completed)
	row("completed runs", r.Runs)
	row("lost", r.Lost)
	row("duplicates (tasks run twice+)", r.Duplicates)
	row("extra runs", r.ExtraRuns)
	row("unexpected", r.Unexpected)
	row("  of which the enqueue errored", r.UnexpectedErrored)
	row("stale acks refused (lease lost)", r.AcksRefused)
	row("tasks acked twice", r.AckedTwice)
	row("runs started before their ETA", r.Early)
	if r.MaxLateness > 0 {
		row("max start past the ETA", r.MaxLateness.Round(time.Millisecond))
	}
	if r.Panics > 0 {
		row("panicking runs", r.Panics)
	}
	for _, kind := range slices.Sorted(maps.Keys(r.Faults)) {
		row("fault: "+kind, r.Faults[kind])
	}
	if len(r.LostSample) > 0 {
		row("lost, for example", r.LostSample)
	}
	return b.String()
}

// Acked reports whether an ack of task n succeeded.
func (c *Checker) Acked(ctx context.Context, n int) (bool, error) {
	bit, err := c.rdb.GetBit(ctx, c.keys.acked(), int64(n)).Result()
	return bit == 1, err
}

// Runs returns the completed runs recorded so far.
func (c *Checker) Runs(ctx context.Context) (int64, error) {
	n, err := c.rdb.Get(ctx, c.keys.runs()).Int64()
	if errors.Is(err, goredis.Nil) {
		return 0, nil
	}
	return n, err
}
