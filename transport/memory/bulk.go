package memory

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

var _ runtime.BulkStore = (*Transport)(nil)

// PutMany stores a copy of every entry's value under its key for ttl, as
// Put does, under one lock.
func (t *Transport) PutMany(_ context.Context, entries []runtime.KeyValue, ttl time.Duration) error {
	vals := make([][]byte, len(entries))
	for i, e := range entries {
		vals[i] = bytes.Clone(e.Value)
	}
	now := time.Now()
	t.smu.Lock()
	defer t.smu.Unlock()
	if t.closed.Load() {
		return runtime.ErrClosed
	}
	for i, e := range entries {
		t.putLocked(e.Key, vals[i], now, ttl)
	}
	return nil
}

// GetMany returns copies of the values under keys, in order, as Get does;
// a missing key's value is nil.
func (t *Transport) GetMany(_ context.Context, keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	now := time.Now()
	t.smu.Lock()
	defer t.smu.Unlock()
	if t.closed.Load() {
		return nil, runtime.ErrClosed
	}
	for i, k := range keys {
		e := t.liveKeyLocked(k, now)
		switch {
		case e == nil:
		case e.isNum:
			out[i] = strconv.AppendInt(nil, e.num, 10)
		case e.set != nil:
			return nil, fmt.Errorf("taskgen: memory: get key %q: it holds a set", k)
		default:
			out[i] = append([]byte{}, e.val...)
		}
	}
	return out, nil
}
