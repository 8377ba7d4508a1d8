package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/taskgen/taskgen/runtime"
)

// fetchScript leases up to ARGV[1] messages from its queues, in the order
// given and by priority within each. For each queue it first moves the
// delayed messages that are due and the lapsed leases back to ready, so
// the consumers themselves recover the tasks of dead workers: one script
// run moves an ID once, however many consumers race. Each run takes a new
// token from the queue's counter for its deliveries, which fences older
// deliveries of the same messages. A lease that becomes the queue's
// earliest is announced on the queue's channel, so that sleeping consumers
// set their timers by it.
//
//	KEYS[7i-6..7i] queue i: delayed, leased, seq, msgs, deliv, old
//	leased, old tokens
//	ARGV[1] most deliveries, ARGV[2] lease (µs), ARGV[3] lease notice
//	ARGV[2+2i], ARGV[3+2i] queue i: ready list prefix, notify channel
//	returns {head, then one per queue delivered from: {queue index
//	(1-based), token prefix, IDs, values (priority digit and body),
//	deliveries before this one or 0 when the queue keeps no deliveries}};
//	when something was delivered, head is 1 if a lease notice was
//	published, else 0; when nothing was, head is the earliest ETA or
//	lease deadline (µs) of the queues, 0 for none. A delivery's token is
//	the prefix followed by its deliveries.
//
// The reply hands back the tables LPOP and HMGET made, so that a message
// costs the script little more than the commands' own work.
var fetchScript = goredis.NewScript(luaLib + `
-- due_old puts back the lapsed leases of versions before the leased set of
-- lease entries: bare IDs by deadline, with their tokens in a hash.
local function due_old(old, tokens, ready, msgs, now)
  if redis.call('EXISTS', old) == 0 then return end
  local ids = redis.call('ZRANGEBYSCORE', old, '-inf', now, 'LIMIT', 0, 1000)
  if #ids == 0 then return end
  redis.call('ZREM', old, unpack(ids))
  redis.call('HDEL', tokens, unpack(ids))
  make_ready(ids, redis.call('HMGET', msgs, unpack(ids)), ready)
end

local max = tonumber(ARGV[1])
local now = now_us()
local deadline = now + tonumber(ARGV[2])
local out = {0}
local n = 0
local nq = #KEYS / 7
for i = 1, nq do
  local k = 7 * (i - 1)
  local delayed, leased, seq = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]
  local msgs, deliv = KEYS[k + 4], KEYS[k + 5]
  local ready, channel = ARGV[2 + 2 * i], ARGV[3 + 2 * i]
  due(delayed, ready, msgs, deliv, now, false)
  due_old(KEYS[k + 6], KEYS[k + 7], ready, msgs, now)
  local first = first_score(leased)
  if first ~= nil and first <= now then
    due(leased, ready, msgs, deliv, now, true)
    first = first_score(leased)
  end
  local ids = nil
  for p = 9, 0, -1 do
    local have = ids and #ids or 0
    if n + have >= max then break end
    local got = redis.call('LPOP', ready .. p, max - n - have)
    if got then
      if ids == nil then
        ids = got
      else
        for _, id in ipairs(got) do ids[#ids + 1] = id end
      end
    end
  end
  if ids then
    if first == nil or first > deadline then
      redis.call('PUBLISH', channel, ARGV[3])
      out[1] = 1
    end
    local vals = redis.call('HMGET', msgs, unpack(ids))
    -- Only messages put back have deliveries kept.
    local ds = nil
    if redis.call('EXISTS', deliv) == 1 then ds = redis.call('HMGET', deliv, unpack(ids)) end
    -- One token serves the run: no delivery of another run shares it.
    local base = string.format('%d.', redis.call('INCR', seq))
    local lset, gone = {}, false
    for j, id in ipairs(ids) do
      if vals[j] then
        local d = 1
        if ds then
          -- The reply says the count read here, a number.
          ds[j] = tonumber(ds[j]) or 0
          d = ds[j] + 1
        end
        lset[#lset + 1] = deadline
        lset[#lset + 1] = id .. '|' .. base .. d
      else
        gone = true
      end
    end
    if gone then
      -- IDs whose message is gone (purged) are dropped.
      local kept, kv, kd = {}, {}, {}
      for j, id in ipairs(ids) do
        if vals[j] then
          kept[#kept + 1] = id
          kv[#kv + 1] = vals[j]
          if ds then kd[#kd + 1] = ds[j] or 0 end
        end
      end
      ids, vals = kept, kv
      if ds then ds = kd end
    end
    if #ids > 0 then
      redis.call('ZADD', leased, unpack(lset))
      n = n + #ids
      out[#out + 1] = {i, base, ids, vals, ds or 0}
    end
    if n >= max then break end
  end
end
if n == 0 then
  local next = nil
  for i = 1, nq do
    for _, z in ipairs({KEYS[7 * i - 6], KEYS[7 * i - 5], KEYS[7 * i - 1]}) do
      local s = first_score(z)
      if s ~= nil and (next == nil or s < next) then next = s end
    end
  end
  if next ~= nil then out[1] = next end
end
return out
`)

