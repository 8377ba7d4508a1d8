package runtime

import (
	"context"
	"sync"
	"time"
)

// activeRecordDelay is how long a handler runs before the worker records
// its task as active. A task that finishes sooner goes from pending
// straight to its outcome, which spares the store one write per short
// task; Progress records the task as active at once.
const activeRecordDelay = 20 * time.Millisecond

// activeRecord is the deferred write of a running task's active record.
type activeRecord struct {
	w     *Worker
	env   *Envelope
	once  sync.Once
	timer *time.Timer
	done  chan struct{} // closed once the record is written, or skipped
}

// noActiveRecord is the active record of a task that has none (the worker
// has no store): settled from the start, and shared, as nothing changes it.
var noActiveRecord = func() *activeRecord {
	a := &activeRecord{done: make(chan struct{})}
	a.once.Do(func() { close(a.done) })
	return a
}()

// deferActiveRecord schedules env's active record for w.activeDelay
// (activeRecordDelay) from now.
func (w *Worker) deferActiveRecord(env *Envelope) *activeRecord {
	if w.cfg.Store == nil || env.ID == "" {
		return noActiveRecord
	}
	a := &activeRecord{w: w, env: env, done: make(chan struct{})}
	a.timer = time.AfterFunc(w.activeDelay, a.write)
	return a
}

// write writes the active record now, unless it was written or skipped.
func (a *activeRecord) write() {
	a.once.Do(func() {
		go func() {
			defer close(a.done)
			// A cancel's record, written meanwhile, stays.
			a.w.putLiveRecord(a.env, StateActive, "")
		}()
	})
}

// wait writes the active record now if it is still due, and waits until
// it is written: progress must not overtake it.
func (a *activeRecord) wait(ctx context.Context) error {
	a.write()
	select {
	case <-a.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// settle skips the active record if it is still due, as the handler has
// returned, and otherwise waits for its write, which the outcome must not
// precede.
func (a *activeRecord) settle() {
	a.once.Do(func() {
		a.timer.Stop()
		close(a.done)
	})
	<-a.done
}
