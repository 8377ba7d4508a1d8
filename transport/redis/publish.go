package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/taskgen/taskgen/runtime"
)

// publishScript adds messages to one queue: ready at once, or delayed until
// their ETA (publishNowScript takes a lone message that is ready now, and
// the batches of such messages that hold no ID twice). It publishes a
// notice when a ready list was empty (blocked consumers sleep only on
// empty queues) or a delayed message became the earliest (consumers sleep
// until the earliest ETA).
//
//	KEYS[1] delayed, KEYS[2] msgs
//	ARGV[1] notify channel, ARGV[2] ready list prefix
//	ARGV[3..] three per message: id, ETA (µs; 0 is now), the priority
//	digit followed by the body
//	returns one integer per message: 1 stored, 0 the queue holds the ID
var publishScript = goredis.NewScript(luaLib + `
local delayed, msgs = KEYS[1], KEYS[2]
if #ARGV == 5 then
  -- One message: HSETNX both checks and stores it.
  local id, eta, val = ARGV[3], tonumber(ARGV[4]), ARGV[5]
  if redis.call('HSETNX', msgs, id, val) == 0 then return {0} end
  local notify
  if eta > 0 and eta > now_us() then
    local first = first_score(delayed)
    notify = first == nil or eta < first
    redis.call('ZADD', delayed, eta, id)
  else
    notify = redis.call('RPUSH', ARGV[2] .. string.sub(val, 1, 1), id) == 1
  end
  if notify then redis.call('PUBLISH', ARGV[1], 'ready') end
  return {1}
end
local n = (#ARGV - 2) / 3
local ids = {}
for j = 1, n do ids[j] = ARGV[3 * j] end
local held = redis.call('HMGET', msgs, unpack(ids))
local now = nil
local set, ready_ids, ready_vals, later, seen, res = {}, {}, {}, {}, {}, {}
for j, id in ipairs(ids) do
  local a = 3 * j
  if held[j] or seen[id] then
    res[j] = 0
  else
    seen[id] = true
    res[j] = 1
    local val = ARGV[a + 2]
    set[#set + 1] = id
    set[#set + 1] = val
    local eta = tonumber(ARGV[a + 1])
    if eta > 0 and now == nil then now = now_us() end
    if eta > 0 and eta > now then
      later[#later + 1] = eta
      later[#later + 1] = id
    else
      ready_ids[#ready_ids + 1] = id
      ready_vals[#ready_vals + 1] = val
    end
  end
end
local notify = false
if #set > 0 then redis.call('HSET', msgs, unpack(set)) end
if #later > 0 then
  local first = first_score(delayed)
  for j = 1, #later, 2 do
    if first == nil or later[j] < first then notify = true end
  end
  redis.call('ZADD', delayed, unpack(later))
end
if #ready_ids > 0 and make_ready(ready_ids, ready_vals, ARGV[2]) then notify = true end
if notify then redis.call('PUBLISH', ARGV[1], 'ready') end
return res
`)

// publishNowScript adds messages that are ready now to one ready list, the
// common publish: unlike publishScript it needs no ETA and no per-message
// priority, and it stores the bodies straight from its arguments. It
// publishes a notice when the list was empty.
//
//	KEYS[1] the ready list of the messages' priority, KEYS[2] msgs
//	ARGV[1] notify channel, ARGV[2..] two per message: id, the priority
//	digit followed by the body
//	returns one integer per message: 1 stored, 0 the queue holds the ID;
//	or, when every message of several was stored, their number
var publishNowScript = goredis.NewScript(`
local ready, msgs = KEYS[1], KEYS[2]
local n = (#ARGV - 1) / 2
if n == 1 then
  if redis.call('HSETNX', msgs, ARGV[2], ARGV[3]) == 0 then return {0} end
  if redis.call('RPUSH', ready, ARGV[2]) == 1 then redis.call('PUBLISH', ARGV[1], 'ready') end
  return {1}
end
local ids = {}
for j = 1, n do ids[j] = ARGV[2 * j] end
local held = redis.call('HMGET', msgs, unpack(ids))
local fresh = true
for j = 1, n do
  if held[j] then
    fresh = false
    break
  end
end
-- If no ID is held and none repeats (HSET then adds every field), the
-- messages are stored with one command per key.
if fresh and redis.call('HSET', msgs, unpack(ARGV, 2)) == n then
  if redis.call('RPUSH', ready, unpack(ids)) == n then redis.call('PUBLISH', ARGV[1], 'ready') end
  return n
end
-- An ID is held, or repeats. Each ID not held is stored with its first
-- body (again, when it repeats: HSET above stored its last one, and
-- nothing was held then).
local res, seen, set, push = {}, {}, {}, {}
for j = 1, n do
  local id = ids[j]
  if held[j] or seen[id] then
    res[j] = 0
  else
    seen[id] = true
    res[j] = 1
    set[#set + 1] = id
    set[#set + 1] = ARGV[2 * j + 1]
    push[#push + 1] = id
  end
end
if #set > 0 then
  redis.call('HSET', msgs, unpack(set))
  if redis.call('RPUSH', ready, unpack(push)) == #push then redis.call('PUBLISH', ARGV[1], 'ready') end
end
return res
`)

