package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// schedState is what one Run keeps about one schedule.
type schedState struct {
	rev  int64
	tk   ticker    // nil when the spec does not parse
	from time.Time // ticks up to here are handled
	next time.Time // the first tick after from; zero for none
	// A tick this Run could not fire (the store or the broker failed) is
	// tried again from retryAt, while it is the latest due; failures
	// counts the tries, for the backoff.
	retryAt  time.Time
	failures int
}

// Retries of a tick that could not be fired wait from schedRetryMin,
// doubling, up to schedRetryMax.
const (
	schedRetryMin = 250 * time.Millisecond
	schedRetryMax = 30 * time.Second
)

// Run fires the schedules until ctx is done, then returns nil; it returns
// an error at once only when the scheduler has no store or no client. Any number
// of processes may run schedulers on the same store; each tick fires once.
// Run looks for changes made elsewhere every refresh interval, and reads
// the schedules' version again before it fires, so a schedule paused or
// removed does not fire once another process has seen the change.
func (s *Scheduler) Run(ctx context.Context) error {
	if s.store == nil {
		return errNoStore
	}
	if s.client == nil {
		return errors.New("taskgen: scheduler: no client: pass one to NewScheduler")
	}
	states := map[string]*schedState{}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		wake := time.Now().Add(s.refresh)
		idx, err := s.load(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.log.Warn("taskgen: scheduler: reading the schedules failed; trying again", "err", err)
			timer.Reset(s.refresh)
			continue
		}
		for name := range states {
			if idx.Schedules[name] == nil {
				delete(states, name)
			}
		}
		for name, e := range idx.Schedules {
			st := states[name]
			if st == nil || st.rev != e.Rev {
				st = s.start(ctx, name, e)
				states[name] = st
			}
			if e.Paused || st.next.IsZero() {
				continue
			}
			if now := time.Now(); !now.Before(st.next) && !now.Before(st.retryAt) {
				s.due(ctx, name, e, st, now)
			}
			if at := later(st.next, st.retryAt); !st.next.IsZero() && at.Before(wake) {
				wake = at
			}
		}
		timer.Reset(max(time.Until(wake), 0))
	}
}

// start begins a Run's work on a schedule: the ticks it considers are
// those after the schedule was added (or changed, or resumed) and after its
// last fire; under MissedSkip, also those no more than max lateness ago,
// the only ones that may fire.
func (s *Scheduler) start(ctx context.Context, name string, e *scheduleEntry) *schedState {
	st := &schedState{rev: e.Rev}
	tk, err := parseSpec(e.Spec)
	if err != nil {
		s.log.Error("taskgen: scheduler: schedule does not parse; it will not fire", "schedule", name, "err", err)
		return st
	}
	st.tk, st.from = tk, e.Since
	last, err := s.lastFire(ctx, name)
	if err != nil {
		s.log.Warn("taskgen: scheduler: reading the last fire failed", "schedule", name, "err", err)
	}
	if last.Tick.After(st.from) {
		st.from = last.Tick
	}
	if e.Missed != MissedRunOnce {
		if lb := time.Now().Add(-s.maxLate); lb.After(st.from) {
			st.from = lb
		}
	}
	st.next = tk.Next(st.from)
	return st
}

