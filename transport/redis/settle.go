package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/taskgen/taskgen/runtime"
)

// Settling a delivery checks its lease first (check, in luaLib): a stale
// delivery gets 0 and the caller runtime.ErrLeaseLost. Each script
// takes several deliveries of one queue, so that the batcher can merge the
// acks (or nacks, extensions, dead letters) that concurrent handlers send.
// Every settling script takes the same first keys and arguments:
//
//	KEYS[1] leased, KEYS[2] seq, KEYS[3] msgs, KEYS[4] deliv
//	ARGV[1] notify channel, ARGV[2] ready list prefix

// luaSettle is the start of a settling script whose deliveries take stride
// arguments each, from ARGV[first]: the ID, the leased set entry (the ID,
// '|' and the lease token), then the script's own. It defines q (the
// queue's keys), now, ids, es (es[j] is delivery j's entry), ok (ok[j]
// says whether delivery j holds its lease), all (whether every one does)
// and arg(j, k), the k-th argument (from 0) of delivery j.
func luaSettle(first, stride int) string {
	return luaLib + fmt.Sprintf(`
local q = {leased = KEYS[1], seq = KEYS[2], msgs = KEYS[3], deliv = KEYS[4],
  channel = ARGV[1], ready = ARGV[2]}
local now = now_us()
local ids, es = {}, {}
for i = %[1]d, #ARGV, %[2]d do
  ids[#ids + 1] = ARGV[i]
  es[#es + 1] = ARGV[i + 1]
end
local ok, all = check(ids, es, q, now)
local function arg(j, k) return ARGV[%[1]d + %[2]d * (j - 1) + k] end
`, first, stride)
}

// ackScript removes delivered messages for good.
//
//	KEYS[1..4], ARGV[1..2] as for every settling script
//	ARGV[3..] two per delivery: id, leased set entry
//	returns one integer per delivery: 1 acked, 0 lease lost; or, when
//	every delivery was acked, their number
var ackScript = goredis.NewScript(luaSettle(3, 2) + `
if all then
  forget(ids, es, q)
  return #ids
end
local res, done, gone = {}, {}, {}
for j = 1, #ids do
  if ok[j] then
    done[#done + 1] = es[j]
    gone[#gone + 1] = ids[j]
    res[j] = 1
  else
    res[j] = 0
  end
end
forget(gone, done, q)
return res
`)

// Ack removes a delivered message for good. A lapsed lease, or a delivery
// already settled, returns runtime.ErrLeaseLost.
func (t *Transport) Ack(ctx context.Context, d *runtime.Delivery) error {
	c, err := t.ackCall(d)
	if err != nil {
		return err
	}
	t.forgetProgress(d)
	return t.settle(ctx, "ack", d, c)
}

func (t *Transport) ackCall(d *runtime.Delivery) (*call, error) {
	l, err := t.leaseOf(d, "ack")
	if err != nil {
		return nil, err
	}
	q := l.q
	return &call{
		script: ackScript,
		keys:   q.settle,
		head:   q.head,
		args:   l.ack,
		items:  1,
		phase:  phaseQueue,
	}, nil
}

