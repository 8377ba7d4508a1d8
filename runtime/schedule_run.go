package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// schedState is what one Run keeps about one schedule.
type schedState struct {
	rev  int64
	tk   ticker    // nil when the spec does not parse
	from time.Time // ticks up to here are handled
	next time.Time // the first tick after from; zero for none
	// retry is a single-task tick this Run could not fire (the store or
	// the broker failed), tried again until it fires, the next tick comes
	// due, or it is late.
	retry *schedRetry
}

// schedRetry is a tick to try again.
type schedRetry struct {
	tick     time.Time
	token    []byte    // this Run's claim on the tick, the same at each try
	at       time.Time // the next try
	failures int
}

// Tries of a tick that could not be fired wait from schedRetryMin,
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
			if e.Paused || st.next.IsZero() && st.retry == nil {
				continue
			}
			switch now := time.Now(); {
			case !st.next.IsZero() && !now.Before(st.next):
				s.due(ctx, name, e, st, now) // a newer tick goes before a retry
			case st.retry != nil && !now.Before(st.retry.at):
				s.retryTick(ctx, name, e, st, now)
			}
			at := st.next
			if r := st.retry; r != nil && (at.IsZero() || r.at.Before(at)) {
				at = r.at
			}
			if !at.IsZero() && at.Before(wake) {
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
	st.retry = nil
	st.from, st.next = tick, st.tk.Next(tick)
	if late := now.Sub(tick); late > s.maxLate && e.Missed != MissedRunOnce {
		s.log.Info("taskgen: scheduler: tick skipped: late", "schedule", name, "tick", tick, "late", late)
		return
	}
	s.try(ctx, name, e, st, &schedRetry{tick: tick, token: []byte(newTaskID())})
}

// retryTick tries again the tick that st.retry holds, unless it is late.
func (s *Scheduler) retryTick(ctx context.Context, name string, e *scheduleEntry, st *schedState, now time.Time) {
	r := st.retry
	st.retry = nil
	if late := now.Sub(r.tick); late > s.maxLate && e.Missed != MissedRunOnce {
		s.log.Info("taskgen: scheduler: tick skipped: late", "schedule", name, "tick", r.tick, "late", late, "tries", r.failures)
		return
	}
	s.try(ctx, name, e, st, r)
}

// try fires r's tick, and keeps it in st.retry, with its next try, when
// it could not be fired and may be tried again.
func (s *Scheduler) try(ctx context.Context, name string, e *scheduleEntry, st *schedState, r *schedRetry) {
	if s.fire(ctx, name, e, r.tick, st.tk.Next(r.tick), r.token, r.failures > 0) || ctx.Err() != nil {
		return
	}
	r.at = time.Now().Add(min(schedRetryMin<<min(r.failures, 10), schedRetryMax))
	r.failures++
	st.retry = r
}

// fire claims tick of schedule name with token and, if this call got the
// claim, enqueues the schedule's task or workflow. again says an earlier
// call tried the tick with the same token. fire returns false when the
// tick was not fired and may be tried again: the claim failed, or the
// enqueue of a single task did, and the claim was given back.
func (s *Scheduler) fire(ctx context.Context, name string, e *scheduleEntry, tick, next time.Time, token []byte, again bool) bool {
	id := ScheduleTaskID(name, tick)
	log := s.log.With("schedule", name, "tick", tick, "id", id)
	// The claim outlives every moment a scheduler may still try this tick:
	// it is the latest due only until the next one.
	period := 24 * time.Hour
	if !next.IsZero() {
		period = next.Sub(tick)
	}
	claim := schedClaimKey(name, tick)
	won, err := s.store.PutNX(ctx, claim, token, period+time.Minute)
	if err == nil && !won && again {
		// An earlier try's claim whose reply was lost, or whose release
		// failed, is still this try's.
		var held []byte
		if held, err = s.store.Get(ctx, claim); err == nil {
			won = string(held) == string(token)
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
		if prev, running := s.running(ctx, name); running {
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
	err = s.enqueue(ctx, id, nodes)
	switch {
	case errors.Is(err, ErrDuplicateTask):
		// The claim is this try's: an earlier try's enqueue reached the
		// broker, though it returned an error.
		log.Info("taskgen: scheduler: tick fired already", "err", err)
		s.recordFire(ctx, log, name, tick, id, period)
		return true
	case err != nil:
		single := isSingleTask(nodes)
		if single {
			log.Error("taskgen: scheduler: fire failed; trying again", "task", task, "err", err)
		} else {
			// Some of the workflow's tasks may have started: it is not
			// started again.
			log.Error("taskgen: scheduler: fire failed", "task", task, "err", err)
		}
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
		defer cancel()
		if e.NoOverlap {
			r := &Record{ID: id, Task: task, Queue: nodes[0].queue(), State: StateFailed,
				Error: fmt.Sprintf("%s: %v", failed, err), UpdatedAt: time.Now()}
			_ = s.store.PutRecord(bg, r, defaultWorkflowTTL)
		}
		if !single {
			s.recordFire(bg, log, name, tick, id, period)
			return true
		}
		// Give the claim back, so that this scheduler or another can try
		// the tick again. Should this fail, the claim is still this
		// try's, which the next one recognises.
		if _, err := s.store.CompareAndDelete(bg, claim, token); err != nil {
			log.Warn("taskgen: scheduler: giving the claim back failed", "err", err)
		}
		return false
	}
	s.recordFire(ctx, log, name, tick, id, period)
	log.Info("taskgen: scheduler: fired", "task", task)
	return true
}

// recordFire records tick as schedule name's last fire, once it fired (or
// may have begun to): NoOverlap's check of the next tick reads the fired
// task's record, and a tick that never fired must not hold the next back.
func (s *Scheduler) recordFire(ctx context.Context, log *slog.Logger, name string, tick time.Time, id string, period time.Duration) {
	last, err := json.Marshal(lastRun{Tick: tick, ID: id})
	if err == nil {
		err = s.store.Put(ctx, schedLastKey(name), last, 2*period+defaultWorkflowTTL)
	}
	if err != nil {
		log.Warn("taskgen: scheduler: recording the fire failed", "err", err)
	}
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
