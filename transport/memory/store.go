package memory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

// record is a stored task record and its expiry.
type record struct {
	r       runtime.Record
	expires time.Time // zero: never
}

func (r *record) expired(now time.Time) bool {
	return !r.expires.IsZero() && !now.Before(r.expires)
}

// recordWait is the channel WaitRecord callers of one task block on; it is
// closed when the task's record turns terminal.
type recordWait struct {
	ch chan struct{}
	n  int // callers waiting; the entry is dropped when the last one leaves
}

// kvEntry is a value under a key. Counters stay numbers until read as
// bytes, so Incr does not format and parse on every call.
type kvEntry struct {
	val     []byte
	num     int64
	isNum   bool
	set     map[string]struct{} // non-nil for a set made by SetAdd
	expires time.Time           // zero: never
}

func (e *kvEntry) expired(now time.Time) bool {
	return !e.expires.IsZero() && !now.Before(e.expires)
}

// deadline turns a ttl into an expiry time; zero ttl means none.
func deadline(now time.Time, ttl time.Duration) time.Time {
	if ttl <= 0 {
		return time.Time{}
	}
	return now.Add(ttl)
}

// liveRecordLocked returns id's record, dropping it if it has expired.
func (t *Transport) liveRecordLocked(id string, now time.Time) *record {
	r := t.records[id]
	if r != nil && r.expired(now) {
		delete(t.records, id)
		return nil
	}
	return r
}

func copyRecord(r *runtime.Record) *runtime.Record {
	c := *r
	c.Result = bytes.Clone(r.Result)
	c.ProgressMeta = bytes.Clone(r.ProgressMeta)
	return &c
}

// PutRecord writes r, keeping the progress of a record already stored, and
// wakes WaitRecord callers when r is terminal. A zero UpdatedAt is set to
// now. A ttl above zero sets the record's expiry; zero keeps the current one.
func (t *Transport) PutRecord(_ context.Context, r *runtime.Record, ttl time.Duration) error {
	_, err := t.putRecord(r, ttl, false)
	return err
}

// PutRecordUnlessTerminal writes r as PutRecord does unless the task's
// record is terminal, and reports whether it wrote.
func (t *Transport) PutRecordUnlessTerminal(_ context.Context, r *runtime.Record, ttl time.Duration) (bool, error) {
	return t.putRecord(r, ttl, true)
}

func (t *Transport) putRecord(r *runtime.Record, ttl time.Duration, unlessTerminal bool) (bool, error) {
	if r == nil || r.ID == "" {
		return false, errors.New("taskgen: memory: put record: no task ID")
	}
	now := time.Now()
	t.smu.Lock()
	defer t.smu.Unlock()
	if t.closed.Load() {
		return false, runtime.ErrClosed
	}
	old := t.liveRecordLocked(r.ID, now)
	if unlessTerminal && old != nil && old.r.State.Terminal() {
		return false, nil
	}
	if old == nil {
		old = &record{r: runtime.Record{ProgressMeta: bytes.Clone(r.ProgressMeta), Progress: r.Progress}}
		t.records[r.ID] = old
	}
	progress, meta := old.r.Progress, old.r.ProgressMeta
	old.r = *r
	old.r.Result = bytes.Clone(r.Result)
	old.r.Progress, old.r.ProgressMeta = progress, meta
	if old.r.UpdatedAt.IsZero() {
		old.r.UpdatedAt = now
	}
	if ttl > 0 {
		old.expires = now.Add(ttl)
	}
	if r.State.Terminal() {
		if w := t.recWaits[r.ID]; w != nil {
			close(w.ch)
			delete(t.recWaits, r.ID)
		}
	}
	t.wroteLocked(now)
	return true, nil
}

// SetProgress records a task's progress, creating a pending record when
// there is none. A ttl above zero sets the record's expiry.
func (t *Transport) SetProgress(_ context.Context, id, state string, meta []byte, ttl time.Duration) error {
	if id == "" {
		return errors.New("taskgen: memory: set progress: no task ID")
	}
	meta = bytes.Clone(meta)
	now := time.Now()
	t.smu.Lock()
	defer t.smu.Unlock()
	if t.closed.Load() {
		return runtime.ErrClosed
	}
	r := t.liveRecordLocked(id, now)
	if r == nil {
		r = &record{r: runtime.Record{ID: id, State: runtime.StatePending}}
		t.records[id] = r
	}
	r.r.Progress, r.r.ProgressMeta, r.r.UpdatedAt = state, meta, now
	if ttl > 0 {
		r.expires = now.Add(ttl)
	}
	t.wroteLocked(now)
	return nil
}

// GetRecord returns a copy of task id's record, or runtime.ErrNotFound.
func (t *Transport) GetRecord(_ context.Context, id string) (*runtime.Record, error) {
	t.smu.Lock()
	defer t.smu.Unlock()
	if t.closed.Load() {
		return nil, runtime.ErrClosed
	}
	r := t.liveRecordLocked(id, time.Now())
	if r == nil {
		return nil, fmt.Errorf("%w: record of task %q", runtime.ErrNotFound, id)
	}
	return copyRecord(&r.r), nil
}