// nackScript puts delivered messages back: ready at the tail of their
// priority, or delayed. A new body keeps the message's priority digit.
//
//	KEYS[1..4], ARGV[1..2] as for every settling script; KEYS[5] delayed
//	ARGV[3..] five per delivery: id, leased set entry, delay (µs), "1" when a
//	new body follows or "0", body
//	returns one integer per delivery: 1 put back, 0 lease lost
var nackScript = goredis.NewScript(luaSettle(3, 5) + `
local res, moved, back, later, bodies = {}, {}, {}, {}, {}
for j, id in ipairs(ids) do
  res[j] = 0
  if ok[j] then
    res[j] = 1
    moved[#moved + 1] = es[j]
    if arg(j, 3) == '1' then
      bodies[#bodies + 1] = id
      bodies[#bodies + 1] = arg(j, 4)
    end
    local delay = tonumber(arg(j, 2))
    if delay > 0 then
      later[#later + 1] = now + delay
      later[#later + 1] = id
    else
      back[#back + 1] = id
    end
  end
end
if #moved > 0 then
  redis.call('ZREM', q.leased, unpack(moved))
  unleased(moved, q.deliv)
end
if #bodies > 0 then
  local set = {}
  for j = 1, #bodies, 2 do
    local old = redis.call('HGET', q.msgs, bodies[j]) or '5'
    set[#set + 1] = bodies[j]
    set[#set + 1] = string.sub(old, 1, 1) .. bodies[j + 1]
  end
  redis.call('HSET', q.msgs, unpack(set))
end
local notify = false
if #later > 0 then
  local first = first_score(KEYS[5])
  for j = 1, #later, 2 do
    if first == nil or later[j] < first then notify = true end
  end
  redis.call('ZADD', KEYS[5], unpack(later))
end
if #back > 0 and make_ready(back, redis.call('HMGET', q.msgs, unpack(back)), q.ready) then
  notify = true
end
if notify then redis.call('PUBLISH', q.channel, 'ready') end
return res
`)

// Nack puts a delivered message back in its queue, after opts.Delay, with
// opts.Body in place of its body when that is non-nil. Its Deliveries
// count carries on.
func (t *Transport) Nack(ctx context.Context, d *runtime.Delivery, opts runtime.NackOptions) error {
	l, err := t.leaseOf(d, "nack")
	if err != nil {
		return err
	}
	t.forgetProgress(d)
	q := l.q
	flag, body := "0", []byte{}
	if opts.Body != nil {
		flag, body = "1", opts.Body
	}
	return t.settle(ctx, "nack", d, &call{
		script: nackScript,
		keys:   q.settleKeys(q.delayed),
		head:   q.head,
		args:   []any{l.id, l.entry, micros(opts.Delay), flag, body},
		items:  1,
		phase:  phaseQueue,
	})
}

// extendScript renews leases.
//
//	KEYS[1..4], ARGV[1..2] as for every settling script
//	ARGV[3..] three per delivery: id, leased set entry, lease (µs)
//	returns one integer per delivery: 1 renewed, 0 lease lost
var extendScript = goredis.NewScript(luaSettle(3, 3) + `
local res, add = {}, {}
for j = 1, #ids do
  res[j] = 0
  if ok[j] then
    res[j] = 1
    add[#add + 1] = now + tonumber(arg(j, 2))
    add[#add + 1] = es[j]
  end
end
if #add > 0 then redis.call('ZADD', q.leased, unpack(add)) end
return res
`)

// Extend renews d's lease for ttl from now (Config.Lease when ttl is zero).
func (t *Transport) Extend(ctx context.Context, d *runtime.Delivery, ttl time.Duration) error {
	l, err := t.leaseOf(d, "extend")
	if err != nil {
		return err
	}
	if ttl <= 0 {
		ttl = t.lease
	}
	q := l.q
	return t.settle(ctx, "extend", d, &call{
		script: extendScript,
		keys:   q.settle,
		head:   q.head,
		args:   []any{l.id, l.entry, micros(ttl)},
		items:  1,
		phase:  phaseQueue,
	})
}

// deadLetterScript moves delivered messages to the queue's dead letters:
// a hash per letter, and a sorted set of IDs in dead-letter order, trimmed
// to the newest ARGV[3] (0: no bound).
//
//	KEYS[1..4] as for every settling script, KEYS[5] dead
//	ARGV[1] notify channel, ARGV[2] dead letter key prefix,
//	ARGV[3] most dead letters kept
//	ARGV[4..] ten per delivery: id, leased set entry, dead letter id, task,
//	reason, error, attempts, time (Unix ns), "1" when a body follows or
//	"0", body
//	returns one integer per delivery: 1 dead-lettered, 0 lease lost
var deadLetterScript = goredis.NewScript(luaSettle(5, 10) + `
local keep = tonumber(ARGV[4])
local res, done, gone = {}, {}, {}
for j, id in ipairs(ids) do
  res[j] = 0
  if ok[j] then
    res[j] = 1
    done[#done + 1] = es[j]
    gone[#gone + 1] = id
    local v = redis.call('HGET', q.msgs, id)
    local body = string.sub(v, 2)
    if arg(j, 8) == '1' then body = arg(j, 9) end
    local did = arg(j, 2)
    local dk = ARGV[3] .. did
    redis.call('DEL', dk)
    redis.call('HSET', dk, 'task', arg(j, 3), 'reason', arg(j, 4), 'error', arg(j, 5),
      'attempts', arg(j, 6), 'at', arg(j, 7), 'b', body, 'p', string.sub(v, 1, 1))
    redis.call('ZADD', KEYS[5], redis.call('INCR', q.seq), did)
  end
end
forget(gone, done, q)
if keep > 0 then
  local extra = redis.call('ZCARD', KEYS[5]) - keep
  if extra > 0 then
    local old = redis.call('ZPOPMIN', KEYS[5], extra)
    for j = 1, #old, 2 do redis.call('DEL', ARGV[3] .. old[j]) end
  end
end
return res
`)

