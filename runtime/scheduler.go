package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// A Scheduler fires tasks and workflows on cron schedules or at fixed
// intervals (Celery's beat). Schedules live in the Store, so any number of
// scheduler processes share them: each tick of a schedule fires once,
// whichever processes run, because a process fires a tick only after it
// claims the tick in the Store (PutNX of a key per schedule and tick).
// There is no leader: a process that dies costs at most the tick it had
// claimed and not yet enqueued, and the others go on with the next. A
// single task's tick whose claim or enqueue failed (the store or the
// broker briefly unreachable) gives its claim back and is tried again,
// after 250 ms and then doubling pauses, until it fires, the next tick
// comes due, or it is later than SchedulerMaxLate (under MissedSkip); an
// enqueue that failed after the broker took the task may so fire it
// twice, under the same ID. A workflow's tick is not tried again, as some
// of its tasks may have started. Each process fires by its own clock, so
// their clocks should agree (NTP): a process whose clock runs ahead fires
// its ticks early.
//
// A fired task has the ID "<name>@<tick>" (the tick in RFC 3339, UTC), so
// a second fire of the same tick would also be refused by the transport
// while it holds the first.
//
// A schedule's spec is a cron expression of five fields ("0 2 * * *") or
// six with seconds first ("*/10 * * * * *"), a descriptor (@hourly,
// @daily, @weekly, @monthly, @yearly), or a fixed interval ("@every 5s",
// at least 100ms). Cron specs are read in UTC, so that every process
// computes the same ticks whatever its local zone, unless the spec starts
// with CRON_TZ=Zone (or TZ=Zone) or the schedule has the TimeZone option.
// Intervals tick at the multiples of the interval since the Unix epoch.
type Scheduler struct {
	store   Store
	client  *Client
	log     *slog.Logger
	refresh time.Duration
	maxLate time.Duration
	index   indexCache
}

// SchedulerOption configures a Scheduler.
type SchedulerOption interface {
	applyScheduler(*Scheduler)
}

type schedulerOptionFunc func(*Scheduler)

func (f schedulerOptionFunc) applyScheduler(s *Scheduler) { f(s) }

// SchedulerLogger sets the scheduler's logger. Default slog.Default().
func SchedulerLogger(l *slog.Logger) SchedulerOption {
	return schedulerOptionFunc(func(s *Scheduler) { s.log = l })
}

// SchedulerRefresh sets how often Run looks for schedules added, changed,
// paused or removed by other processes. Default DefaultSchedulerRefresh.
func SchedulerRefresh(d time.Duration) SchedulerOption {
	return schedulerOptionFunc(func(s *Scheduler) { s.refresh = d })
}

// SchedulerMaxLate sets how late a tick may fire: a tick found more than
// this long after its time is missed (see MissedPolicy). Default
// DefaultSchedulerMaxLate.
func SchedulerMaxLate(d time.Duration) SchedulerOption {
	return schedulerOptionFunc(func(s *Scheduler) { s.maxLate = d })
}

// Scheduler defaults.
const (
	DefaultSchedulerRefresh = time.Second
	DefaultSchedulerMaxLate = time.Minute
)