// publishChunk bounds the messages of one script run of PublishBatch.
const publishChunk = 256

// Publish stores msg in its queue and returns once Redis holds it: ready
// at once, or delayed until msg.ETA. Publishing an ID the queue holds
// (pending, delayed or active) returns runtime.ErrDuplicateTask. Concurrent
// publishes share round trips.
func (t *Transport) Publish(ctx context.Context, msg *runtime.Message) error {
	c, err := t.publishCall(msg)
	if err != nil {
		return err
	}
	if err := t.batch.do(ctx, c); err != nil {
		return wrap("publish", msg.Queue, err)
	}
	return publishOutcome(msg, c.reply[0])
}

// PublishAsync sends msg as Publish does and returns without waiting for
// Redis's reply. It implements runtime.AsyncPublisher.
func (t *Transport) PublishAsync(ctx context.Context, msg *runtime.Message) (<-chan struct{}, func() error) {
	c, err := t.publishCall(msg)
	if err == nil {
		if err = t.batch.send(ctx, c); err != nil {
			err = wrap("publish", msg.Queue, err)
		}
	}
	if err != nil {
		done := make(chan struct{})
		close(done)
		return done, func() error { return err }
	}
	return c.done, func() error {
		if err := c.result(); err != nil {
			return wrap("publish", msg.Queue, err)
		}
		return publishOutcome(msg, c.reply[0])
	}
}

// publishCall is msg's publish, for the batcher.
func (t *Transport) publishCall(msg *runtime.Message) (*call, error) {
	if err := checkMessage(msg); err != nil {
		return nil, err
	}
	if t.closed.Load() {
		return nil, runtime.ErrClosed
	}
	q := t.queue(msg.Queue)
	c := &call{
		script: publishScript,
		keys:   q.publish,
		head:   q.head,
		args:   messageArgs(nil, msg),
		items:  1,
		phase:  phaseQueue,
	}
	if readyNow(msg, time.Now()) {
		// Merged with the other publishes of its queue and priority: the
		// batcher merges the calls whose first key is the same. A run of
		// fresh IDs only is a transaction, as in PublishBatch.
		c.script, c.keys, c.head, c.args = publishNowScript, q.readyNow[msg.Priority], q.notifyArg, readyArgs(nil, msg)
		c.fresh = msg.FreshID && t.freshTx
	}
	return c, nil
}