// DeadLetter removes a delivered message and records dl in its queue's
// dead letters. Empty ID and Queue are taken from d, a zero At is now, and
// a nil Body is the message's body. dl.Queue must be d's queue: on Redis
// Cluster another queue lives in another slot, out of the script's reach.
func (t *Transport) DeadLetter(ctx context.Context, d *runtime.Delivery, dl runtime.DeadLetter) error {
	l, err := t.leaseOf(d, "dead-letter")
	if err != nil {
		return err
	}
	t.forgetProgress(d)
	if dl.Queue != "" && dl.Queue != d.Queue {
		return fmt.Errorf("taskgen: redis: dead-letter task %q of queue %q into queue %q: a dead letter is kept in its own queue; leave DeadLetter.Queue empty", d.ID, d.Queue, dl.Queue)
	}
	if dl.ID == "" {
		dl.ID = d.ID
	}
	if dl.At.IsZero() {
		dl.At = time.Now()
	}
	flag, body := "0", []byte{}
	if dl.Body != nil {
		flag, body = "1", dl.Body
	}
	q := l.q
	return t.settle(ctx, "dead-letter", d, &call{
		script: deadLetterScript,
		keys:   q.settleKeys(q.dead),
		head:   []any{q.notify, q.ready, q.deadTask, t.maxDead},
		args:   []any{l.id, l.entry, dl.ID, dl.Task, string(dl.Reason), dl.Error, dl.Attempts, dl.At.UnixNano(), flag, body},
		items:  1,
		phase:  phaseQueue,
	})
}

// settle runs a one-delivery settling call and turns its 0 into
// runtime.ErrLeaseLost.
func (t *Transport) settle(ctx context.Context, op string, d *runtime.Delivery, c *call) error {
	if t.closed.Load() {
		return runtime.ErrClosed
	}
	if err := t.batch.do(ctx, c); err != nil {
		return wrap(op, d.Queue, err)
	}
	return settled(op, d, c)
}

func settled(op string, d *runtime.Delivery, c *call) error {
	if n, _ := c.reply[0].(int64); n != 1 {
		return lostError(op, d)
	}
	return nil
}

// AckRecord writes r and acks d in one pipeline, the record first: the
// worker settles a succeeded task with it. It implements
// runtime.RecordAcker.
func (t *Transport) AckRecord(ctx context.Context, d *runtime.Delivery, r *runtime.Record, ttl time.Duration) error {
	if r == nil || r.ID == "" {
		return errors.New("taskgen: redis: ack with record: no task ID")
	}
	if t.closed.Load() {
		return runtime.ErrClosed
	}
	ack, err := t.ackCall(d)
	if err != nil {
		return err
	}
	rec := t.recordCall(r, ttl, t.mayHaveProgress(d, r))
	rec.next = ack
	if err := t.batch.do(ctx, rec); err != nil {
		if rec.err != nil {
			err = fmt.Errorf("taskgen: redis: put record of task %q: %w", r.ID, rec.err)
		}
		if ack.err != nil {
			err = errors.Join(err, wrap("ack", d.Queue, ack.err))
		}
		return err
	}
	return settled("ack", d, ack)
}
