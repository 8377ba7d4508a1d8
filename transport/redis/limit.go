package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/taskgen/taskgen/runtime"
)

var _ runtime.Limiter = (*Transport)(nil)

// takeRateScript takes or reserves a token of a bucket of capacity one, in
// GCRA form, on the server's clock (µs): tat is when the next token is
// due, dtat the place given to the next caller told to come back, ivl the
// interval both were computed with. A new interval pulls tat in to at most
// one new interval ahead and forgets the places given.
//
//	KEYS[1] bucket (a hash)
//	ARGV[1] interval, ARGV[2] horizon, ARGV[3] spread (µs)
//	returns {1, wait} reserved, or {0, wait} not
var takeRateScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ivl, horizon, spread = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local s = redis.call('HMGET', KEYS[1], 'tat', 'dtat', 'ivl')
local tat, dtat = tonumber(s[1]) or 0, tonumber(s[2]) or 0
if tonumber(s[3]) ~= ivl then
  if tat > now + ivl then tat = now + ivl end
  dtat = 0
end
if tat < now then tat = now end
local res
if tat - now <= horizon then
  res = {1, tat - now}
  tat = tat + ivl
else
  if dtat < tat - horizon then dtat = tat - horizon end
  res = {0, dtat - now}
  if dtat - now <= spread then dtat = dtat + ivl end
end
redis.call('HSET', KEYS[1], 'tat', tat, 'dtat', dtat, 'ivl', ivl)
redis.call('PEXPIRE', KEYS[1], math.floor((math.max(tat, dtat) - now) / 1000) + 60000)
return res
`)

// TakeRate takes or reserves a token of the bucket key, as runtime.Limiter
// specifies, in one round trip.
func (t *Transport) TakeRate(ctx context.Context, key string, r runtime.Rate, horizon, spread time.Duration) (time.Duration, bool, error) {
	if t.closed.Load() {
		return 0, false, runtime.ErrClosed
	}
	var ivl time.Duration
	if r.N > 0 && r.Period > 0 {
		ivl = max(r.Period/time.Duration(r.N), time.Microsecond)
	}
	c := &call{script: takeRateScript, keys: []string{t.keys.kv(key)}, args: []any{ivl.Microseconds(), horizon.Microseconds(), spread.Microseconds()}}
	if err := t.batch.do(ctx, c); err != nil {
		return 0, false, fmt.Errorf("taskgen: redis: take a token of rate limit %q: %w", key, err)
	}
	res, ok := c.val.([]any)
	if !ok || len(res) != 2 {
		return 0, false, fmt.Errorf("taskgen: redis: take a token of rate limit %q: unexpected reply %v", key, c.val)
	}
	reserved, _ := res[0].(int64)
	wait, _ := res[1].(int64)
	return time.Duration(wait) * time.Microsecond, reserved == 1, nil
}

// acquireSlotScript takes a slot of a semaphore: a sorted set of holders
// scored by lease deadline (ms, server clock). Lapsed holders are dropped
// first. The set expires with the longest lease given.
//
//	KEYS[1] semaphore
//	ARGV[1] limit, ARGV[2] holder, ARGV[3] lease (ms)
//	returns 1 when holder has a slot, 0 when they are all taken
var acquireSlotScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[2])
if redis.call('PTTL', KEYS[1]) < lease then redis.call('PEXPIRE', KEYS[1], lease) end
return 1
`)

// extendSlotScript renews a holder's slot.
//
//	KEYS[1] semaphore
//	ARGV[1] holder, ARGV[2] lease (ms)
//	returns 1 when holder had the slot, else 0
var extendSlotScript = goredis.NewScript(`
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
if redis.call('PTTL', KEYS[1]) < lease then redis.call('PEXPIRE', KEYS[1], lease) end
return 1
`)

// AcquireSlot takes one of the limit slots of key for holder, as
// runtime.Limiter specifies, in one round trip.
func (t *Transport) AcquireSlot(ctx context.Context, key string, limit int, holder string, lease time.Duration) (bool, error) {
	if t.closed.Load() {
		return false, runtime.ErrClosed
	}
	c := &call{script: acquireSlotScript, keys: []string{t.keys.kv(key)}, args: []any{limit, holder, millis(lease)}}
	if err := t.batch.do(ctx, c); err != nil {
		return false, fmt.Errorf("taskgen: redis: acquire a slot of concurrency limit %q: %w", key, err)
	}
	n, _ := c.val.(int64)
	return n == 1, nil
}

// ExtendSlot renews holder's slot of key, as runtime.Limiter specifies.
func (t *Transport) ExtendSlot(ctx context.Context, key, holder string, lease time.Duration) (bool, error) {
	if t.closed.Load() {
		return false, runtime.ErrClosed
	}
	c := &call{script: extendSlotScript, keys: []string{t.keys.kv(key)}, args: []any{holder, millis(lease)}}
	if err := t.batch.do(ctx, c); err != nil {
		return false, fmt.Errorf("taskgen: redis: renew a slot of concurrency limit %q: %w", key, err)
	}
	n, _ := c.val.(int64)
	return n == 1, nil
}

// ReleaseSlot frees holder's slot of key.
func (t *Transport) ReleaseSlot(ctx context.Context, key, holder string) error {
	if t.closed.Load() {
		return runtime.ErrClosed
	}
	k := t.keys.kv(key)
	c := &call{build: func(p goredis.Pipeliner) []goredis.Cmder {
		return []goredis.Cmder{p.ZRem(ctx, k, holder)}
	}}
	if err := t.batch.do(ctx, c); err != nil {
		return fmt.Errorf("taskgen: redis: release a slot of concurrency limit %q: %w", key, err)
	}
	return nil
}