// NewScheduler returns a scheduler whose schedules live in store and whose
// tasks are enqueued through client. Run fires them. A nil store means the
// client's (Client.Store).
func NewScheduler(store Store, client *Client, opts ...SchedulerOption) *Scheduler {
	if store == nil && client != nil {
		store = client.Store()
	}
	s := &Scheduler{store: store, client: client, refresh: DefaultSchedulerRefresh, maxLate: DefaultSchedulerMaxLate}
	for _, o := range opts {
		o.applyScheduler(s)
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.refresh <= 0 {
		s.refresh = DefaultSchedulerRefresh
	}
	if s.maxLate <= 0 {
		s.maxLate = DefaultSchedulerMaxLate
	}
	return s
}

// errNoStore is returned by a Scheduler without a store.
var errNoStore = errors.New("taskgen: scheduler: no store: pass one to NewScheduler, or a client whose transport is a store")

// AnySig is a Sig of any result type: a task call or a whole workflow. A
// Scheduler takes one, since a method cannot be generic.
type AnySig interface {
	sigNode() *node
}

func (s Sig[R]) sigNode() *node { return s.n }

// MissedPolicy says what happens to the ticks of a schedule that no
// scheduler fired in time, because none was running (or all were paused
// or far behind). Only the latest tick due can fire: the earlier ones are
// always dropped. The latest fires if it is found less than the
// scheduler's max lateness (SchedulerMaxLate, one minute by default) after
// its time; if it is found later, the policy decides.
type MissedPolicy string

// Missed-tick policies.
const (
	// MissedSkip drops a late tick: the schedule goes on at its next tick.
	MissedSkip MissedPolicy = "skip"
	// MissedRunOnce fires the latest missed tick once, as soon as a
	// scheduler finds it, standing in for all the ticks missed.
	MissedRunOnce MissedPolicy = "run_once"
)

// ScheduleOption changes one schedule.
type ScheduleOption interface {
	applySchedule(*scheduleEntry) error
}

type scheduleOptionFunc func(*scheduleEntry) error

func (f scheduleOptionFunc) applySchedule(e *scheduleEntry) error { return f(e) }

// NoOverlap skips a tick while the schedule's previous run is still
// pending, running or waiting for a retry (for a workflow: until the
// workflow has finished).
func NoOverlap() ScheduleOption {
	return scheduleOptionFunc(func(e *scheduleEntry) error { e.NoOverlap = true; return nil })
}

// OnMissed sets the schedule's missed-tick policy. Default MissedSkip.
func OnMissed(p MissedPolicy) ScheduleOption {
	return scheduleOptionFunc(func(e *scheduleEntry) error {
		if p != MissedSkip && p != MissedRunOnce {
			return fmt.Errorf("unknown missed-tick policy %q", p)
		}
		e.Missed = p
		return nil
	})
}

// TimeZone reads the schedule's cron spec in the named zone ("Europe/Paris")
// instead of UTC; the same as starting the spec with CRON_TZ=.
func TimeZone(name string) ScheduleOption {
	return scheduleOptionFunc(func(e *scheduleEntry) error {
		if _, err := time.LoadLocation(name); err != nil {
			return fmt.Errorf("time zone: %w", err)
		}
		if strings.HasPrefix(e.Spec, "CRON_TZ=") || strings.HasPrefix(e.Spec, "TZ=") {
			return fmt.Errorf("the spec %q has a time zone already", e.Spec)
		}
		e.Spec = "CRON_TZ=" + name + " " + e.Spec
		return nil
	})
}

// checkScheduleName accepts letters, digits and - _ . : / ; the name is in
// store keys and task IDs.
func checkScheduleName(name string) error {
	if name == "" || len(name) > 200 {
		return errors.New("taskgen: a schedule's name must have 1 to 200 characters")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:/", r)) {
			return fmt.Errorf("taskgen: schedule %q: the name may hold letters, digits and - _ . : / only", name)
		}
	}
	return nil
}

// Add creates the schedule name, or changes it: sig fires at each tick of
// spec (see Scheduler for the specs). Adding
// a schedule that exists with the same spec, call and options changes
// nothing, so every process of an application may add its schedules at
// startup; a paused schedule stays paused. Running schedulers, in this
// process and others, take the change within their refresh interval.
func (s *Scheduler) Add(ctx context.Context, name, spec string, sig AnySig, opts ...ScheduleOption) error {
	if err := checkScheduleName(name); err != nil {
		return err
	}
	e := &scheduleEntry{Spec: strings.TrimSpace(spec), Missed: MissedSkip}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.applySchedule(e); err != nil {
			return fmt.Errorf("taskgen: schedule %q: %w", name, err)
		}
	}
	if _, err := parseSpec(e.Spec); err != nil {
		return fmt.Errorf("taskgen: schedule %q: %w", name, err)
	}
	if sig == nil || sig.sigNode() == nil {
		return fmt.Errorf("taskgen: schedule %q: empty task or workflow", name)
	}
	nodes, err := flatten(sig.sigNode())
	if err != nil {
		return fmt.Errorf("taskgen: schedule %q: %w", name, err)
	}
	if e.Nodes, err = json.Marshal(nodes); err != nil {
		return fmt.Errorf("taskgen: schedule %q: encode: %w", name, err)
	}
	return s.update(ctx, func(idx *scheduleIndex, rev int64, now time.Time) (bool, error) {
		old := idx.Schedules[name]
		if old != nil && old.Spec == e.Spec && bytes.Equal(old.Nodes, e.Nodes) && old.NoOverlap == e.NoOverlap && old.Missed == e.Missed {
			return false, nil
		}
		if old != nil {
			e.Paused = old.Paused
		}
		e.Since, e.Rev = now, rev
		idx.Schedules[name] = e
		return true, nil
	})
}

