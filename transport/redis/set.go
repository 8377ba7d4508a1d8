package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/taskgen/taskgen/runtime"
)

var _ runtime.WorkflowStore = (*Transport)(nil)

// setAddScript adds members to a set, in order, giving a set it creates
// an expiry. Concurrent SetAdd calls on one set share a run: the joins of
// a workflow's group, say.
//
//	KEYS[1] set
//	ARGV two per member: the member, and the ttl (ms; 0: none) of a set
//	that this add creates
//	returns per member {1 if the member is new else 0, the set's size
//	after its add}
var setAddScript = goredis.NewScript(`
local res = {}
for i = 1, #ARGV, 2 do
  local added = redis.call('SADD', KEYS[1], ARGV[i])
  local size = redis.call('SCARD', KEYS[1])
  local ttl = tonumber(ARGV[i + 1])
  if added == 1 and size == 1 and ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
  res[#res + 1] = {added, size}
end
return res
`)

// SetAdd adds member to the set under key, creating it with ttl, and
// returns whether member was new and the set's size after the add, in one
// step: workflow joins count on it. A key that holds a value is an error.
func (t *Transport) SetAdd(ctx context.Context, key, member string, ttl time.Duration) (bool, int64, error) {
	if t.closed.Load() {
		return false, 0, runtime.ErrClosed
	}
	c := &call{script: setAddScript, keys: []string{t.keys.kv(key)}, args: []any{member, millis(ttl)}, items: 1}
	if err := t.batch.do(ctx, c); err != nil {
		return false, 0, fmt.Errorf("taskgen: redis: set add key %q: %w", key, err)
	}
	res, ok := c.reply[0].([]any)
	if !ok || len(res) != 2 {
		return false, 0, fmt.Errorf("taskgen: redis: set add key %q: malformed script reply", key)
	}
	added, _ := res[0].(int64)
	size, _ := res[1].(int64)
	return added == 1, size, nil
}