// due handles the ticks of a schedule that came due by now: the latest
// fires, or is skipped when it is late under MissedSkip; earlier ones were
// missed.
func (s *Scheduler) due(ctx context.Context, name string, e *scheduleEntry, st *schedState, now time.Time) {
	tick, ok := latestTick(st.tk, st.from, now)
	if !ok {
		return
	}
	if st.next.Before(tick) {
		// Late by more than a tick: this process passes over the ticks
		// before the latest, which other processes may have fired.
		s.log.Debug("taskgen: scheduler: ticks passed over", "schedule", name, "from", st.next, "to", tick)
	}
	from, next := st.from, st.next
	st.from, st.next = tick, st.tk.Next(tick)
	if late := now.Sub(tick); late > s.maxLate && e.Missed != MissedRunOnce {
		s.log.Info("taskgen: scheduler: tick skipped: late", "schedule", name, "tick", tick, "late", late)
		st.failures, st.retryAt = 0, time.Time{}
		return
	}
	if !s.fire(ctx, name, e, tick, st.next) && ctx.Err() == nil {
		// Not fired, and free for another try: this Run tries the tick
		// again after a pause, while it is the latest due and not late.
		st.from, st.next = from, next
		st.retryAt = now.Add(min(schedRetryMin<<min(st.failures, 10), schedRetryMax))
		st.failures++
		return
	}
	st.failures, st.retryAt = 0, time.Time{}
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// fire claims tick of schedule name and, if this call got the claim,
// enqueues the schedule's task or workflow. It returns false when the tick
// was not fired and may be tried again: the claim or the enqueue failed,
// and the claim, if taken, was given back.
func (s *Scheduler) fire(ctx context.Context, name string, e *scheduleEntry, tick, next time.Time) bool {
	id := ScheduleTaskID(name, tick)
	log := s.log.With("schedule", name, "tick", tick, "id", id)
	// The claim outlives every moment a scheduler may still try this tick:
	// it is the latest due only until the next one.
	period := 24 * time.Hour
	if !next.IsZero() {
		period = next.Sub(tick)
	}
	claim, mine := schedClaimKey(name, tick), []byte(s.id)
	won, err := s.store.PutNX(ctx, claim, mine, period+time.Minute)
	if err == nil && !won {
		// A claim of this scheduler's own whose reply was lost, or whose
		// release failed, is still its to fire.
		var held []byte
		if held, err = s.store.Get(ctx, claim); err == nil {
			won = string(held) == s.id
		} else if errors.Is(err, ErrNotFound) {
			err = errors.New("the claim was held, then gone")
		}
	}
	if err != nil {
		log.Warn("taskgen: scheduler: claiming the tick failed; trying again", "err", err)
		return false
	}
	if !won {
		return true
	}
	nodes, err := e.nodes()
	if err != nil {
		log.Error("taskgen: scheduler: the schedule's task does not decode", "err", err)
		return true
	}
	task := workflowTask
	if isSingleTask(nodes) {
		task = nodes[0].Def.Name
	}
	failed := fmt.Sprintf("schedule %q: fire failed", name)
	if e.NoOverlap {
		if prev, running := s.running(ctx, name); running && prev != id {
			log.Info("taskgen: scheduler: tick skipped: the previous run is still going", "previous", prev)
			return true
		}
		// The previous-run check reads this record: without it, a task
		// enqueued and not yet started would look finished. A failed try
		// of this tick left a failed record, which a new try replaces.
		if r, err := s.store.GetRecord(ctx, id); errors.Is(err, ErrNotFound) || err == nil && r.State == StateFailed && strings.HasPrefix(r.Error, failed) {
			r := &Record{ID: id, Task: task, Queue: nodes[0].queue(), State: StatePending, UpdatedAt: time.Now()}
			if err := s.store.PutRecord(ctx, r, defaultWorkflowTTL); err != nil {
				log.Warn("taskgen: scheduler: writing the pending record failed", "err", err)
			}
		}
	}
	last, err := json.Marshal(lastRun{Tick: tick, ID: id})
	if err == nil {
		err = s.store.Put(ctx, schedLastKey(name), last, 2*period+defaultWorkflowTTL)
	}
	if err != nil {
		log.Warn("taskgen: scheduler: recording the fire failed", "err", err)
	}
	if err := s.enqueue(ctx, id, nodes); err != nil {
		if errors.Is(err, ErrDuplicateTask) {
			log.Info("taskgen: scheduler: tick fired already", "err", err)
			return true
		}
		log.Error("taskgen: scheduler: fire failed; trying again", "task", task, "err", err)
		bg := context.WithoutCancel(ctx)
		if e.NoOverlap {
			// Should no try succeed, the next tick must not wait for
			// this one.
			r := &Record{ID: id, Task: task, Queue: nodes[0].queue(), State: StateFailed,
				Error: fmt.Sprintf("%s: %v", failed, err), UpdatedAt: time.Now()}
			_ = s.store.PutRecord(bg, r, defaultWorkflowTTL)
		}
		// Give the claim back, so that this scheduler or another can
		// try the tick again. Should this fail, the claim is still this
		// scheduler's own, which its next try recognises.
		if _, err := s.store.CompareAndDelete(bg, claim, mine); err != nil {
			log.Warn("taskgen: scheduler: giving the claim back failed", "err", err)
		}
		return false
	}
	log.Info("taskgen: scheduler: fired", "task", task)
	return true
}

// running reports whether schedule name's last fired task or workflow has
// not finished, and its ID.
func (s *Scheduler) running(ctx context.Context, name string) (string, bool) {
	last, err := s.lastFire(ctx, name)
	if err != nil || last.ID == "" {
		return "", false
	}
	r, err := s.store.GetRecord(ctx, last.ID)
	if err != nil {
		// No record: it never got one (fired without NoOverlap) or it
		// expired.
		return last.ID, false
	}
	return last.ID, !r.State.Terminal()
}

// isSingleTask reports whether nodes are one task call without error
// callbacks, which the client enqueues like any task; anything else runs
// as a workflow.
func isSingleTask(nodes []*wfNode) bool {
	return len(nodes) == 1 && nodes[0].Kind == nodeTask && nodes[0].Def != nil
}

func (n *wfNode) queue() string {
	switch {
	case n.Queue != "":
		return n.Queue
	case n.Def != nil && n.Def.Queue != "":
		return n.Def.Queue
	}
	return DefaultQueue
}

// enqueue publishes a schedule's task, or submits its workflow, under id.
func (s *Scheduler) enqueue(ctx context.Context, id string, nodes []*wfNode) error {
	if isSingleTask(nodes) {
		n := nodes[0]
		opt := optionFunc(func(o *callOptions) {
			o.queue, o.priority, o.retries, o.timeout, o.headers, o.taskID = n.Queue, n.Priority, n.Retries, n.Timeout, n.Headers, id
		})
		_, err := s.client.EnqueueTask(ctx, n.Def, n.Args, opt)
		return err
	}
	ws, err := s.client.workflowStore()
	if err != nil {
		return err
	}
	f := &flow{tr: s.client.tr, store: ws, ttl: defaultWorkflowTTL, fresh: true}
	for nid, n := range nodes {
		if err := f.putNode(ctx, id, nid, n); err != nil {
			return fmt.Errorf("taskgen: workflow %s: %w", id, err)
		}
	}
	if err := f.start(ctx, id, 0, nil, nil); err != nil {
		return fmt.Errorf("taskgen: workflow %s: %w", id, err)
	}
	return nil
}