// WaitRecord blocks until task id's record is terminal and returns a copy
// of it. It sleeps on a channel that PutRecord closes, never polling.
func (t *Transport) WaitRecord(ctx context.Context, id string) (*runtime.Record, error) {
	for {
		t.smu.Lock()
		if t.closed.Load() {
			t.smu.Unlock()
			return nil, runtime.ErrClosed
		}
		if r := t.liveRecordLocked(id, time.Now()); r != nil && r.r.State.Terminal() {
			c := copyRecord(&r.r)
			t.smu.Unlock()
			return c, nil
		}
		if err := ctx.Err(); err != nil {
			t.smu.Unlock()
			return nil, err
		}
		w := t.recWaits[id]
		if w == nil {
			w = &recordWait{ch: make(chan struct{})}
			t.recWaits[id] = w
		}
		w.n++
		t.smu.Unlock()

		select {
		case <-w.ch:
			// Terminal now, unless rewritten since; look again.
		case <-ctx.Done():
			t.smu.Lock()
			if t.recWaits[id] == w {
				if w.n--; w.n == 0 {
					delete(t.recWaits, id)
				}
			}
			t.smu.Unlock()
			return nil, ctx.Err()
		case <-t.done:
			return nil, runtime.ErrClosed
		}
	}
}

// liveKeyLocked returns key's entry, dropping it if it has expired.
func (t *Transport) liveKeyLocked(key string, now time.Time) *kvEntry {
	e := t.kv[key]
	if e != nil && e.expired(now) {
		delete(t.kv, key)
		return nil
	}
	return e
}

// Put stores a copy of value under key for ttl (zero: no expiry).
func (t *Transport) Put(_ context.Context, key string, value []byte, ttl time.Duration) error {
	value = bytes.Clone(value)
	now := time.Now()
	t.smu.Lock()
	defer t.smu.Unlock()
	if t.closed.Load() {
		return runtime.ErrClosed
	}
	t.putLocked(key, value, now, ttl)
	return nil
}

func (t *Transport) putLocked(key string, value []byte, now time.Time, ttl time.Duration) {
	e := t.kv[key]
	if e == nil {
		e = new(kvEntry)
		t.kv[key] = e
	}
	*e = kvEntry{val: value, expires: deadline(now, ttl)}
	t.wroteLocked(now)
}

// PutNX stores a copy of value under key only if key is absent or expired,
// and reports whether it did.
func (t *Transport) PutNX(_ context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	return t.putIf(key, value, ttl, func(now time.Time) bool { return t.liveKeyLocked(key, now) == nil })
}

// putIf stores a copy of value under key for ttl if cond, called under
// the store's lock, holds, and reports whether it did.
func (t *Transport) putIf(key string, value []byte, ttl time.Duration, cond func(now time.Time) bool) (bool, error) {
	value = bytes.Clone(value)
	now := time.Now()
	t.smu.Lock()
	defer t.smu.Unlock()
	if t.closed.Load() {
		return false, runtime.ErrClosed
	}
	if !cond(now) {
		return false, nil
	}
	t.putLocked(key, value, now, ttl)
	return true, nil
}

// Get returns a copy of the value under key, or runtime.ErrNotFound. A
// counter reads as its decimal text.
func (t *Transport) Get(_ context.Context, key string) ([]byte, error) {
	t.smu.Lock()
	defer t.smu.Unlock()
	if t.closed.Load() {
		return nil, runtime.ErrClosed
	}
	e := t.liveKeyLocked(key, time.Now())
	switch {
	case e == nil:
		return nil, fmt.Errorf("%w: key %q", runtime.ErrNotFound, key)
	case e.isNum:
		return strconv.AppendInt(nil, e.num, 10), nil
	case e.set != nil:
		return nil, fmt.Errorf("taskgen: memory: get key %q: it holds a set", key)
	case e.val == nil:
		return []byte{}, nil
	}
	return bytes.Clone(e.val), nil
}

// Delete removes key; a missing key is not an error.
func (t *Transport) Delete(_ context.Context, key string) error {
	t.smu.Lock()
	defer t.smu.Unlock()
	if t.closed.Load() {
		return runtime.ErrClosed
	}
	delete(t.kv, key)
	return nil
}

// CompareAndSwap stores a copy of value under key for ttl (zero: no
// expiry) only if key holds old, and reports whether it did.
func (t *Transport) CompareAndSwap(_ context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	return t.putIf(key, value, ttl, func(now time.Time) bool { return t.holdsLocked(key, old, now) })
}

// CompareAndDelete removes key only if it holds old, and reports whether
// it did.
func (t *Transport) CompareAndDelete(_ context.Context, key string, old []byte) (bool, error) {
	t.smu.Lock()
	defer t.smu.Unlock()
	if t.closed.Load() {
		return false, runtime.ErrClosed
	}
	if !t.holdsLocked(key, old, time.Now()) {
		return false, nil
	}
	delete(t.kv, key)
	return true, nil
}

// holdsLocked reports whether key is live and holds v, as Get would
// return it.
func (t *Transport) holdsLocked(key string, v []byte, now time.Time) bool {
	e := t.liveKeyLocked(key, now)
	switch {
	case e == nil || e.set != nil:
		return false
	case e.isNum:
		return string(v) == strconv.FormatInt(e.num, 10)
	}
	return bytes.Equal(e.val, v)
}

// Incr adds delta to the integer under key (absent is 0), sets its expiry
// when ttl > 0, and returns the new value. A value that is not a decimal
// integer is an error.
func (t *Transport) Incr(_ context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	now := time.Now()
	t.smu.Lock()
	defer t.smu.Unlock()
	if t.closed.Load() {
		return 0, runtime.ErrClosed
	}
	e := t.liveKeyLocked(key, now)
	switch {
	case e == nil:
		e = &kvEntry{isNum: true}
		t.kv[key] = e
	case !e.isNum:
		n, err := strconv.ParseInt(string(e.val), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("taskgen: memory: incr key %q: value %q is not an integer", key, e.val)
		}
		e.num, e.isNum, e.val = n, true, nil
	}
	e.num += delta
	if ttl > 0 {
		e.expires = now.Add(ttl)
	}
	t.wroteLocked(now)
	return e.num, nil
}
