package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/taskgen/taskgen/runtime"
)

// deadLettersScript lists a queue's dead letters, oldest first.
//
//	KEYS[1] dead
//	ARGV[1] dead letter key prefix, ARGV[2] most letters (0: all)
//	returns seven strings per letter: id, task, reason, error, attempts,
//	time (Unix ns), body
var deadLettersScript = goredis.NewScript(`
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)
local out = {}
for _, id in ipairs(ids) do
  local v = redis.call('HMGET', ARGV[1] .. id, 'task', 'reason', 'error', 'attempts', 'at', 'b')
  out[#out + 1] = id
  for k = 1, 6 do out[#out + 1] = v[k] or '' end
end
return out
`)

// DeadLetters returns up to limit dead letters of queue, oldest first; a
// limit of zero or less returns them all.
func (t *Transport) DeadLetters(ctx context.Context, queue string, limit int) ([]runtime.DeadLetter, error) {
	if t.closed.Load() {
		return nil, runtime.ErrClosed
	}
	q := t.queue(queue)
	c := &call{script: deadLettersScript, keys: []string{q.dead}, args: []any{q.deadTask, max(limit, 0)}}
	if err := t.batch.do(ctx, c); err != nil {
		return nil, wrap("list dead letters", queue, err)
	}
	res, ok := c.val.([]any)
	if !ok || len(res)%7 != 0 {
		return nil, fmt.Errorf("taskgen: redis: list dead letters on queue %q: malformed script reply", queue)
	}
	out := make([]runtime.DeadLetter, 0, len(res)/7)
	for i := 0; i < len(res); i += 7 {
		s := func(k int) string { v, _ := res[i+k].(string); return v }
		attempts, _ := strconv.Atoi(s(4))
		var at time.Time
		if ns, err := strconv.ParseInt(s(5), 10, 64); err == nil && ns != 0 {
			at = time.Unix(0, ns)
		}
		out = append(out, runtime.DeadLetter{
			ID: s(0), Queue: queue, Task: s(1), Reason: runtime.Reason(s(2)), Error: s(3),
			Attempts: attempts, At: at, Body: []byte(s(6)),
		})
	}
	return out, nil
}

// requeueDeadScript moves a dead letter back to its queue's ready list.
//
//	KEYS[1] dead, KEYS[2] msgs
//	ARGV[1] dead letter key prefix, ARGV[2] notify channel,
//	ARGV[3] ready list prefix, ARGV[4] id
//	returns 1 requeued, 0 the queue holds a task with the ID, -1 no such
//	dead letter
var requeueDeadScript = goredis.NewScript(luaLib + `
local id = ARGV[4]
if not redis.call('ZSCORE', KEYS[1], id) then return -1 end
if redis.call('HEXISTS', KEYS[2], id) == 1 then return 0 end
local dk = ARGV[1] .. id
local v = redis.call('HMGET', dk, 'b', 'p')
local val = (v[2] or '5') .. (v[1] or '')
redis.call('HSET', KEYS[2], id, val)
if make_ready({id}, {val}, ARGV[3]) then redis.call('PUBLISH', ARGV[2], 'ready') end
redis.call('ZREM', KEYS[1], id)
redis.call('DEL', dk)
return 1
`)

// RequeueDeadLetter puts dead letter id of queue back on queue, ready at
// once with its priority, as a new message. It implements
// runtime.Inspector.
func (t *Transport) RequeueDeadLetter(ctx context.Context, queue, id string) error {
	if t.closed.Load() {
		return runtime.ErrClosed
	}
	q := t.queue(queue)
	c := &call{script: requeueDeadScript, keys: []string{q.dead, q.msgs}, args: []any{q.deadTask, q.notify, q.ready, id}}
	if err := t.batch.do(ctx, c); err != nil {
		return wrap("requeue dead letter", queue, err)
	}
	switch n, _ := c.val.(int64); n {
	case 1:
		return nil
	case 0:
		return fmt.Errorf("%w: %q (requeueing its dead letter on queue %q)", runtime.ErrDuplicateTask, id, queue)
	default:
		return fmt.Errorf("%w: dead letter %q on queue %q", runtime.ErrNotFound, id, queue)
	}
}

// purgeDeadScript deletes a queue's dead letters.
//
//	KEYS[1] dead
//	ARGV[1] dead letter key prefix
//	returns how many there were
var purgeDeadScript = goredis.NewScript(`
local n = 0
while true do
  local ids = redis.call('ZRANGE', KEYS[1], 0, 499)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do redis.call('DEL', ARGV[1] .. id) end
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, #ids - 1)
  n = n + #ids
end
return n
`)

// PurgeDeadLetters deletes every dead letter of queue and returns how many
// there were. It implements runtime.Inspector.
func (t *Transport) PurgeDeadLetters(ctx context.Context, queue string) (int, error) {
	if t.closed.Load() {
		return 0, runtime.ErrClosed
	}
	q := t.queue(queue)
	c := &call{script: purgeDeadScript, keys: []string{q.dead}, args: []any{q.deadTask}}
	if err := t.batch.do(ctx, c); err != nil {
		return 0, wrap("purge dead letters", queue, err)
	}
	n, _ := c.val.(int64)
	return int(n), nil
}

// statsScript counts a queue's messages. Delayed messages that are due and
// lapsed leases count as pending, which they are to the next fetch.
//
//	KEYS[1] delayed, KEYS[2] leased, KEYS[3] dead, KEYS[4] old leased
//	ARGV[1] ready list prefix
//	returns {pending, delayed, active, dead}
var statsScript = goredis.NewScript(luaLib + `
local now = now_us()
local ready = 0
for p = 0, 9 do ready = ready + redis.call('LLEN', ARGV[1] .. p) end
local due = redis.call('ZCOUNT', KEYS[1], '-inf', now)
local lapsed = redis.call('ZCOUNT', KEYS[2], '-inf', now) + redis.call('ZCOUNT', KEYS[4], '-inf', now)
local leased = redis.call('ZCARD', KEYS[2]) + redis.call('ZCARD', KEYS[4])
return {ready + due + lapsed, redis.call('ZCARD', KEYS[1]) - due,
  leased - lapsed, redis.call('ZCARD', KEYS[3])}
`)

// Stats counts the messages of queue. An unknown queue has none.
func (t *Transport) Stats(ctx context.Context, queue string) (runtime.QueueStats, error) {
	if t.closed.Load() {
		return runtime.QueueStats{}, runtime.ErrClosed
	}
	q := t.queue(queue)
	c := &call{script: statsScript, keys: []string{q.delayed, q.leased, q.dead, q.oldLeased}, args: []any{q.ready}}
	if err := t.batch.do(ctx, c); err != nil {
		return runtime.QueueStats{}, wrap("stats", queue, err)
	}
	res, ok := c.val.([]any)
	if !ok || len(res) != 4 {
		return runtime.QueueStats{}, fmt.Errorf("taskgen: redis: stats of queue %q: malformed script reply", queue)
	}
	n := func(i int) int { v, _ := res[i].(int64); return int(v) }
	return runtime.QueueStats{Queue: queue, Pending: n(0), Delayed: n(1), Active: n(2), Dead: n(3)}, nil
}

// SetRateLimit sets task's global rate limit in the transport's store. It
// implements runtime.Inspector.
func (t *Transport) SetRateLimit(ctx context.Context, task string, r runtime.Rate) error {
	return runtime.SetRateLimit(ctx, t, task, r)
}
