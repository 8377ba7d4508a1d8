package memory

import (
	"context"
	"fmt"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

// SetAdd adds member to the set under key, creating it with ttl, and
// returns whether member was new and the set's size after the add.
func (t *Transport) SetAdd(_ context.Context, key, member string, ttl time.Duration) (bool, int64, error) {
	now := time.Now()
	t.smu.Lock()
	defer t.smu.Unlock()
	if t.closed.Load() {
		return false, 0, runtime.ErrClosed
	}
	e := t.liveKeyLocked(key, now)
	switch {
	case e == nil:
		e = &kvEntry{set: make(map[string]struct{}), expires: deadline(now, ttl)}
		t.kv[key] = e
	case e.set == nil:
		return false, 0, fmt.Errorf("taskgen: memory: set add key %q: it holds a value, not a set", key)
	}
	_, had := e.set[member]
	e.set[member] = struct{}{}
	t.wroteLocked(now)
	return !had, int64(len(e.set)), nil
}

var _ runtime.WorkflowStore = (*Transport)(nil)