// Pause stops schedule name from firing until Resume.
func (s *Scheduler) Pause(ctx context.Context, name string) error {
	return s.change(ctx, name, func(e *scheduleEntry, _ time.Time) bool {
		if e.Paused {
			return false
		}
		e.Paused = true
		return true
	})
}

// Resume lets a paused schedule fire again from its next tick; the ticks
// during the pause are not missed ticks, and never fire.
func (s *Scheduler) Resume(ctx context.Context, name string) error {
	return s.change(ctx, name, func(e *scheduleEntry, now time.Time) bool {
		if !e.Paused {
			return false
		}
		e.Paused, e.Since = false, now
		return true
	})
}

// Remove deletes schedule name. A task it already fired is not affected.
func (s *Scheduler) Remove(ctx context.Context, name string) error {
	err := s.update(ctx, func(idx *scheduleIndex, _ int64, _ time.Time) (bool, error) {
		if idx.Schedules[name] == nil {
			return false, fmt.Errorf("taskgen: schedule %q: %w", name, ErrNotFound)
		}
		delete(idx.Schedules, name)
		return true, nil
	})
	if err != nil {
		return err
	}
	// Best effort: the key expires anyway.
	_ = s.store.Delete(ctx, schedLastKey(name))
	return nil
}

// change applies fn to schedule name, which must exist.
func (s *Scheduler) change(ctx context.Context, name string, fn func(e *scheduleEntry, now time.Time) bool) error {
	return s.update(ctx, func(idx *scheduleIndex, rev int64, now time.Time) (bool, error) {
		old := idx.Schedules[name]
		if old == nil {
			return false, fmt.Errorf("taskgen: schedule %q: %w", name, ErrNotFound)
		}
		e := *old
		if !fn(&e, now) {
			return false, nil
		}
		e.Rev = rev
		idx.Schedules[name] = &e
		return true, nil
	})
}

// ScheduleInfo describes a schedule.
type ScheduleInfo struct {
	Name      string
	Spec      string
	Task      string // the task's wire name, or "workflow"
	Paused    bool
	NoOverlap bool
	Missed    MissedPolicy
	// Next is the schedule's next tick; zero when paused.
	Next time.Time
	// LastTick and LastID are the last tick fired and its task (or
	// workflow) ID; zero before the first fire.
	LastTick time.Time
	LastID   string
}

// List returns the schedules, by name.
func (s *Scheduler) List(ctx context.Context) ([]ScheduleInfo, error) {
	idx, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make([]ScheduleInfo, 0, len(idx.Schedules))
	for name, e := range idx.Schedules {
		info := ScheduleInfo{Name: name, Spec: e.Spec, Paused: e.Paused, NoOverlap: e.NoOverlap, Missed: e.Missed, Task: workflowTask}
		if nodes, err := e.nodes(); err == nil && len(nodes) == 1 && nodes[0].Def != nil {
			info.Task = nodes[0].Def.Name
		}
		if tk, err := parseSpec(e.Spec); err == nil && !e.Paused {
			info.Next = tk.Next(now)
		}
		last, err := s.lastFire(ctx, name)
		if err != nil {
			return nil, err
		}
		info.LastTick, info.LastID = last.Tick, last.ID
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b ScheduleInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// ScheduleTaskID returns the ID of the task (or workflow) that schedule
// name fires at tick.
func ScheduleTaskID(name string, tick time.Time) string {
	return name + "@" + tickString(tick)
}

func tickString(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
