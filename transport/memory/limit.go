package memory

import (
	"context"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

// limits are the token buckets and semaphores of runtime.Limiter, guarded
// by the store's mutex. They do not expire: a process keeps as many as it
// has limited tasks and keys.
type limits struct {
	buckets map[string]*bucket
	slots   map[string]map[string]time.Time // key → holder → lease deadline
}

// bucket is a token bucket of capacity one in GCRA form: tat is when the
// next token is due; dtat is the place given to the next caller that is
// told to come back; ivl is the interval they were computed with.
type bucket struct {
	tat, dtat time.Time
	ivl       time.Duration
}

// TakeRate takes or reserves a token of the bucket key, as
// runtime.Limiter specifies.
func (t *Transport) TakeRate(_ context.Context, key string, r runtime.Rate, horizon, spread time.Duration) (time.Duration, bool, error) {
	ivl := interval(r)
	now := time.Now()
	t.smu.Lock()
	defer t.smu.Unlock()
	if t.closed.Load() {
		return 0, false, runtime.ErrClosed
	}
	if t.lim.buckets == nil {
		t.lim.buckets = make(map[string]*bucket)
	}
	b := t.lim.buckets[key]
	if b == nil {
		b = &bucket{ivl: ivl}
		t.lim.buckets[key] = b
	}
	if b.ivl != ivl {
		// A new rate: tokens not reserved yet follow it.
		if late := now.Add(ivl); b.tat.After(late) {
			b.tat = late
		}
		b.dtat, b.ivl = time.Time{}, ivl
	}
	if b.tat.Before(now) {
		b.tat = now
	}
	if wait := b.tat.Sub(now); wait <= horizon {
		b.tat = b.tat.Add(ivl)
		return wait, true, nil
	}
	if first := b.tat.Add(-horizon); b.dtat.Before(first) {
		b.dtat = first
	}
	wait := b.dtat.Sub(now)
	if wait <= spread {
		b.dtat = b.dtat.Add(ivl)
	}
	return wait, false, nil
}

// interval is the time between two tokens at rate r.
func interval(r runtime.Rate) time.Duration {
	if r.N <= 0 || r.Period <= 0 {
		return 0
	}
	return max(r.Period/time.Duration(r.N), time.Microsecond)
}

// AcquireSlot takes one of the limit slots of key for holder, as
// runtime.Limiter specifies.
func (t *Transport) AcquireSlot(_ context.Context, key string, limit int, holder string, lease time.Duration) (bool, error) {
	now := time.Now()
	t.smu.Lock()
	defer t.smu.Unlock()
	if t.closed.Load() {
		return false, runtime.ErrClosed
	}
	if t.lim.slots == nil {
		t.lim.slots = make(map[string]map[string]time.Time)
	}
	s := t.lim.slots[key]
	if s == nil {
		s = make(map[string]time.Time)
		t.lim.slots[key] = s
	}
	for h, dl := range s {
		if !dl.After(now) {
			delete(s, h)
		}
	}
	if _, ok := s[holder]; !ok && len(s) >= limit {
		return false, nil
	}
	s[holder] = now.Add(lease)
	return true, nil
}

// ExtendSlot renews holder's slot of key, as runtime.Limiter specifies.
func (t *Transport) ExtendSlot(_ context.Context, key, holder string, lease time.Duration) (bool, error) {
	now := time.Now()
	t.smu.Lock()
	defer t.smu.Unlock()
	if t.closed.Load() {
		return false, runtime.ErrClosed
	}
	s := t.lim.slots[key]
	if _, ok := s[holder]; !ok {
		return false, nil
	}
	s[holder] = now.Add(lease)
	return true, nil
}

// ReleaseSlot frees holder's slot of key.
func (t *Transport) ReleaseSlot(_ context.Context, key, holder string) error {
	t.smu.Lock()
	defer t.smu.Unlock()
	if t.closed.Load() {
		return runtime.ErrClosed
	}
	if s := t.lim.slots[key]; s != nil {
		delete(s, holder)
		if len(s) == 0 {
			delete(t.lim.slots, key)
		}
	}
	return nil
}