// PublishBatch publishes msgs in one pipeline, one script run per queue
// and chunk of messages, and returns each message's outcome, as Publish
// would. It implements runtime.BatchPublisher.
//
// A queue whose messages are all ready now, with no ID twice, has a run
// per priority (and chunk) of publishNowScript: the order of a queue's
// messages matters only within a priority, and is kept. Any other queue's
// messages go through publishScript, in order, so that the first message
// of an ID wins.
func (t *Transport) PublishBatch(ctx context.Context, msgs []*runtime.Message) []error {
	errs := make([]error, len(msgs))
	if t.closed.Load() {
		for i := range errs {
			errs[i] = runtime.ErrClosed
		}
		return errs
	}
	type chunk struct {
		q   *queueKeys
		now bool // publishNowScript, for priority pri
		// fresh: every message's ID is fresh, so no check for a held one
		// is needed: plain commands in a transaction store them.
		fresh bool
		pri   int
		idx   []int
		cmd   *goredis.Cmd
	}
	type chunkKey struct {
		queue string
		pri   int
	}
	// mixed says which queues have a message with an ETA, or an ID twice;
	// checked, which queues and priorities have an ID that is not fresh.
	// Every run of a queue and priority is a transaction, or none is: a
	// run whose script the server lost is sent again after the pipeline,
	// after the transactions that followed it.
	mixed := make(map[string]bool)
	checked := make(map[chunkKey]bool)
	type queueID struct{ queue, id string }
	var seen map[queueID]bool // a fresh ID cannot repeat
	now := time.Now()
	for i, m := range msgs {
		if errs[i] = checkMessage(m); errs[i] != nil {
			continue
		}
		if !readyNow(m, now) {
			mixed[m.Queue] = true
		}
		if m.FreshID {
			continue
		}
		checked[chunkKey{m.Queue, m.Priority}] = true
		if seen == nil {
			seen = make(map[queueID]bool)
		}
		k := queueID{m.Queue, m.ID}
		if seen[k] {
			mixed[m.Queue] = true
		}
		seen[k] = true
	}
	var chunks []*chunk
	open := make(map[chunkKey]*chunk)
	for i, m := range msgs {
		if errs[i] != nil {
			continue
		}
		k := chunkKey{m.Queue, -1}
		if !mixed[m.Queue] {
			k.pri = m.Priority
		}
		c := open[k]
		if c == nil || len(c.idx) == publishChunk {
			c = &chunk{q: t.queue(m.Queue), now: k.pri >= 0, pri: k.pri, fresh: k.pri >= 0 && t.freshTx && !checked[k]}
			open[k] = c
			chunks = append(chunks, c)
		}
		c.idx = append(c.idx, i)
	}
	if len(chunks) == 0 {
		return errs
	}
	script := func(c *chunk) (*goredis.Script, []string, []any) {
		if c.now {
			args := make([]any, 0, 1+2*len(c.idx))
			args = append(args, c.q.notify)
			for _, i := range c.idx {
				args = readyArgs(args, msgs[i])
			}
			return publishNowScript, c.q.readyNow[c.pri], args
		}
		args := make([]any, 0, 2+3*len(c.idx))
		args = append(args, c.q.notify, c.q.ready)
		for _, i := range c.idx {
			args = messageArgs(args, msgs[i])
		}
		return publishScript, c.q.publish, args
	}
	pipe := t.client.Pipeline()
	for _, c := range chunks {
		if c.fresh {
			c.cmd = queueFresh(ctx, pipe, c.q, c.pri, msgs, c.idx)
			continue
		}
		s, keys, args := script(c)
		c.cmd = pipe.EvalSha(ctx, s.Hash(), keys, args...)
	}
	_, _ = pipe.Exec(ctx)
	for _, c := range chunks {
		if c.fresh {
			_, err := txResult(c.cmd, 3)
			for _, i := range c.idx {
				errs[i] = wrap("publish", msgs[i].Queue, err)
			}
			continue
		}
		if isNoScript(c.cmd.Err()) {
			s, keys, args := script(c)
			c.cmd = s.Eval(ctx, t.client, keys, args...)
		}
		if n, err := c.cmd.Int64(); err == nil && n == int64(len(c.idx)) {
			continue // every message stored
		}
		res, err := c.cmd.Slice()
		if err == nil && len(res) != len(c.idx) {
			err = fmt.Errorf("script returned %d results for %d messages", len(res), len(c.idx))
		}
		for j, i := range c.idx {
			if err != nil {
				errs[i] = wrap("publish", msgs[i].Queue, err)
				continue
			}
			errs[i] = publishOutcome(msgs[i], res[j])
		}
	}
	return errs
}

