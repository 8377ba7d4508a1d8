package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/taskgen/taskgen/runtime"
)

var _ runtime.WorkflowStore = (*Transport)(nil)

// setAddScript adds a member to a set, giving a set it creates an expiry.
//
//	KEYS[1] set
//	ARGV[1] member, ARGV[2] ttl (ms; 0: none)
//	returns {1 if the member is new else 0, the set's size}
var setAddScript = goredis.NewScript(`
local added = redis.call('SADD', KEYS[1], ARGV[1])
local size = redis.call('SCARD', KEYS[1])
local ttl = tonumber(ARGV[2])
if added == 1 and size == 1 and ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return {added, size}
`)

// SetAdd adds member to the set under key, creating it with ttl, and
// returns whether member was new and the set's size after the add, in one
// step: workflow joins count on it. A key that holds a value is an error.
func (t *Transport) SetAdd(ctx context.Context, key, member string, ttl time.Duration) (bool, int64, error) {
	if t.closed.Load() {
		return false, 0, runtime.ErrClosed
	}
	c := &call{script: setAddScript, keys: []string{t.keys.kv(key)}, args: []any{member, millis(ttl)}}
	if err := t.batch.do(ctx, c); err != nil {
		return false, 0, fmt.Errorf("taskgen: redis: set add key %q: %w", key, err)
	}
	res, ok := c.val.([]any)
	if !ok || len(res) != 2 {
		return false, 0, fmt.Errorf("taskgen: redis: set add key %q: malformed script reply", key)
	}
	added, _ := res[0].(int64)
	size, _ := res[1].(int64)
	return added == 1, size, nil
}