// maxFetch bounds the deliveries of one Fetch, so that one script run
// stays short.
const maxFetch = 1000

// minWait keeps a consumer whose timer fired a hair before the server's
// clock reached the deadline from spinning.
const minWait = time.Millisecond

// Fetch blocks until a message is deliverable in req.Queues, or ctx is
// done, and returns up to req.Max deliveries, each leased for req.Lease
// (Config.Lease when zero). Queues are served in the order given, messages
// by priority then publish order within a queue.
//
// It never polls: an empty fetch sleeps on the queues' Pub/Sub channel,
// with a timer set to the earliest ETA or lease deadline of its queues.
// On Redis Cluster each queue is a script run of its own, in order;
// otherwise one run serves them all.
func (t *Transport) Fetch(ctx context.Context, req runtime.FetchRequest) ([]*runtime.Delivery, error) {
	if len(req.Queues) == 0 {
		return nil, errors.New("taskgen: redis: fetch: no queues given")
	}
	if t.closed.Load() {
		return nil, runtime.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit := min(max(req.Max, 1), maxFetch)
	ttl := req.Lease
	if ttl <= 0 {
		ttl = t.lease
	}
	qs := make([]*queueKeys, len(req.Queues))
	channels := make([]string, len(req.Queues))
	for i, name := range req.Queues {
		qs[i] = t.queue(name)
		channels[i] = qs[i].notify
	}
	if err := t.notes.watch(ctx, channels, true); err != nil {
		return nil, err
	}
	var gens []uint64
	for {
		if t.closed.Load() {
			return nil, runtime.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		gens = t.notes.gens(channels, gens)
		ds, next, err := t.fetchOnce(ctx, qs, limit, ttl)
		if err != nil || len(ds) > 0 {
			return ds, err
		}
		var timeout time.Duration
		if next > 0 {
			timeout = max(time.Until(time.UnixMicro(next)), minWait)
		}
		// Lost notices cannot strand a consumer for longer than a lease.
		if timeout == 0 || timeout > ttl {
			timeout = ttl
		}
		if err := t.notes.wait(ctx, channels, gens, timeout); err != nil {
			return nil, err
		}
	}
}

// fetchOnce runs fetchScript over qs, one queue at a time on Redis Cluster.
func (t *Transport) fetchOnce(ctx context.Context, qs []*queueKeys, limit int, ttl time.Duration) ([]*runtime.Delivery, int64, error) {
	group := len(qs)
	if t.cluster {
		group = 1
	}
	var (
		out  []*runtime.Delivery
		next int64
	)
	for start := 0; start < len(qs) && len(out) < limit; start += group {
		part := qs[start:min(start+group, len(qs))]
		keys := make([]string, 0, 7*len(part))
		args := make([]any, 0, 3+2*len(part))
		args = append(args, limit-len(out), micros(ttl), "lease:"+t.origin)
		for _, q := range part {
			keys = append(keys, q.delayed, q.leased, q.seq, q.msgs, q.deliv, q.oldLeased, q.oldTokens)
			args = append(args, q.ready, q.notify)
		}
		res, err := fetchScript.Run(ctx, t.client, keys, args...).Slice()
		var (
			head int64
			ds   []*runtime.Delivery
		)
		if err == nil {
			head, ds, err = t.deliveries(res, part)
		} else {
			err = wrap("fetch", part[0].name, err)
		}
		if err != nil {
			if len(out) > 0 {
				// Hand over what is leased; the error comes back on
				// the next fetch.
				return out, 0, nil
			}
			return nil, 0, err
		}
		switch {
		case len(ds) > 0 && head == 1:
			// A new earliest lease: the other consumers of this
			// transport set their timers by it, and skip the notice
			// as this transport's own.
			for _, q := range part {
				t.notes.kick(q.notify)
			}
		case len(ds) == 0 && head > 0 && (next == 0 || head < next):
			next = head
		}
		out = append(out, ds...)
	}
	if len(out) > 0 {
		next = 0
	}
	return out, next, nil
}

// deliveries decodes fetchScript's reply.
func (t *Transport) deliveries(res []any, qs []*queueKeys) (int64, []*runtime.Delivery, error) {
	bad := func() error {
		return fmt.Errorf("taskgen: redis: fetch on queue %q: malformed script reply", qs[0].name)
	}
	if len(res) == 0 {
		return 0, nil, bad()
	}
	head, _ := res[0].(int64)
	var ds []*runtime.Delivery
	for _, r := range res[1:] {
		part, ok := r.([]any)
		if !ok || len(part) != 5 {
			return 0, nil, bad()
		}
		qi, ok1 := part[0].(int64)
		base, ok2 := part[1].(string)
		ids, ok3 := part[2].([]any)
		vals, ok4 := part[3].([]any)
		before, _ := part[4].([]any)
		if !ok1 || !ok2 || !ok3 || !ok4 || qi < 1 || int(qi) > len(qs) || len(vals) != len(ids) ||
			(before != nil && len(before) != len(ids)) {
			return 0, nil, bad()
		}
		if ds == nil {
			ds = make([]*runtime.Delivery, 0, len(ids))
		}
		q := qs[qi-1]
		for j, v := range ids {
			id, ok1 := v.(string)
			val, ok2 := vals[j].(string)
			if !ok1 || !ok2 || len(val) == 0 {
				return 0, nil, bad()
			}
			n := 1
			if before != nil {
				n += deliveryCount(before[j])
			}
			entry := id + "|" + base + strconv.Itoa(n)
			// One allocation holds the delivery, its lease and the ack's
			// arguments.
			x := &struct {
				d   runtime.Delivery
				l   lease
				ack [2]any
			}{
				d: runtime.Delivery{
					Message: runtime.Message{
						ID:       id,
						Queue:    q.name,
						Priority: int(val[0] - '0'),
						Body:     []byte(val[1:]),
					},
					Deliveries: n,
				},
				l:   lease{t: t, q: q, id: id, entry: entry},
				ack: [2]any{v, entry},
			}
			x.l.ack = x.ack[:]
			x.d.Lease = &x.l
			ds = append(ds, &x.d)
		}
	}
	return head, ds, nil
}

// deliveryCount reads a message's deliveries before this one from the
// fetch reply: a count; anything else is none, as the script read it.
func deliveryCount(v any) int {
	switch v := v.(type) {
	case int64:
		return int(max(v, 0))
	case string:
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			return n
		}
	}
	return 0
}