// queueFresh queues on pipe the transaction that adds msgs[idx...], ready
// now with priority pri and fresh IDs, to q, and wakes the queue's
// consumers (queueTx). It returns EXEC's command.
func queueFresh(ctx context.Context, pipe goredis.Pipeliner, q *queueKeys, pri int, msgs []*runtime.Message, idx []int) *goredis.Cmd {
	size := 0
	for _, i := range idx {
		size += 1 + len(msgs[i].Body)
	}
	vals := make([]byte, 0, size) // every stored value, sliced below
	pairs := make([]any, 0, 2*len(idx))
	for _, i := range idx {
		start := len(vals)
		vals = append(vals, '0'+byte(pri))
		vals = append(vals, msgs[i].Body...)
		pairs = append(pairs, msgs[i].ID, vals[start:len(vals):len(vals)])
	}
	return queueTx(ctx, pipe, q.readyNow[pri], pairs, q.notify)
}

// queueTx queues on pipe the transaction that stores pairs (an ID and its
// msgs value, for each message) in keys[1], the queue's msgs hash, and
// appends the IDs to keys[0], a ready list; if notify is not empty, it
// publishes a wake notice there too. Plain commands cost Redis about a
// third less than publishNowScript, whose arguments go through Lua, and a
// fresh ID needs no check for a held one. It returns EXEC's command, whose
// replies txResult reads. A transaction Redis refuses while it queues it
// (out of memory, a read-only replica) does nothing; one whose HSET fails
// as it runs (a msgs key of another type) still pushes the IDs, which
// Fetch drops for want of a body.
func queueTx(ctx context.Context, pipe goredis.Pipeliner, keys []string, pairs []any, notify string) *goredis.Cmd {
	hset := make([]any, 0, 2+len(pairs))
	push := make([]any, 0, 2+len(pairs)/2)
	hset = append(hset, "HSET", keys[1])
	push = append(push, "RPUSH", keys[0])
	hset = append(hset, pairs...)
	for j := 0; j < len(pairs); j += 2 {
		push = append(push, pairs[j])
	}
	pipe.Do(ctx, "MULTI")
	pipe.Do(ctx, hset...)
	pipe.Do(ctx, push...)
	if notify != "" {
		pipe.Do(ctx, "PUBLISH", notify, "ready")
	}
	return pipe.Do(ctx, "EXEC")
}

// txResult reads the reply of queueTx's transaction, of cmds commands,
// and returns the length of the ready list after the push.
func txResult(exec *goredis.Cmd, cmds int) (int64, error) {
	res, err := exec.Slice()
	if err != nil {
		return 0, err
	}
	if len(res) != cmds {
		return 0, fmt.Errorf("transaction returned %d replies for %d commands", len(res), cmds)
	}
	for _, r := range res {
		if err, ok := r.(error); ok {
			return 0, err
		}
	}
	n, _ := res[1].(int64)
	return n, nil
}

// readyNow reports whether msg is deliverable at once: it has no ETA, or
// one that has passed. An ETA is the publisher's time, so its clock says.
func readyNow(msg *runtime.Message, now time.Time) bool {
	return msg.ETA.IsZero() || !msg.ETA.After(now)
}

func checkMessage(msg *runtime.Message) error {
	if err := msg.Check(); err != nil {
		return fmt.Errorf("taskgen: redis: publish %w", err)
	}
	return nil
}

// messageArgs appends msg's three publishScript arguments to args.
func messageArgs(args []any, msg *runtime.Message) []any {
	return append(args, msg.ID, unixMicros(msg.ETA), storedValue(msg))
}

// readyArgs appends msg's two publishNowScript arguments to args.
func readyArgs(args []any, msg *runtime.Message) []any {
	return append(args, msg.ID, storedValue(msg))
}

// storedValue is msg's value in its queue's msgs hash: the priority digit,
// then the body.
func storedValue(msg *runtime.Message) []byte {
	val := make([]byte, 1+len(msg.Body))
	val[0] = '0' + byte(msg.Priority)
	copy(val[1:], msg.Body)
	return val
}

func publishOutcome(msg *runtime.Message, res any) error {
	if n, ok := res.(int64); ok && n == 1 {
		return nil
	}
	return fmt.Errorf("%w: %q (publishing to queue %q)", runtime.ErrDuplicateTask, msg.ID, msg.Queue)
}
