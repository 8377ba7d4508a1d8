package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/taskgen/taskgen/runtime"
)

// Record writes go through the batcher, so the records of concurrent
// handlers share round trips.

// putRecordScript writes a record that brings its own progress (taken only
// when there is no record yet), or is terminal, and gives the progress the
// record's expiry. Other records (the worker's active and retry writes) are
// a plain SET with the expiry. On Redis Cluster a terminal write is this
// script so that its notice follows the write on the same node: a pipeline
// there may run a PUBLISH, which has no key, on another node before the
// SET; on one server it is plain SET, PEXPIRE and PUBLISH in a pipeline,
// without the PEXPIRE when the task cannot have progress (see
// mayHaveProgress).
//
//	KEYS[1] record, KEYS[2] progress
//	ARGV[1] channel, ARGV[2] ttl (ms; 0 keeps the current expiry),
//	ARGV[3] "1" when the state is terminal, ARGV[4] the encoded record,
//	ARGV[5] progress, ARGV[6] progress meta, ARGV[7] at (Unix ns)
//	returns 1
var putRecordScript = goredis.NewScript(luaPutRecord)

const luaPutRecord = `
local ttl = tonumber(ARGV[2])
if (ARGV[5] ~= '' or ARGV[6] ~= '') and redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[2], 'progress', ARGV[5], 'meta', ARGV[6], 'at', ARGV[7])
end
if ttl > 0 then
  redis.call('SET', KEYS[1], ARGV[4], 'PX', ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
else
  redis.call('SET', KEYS[1], ARGV[4], 'KEEPTTL')
end
if ARGV[3] == '1' then redis.call('PUBLISH', ARGV[1], 'done') end
return 1
`

// putLiveRecordScript is putRecordScript unless the stored record's state
// is terminal, or unreadable, when it writes nothing and returns 0. It reads the state
// from the record's encoding (encodeRecord): the version byte, then task,
// queue and state, each a uvarint length and its bytes.
//
//	KEYS, ARGV[1..7] as for putRecordScript; ARGV[8..] the terminal states
var putLiveRecordScript = goredis.NewScript(`
local function state_of(v)
  if string.byte(v, 1) ~= ` + strconv.Itoa(recordVersion) + ` then return nil end
  local pos = 2
  local function uvarint()
    local n, mul = 0, 1
    while true do
      local b = string.byte(v, pos)
      if b == nil then return nil end
      pos = pos + 1
      n = n + (b % 128) * mul
      if b < 128 then return n end
      mul = mul * 128
    end
  end
  for _ = 1, 2 do
    local l = uvarint()
    if l == nil then return nil end
    pos = pos + l
  end
  local l = uvarint()
  if l == nil then return nil end
  return string.sub(v, pos, pos + l - 1)
end
local old = redis.call('GET', KEYS[1])
if old then
  local state = state_of(old)
  -- A record this version cannot read (another version's) is kept too.
  if state == nil then return 0 end
  for i = 8, #ARGV do
    if state == ARGV[i] then return 0 end
  end
end
` + luaPutRecord)

// terminalStates are the states putLiveRecordScript keeps.
var terminalStates = []any{
	string(runtime.StateSucceeded), string(runtime.StateFailed),
	string(runtime.StateExpired), string(runtime.StateCancelled),
}

// PutRecord writes r's state, result and error, keeping the progress of a
// record already stored, and wakes WaitRecord callers when r is terminal.
// A zero UpdatedAt is now. A ttl above zero sets the record's expiry; zero
// keeps the current one.
func (t *Transport) PutRecord(ctx context.Context, r *runtime.Record, ttl time.Duration) error {
	if r == nil || r.ID == "" {
		return errors.New("taskgen: redis: put record: no task ID")
	}
	if t.closed.Load() {
		return runtime.ErrClosed
	}
	if r.State.Terminal() {
		t.progressed.remove(r.ID)
	}
	if err := t.batch.do(ctx, t.recordCall(r, ttl, true)); err != nil {
		return fmt.Errorf("taskgen: redis: put record of task %q: %w", r.ID, err)
	}
	return nil
}

// PutRecordUnlessTerminal writes r as PutRecord does unless the task's
// record is terminal, in one script run, and reports whether it wrote. A
// record this version cannot decode is kept too. Unlike PutRecord, it
// gives a progress the record's expiry whatever r's state.
func (t *Transport) PutRecordUnlessTerminal(ctx context.Context, r *runtime.Record, ttl time.Duration) (bool, error) {
	if r == nil || r.ID == "" {
		return false, errors.New("taskgen: redis: put record: no task ID")
	}
	if t.closed.Load() {
		return false, runtime.ErrClosed
	}
	at := r.UpdatedAt
	if at.IsZero() {
		at = time.Now()
	}
	args := putRecordArgs(r, ttl, t.keys.recordChannel(r.ID), encodeRecord(r, at), at)
	c := &call{
		script: putLiveRecordScript,
		keys:   []string{t.keys.record(r.ID), t.keys.progress(r.ID)},
		args:   append(args, terminalStates...),
	}
	if err := t.batch.do(ctx, c); err != nil {
		return false, fmt.Errorf("taskgen: redis: put record of task %q: %w", r.ID, err)
	}
	n, ok := c.val.(int64)
	if !ok {
		return false, fmt.Errorf("taskgen: redis: put record of task %q: unexpected reply %v", r.ID, c.val)
	}
	if n == 1 && r.State.Terminal() {
		t.progressed.remove(r.ID)
	}
	return n == 1, nil
}

// recordCall is the batcher call that writes r. withProgress says whether
// the task may have progress, whose expiry a terminal write extends.
func (t *Transport) recordCall(r *runtime.Record, ttl time.Duration, withProgress bool) *call {
	at := r.UpdatedAt
	if at.IsZero() {
		at = time.Now()
	}
	key, channel := t.keys.record(r.ID), t.keys.recordChannel(r.ID)
	val := encodeRecord(r, at)
	// On one server a pipeline runs in order, so a terminal write can be
	// plain commands: SET, then PEXPIRE of the progress if it may have
	// some, then PUBLISH.
	if r.State.Terminal() && r.Progress == "" && len(r.ProgressMeta) == 0 && !t.cluster && ttl > 0 {
		if !withProgress {
			return &call{build: func(p goredis.Pipeliner) []goredis.Cmder {
				ctx := context.Background()
				return []goredis.Cmder{p.Set(ctx, key, val, ttl), p.Publish(ctx, channel, "done")}
			}}
		}
		progress := t.keys.progress(r.ID)
		return &call{build: func(p goredis.Pipeliner) []goredis.Cmder {
			ctx := context.Background()
			return []goredis.Cmder{p.Set(ctx, key, val, ttl), p.PExpire(ctx, progress, ttl), p.Publish(ctx, channel, "done")}
		}}
	}
	progress := t.keys.progress(r.ID)
	if r.State.Terminal() || r.Progress != "" || len(r.ProgressMeta) > 0 {
		return &call{
			script: putRecordScript,
			keys:   []string{key, progress},
			args:   putRecordArgs(r, ttl, channel, val, at),
		}
	}
	// The progress keeps the expiry SetProgress gave it; the terminal
	// write above extends it to the record's.
	return &call{build: func(p goredis.Pipeliner) []goredis.Cmder {
		ttl := ttl
		if ttl <= 0 {
			ttl = goredis.KeepTTL
		}
		return []goredis.Cmder{p.Set(context.Background(), key, val, ttl)}
	}}
}

// putRecordArgs are putRecordScript's arguments for r, encoded as val and
// written at.
func putRecordArgs(r *runtime.Record, ttl time.Duration, channel string, val []byte, at time.Time) []any {
	terminal := "0"
	if r.State.Terminal() {
		terminal = "1"
	}
	return []any{channel, millis(ttl), terminal, val, r.Progress, nonNil(r.ProgressMeta), at.UnixNano()}
}

// progressSet holds the IDs of tasks whose progress a transport wrote,
// until their delivery is settled: a later delivery of the task counts as
// one that may have progress anyway. Should it fill up (handlers that
// report progress after their task was settled), it stops answering:
// every task may then have progress.
type progressSet struct {
	ids  sync.Map
	n    atomic.Int64
	full atomic.Bool
}

// maxProgressed bounds a progressSet.
const maxProgressed = 1 << 16

func (s *progressSet) add(id string) {
	if s.full.Load() {
		return
	}
	if _, loaded := s.ids.LoadOrStore(id, struct{}{}); !loaded && s.n.Add(1) > maxProgressed {
		s.full.Store(true)
		s.ids.Clear()
	}
}

// remove forgets id and reports whether the set held it, or is full.
func (s *progressSet) remove(id string) bool {
	if _, ok := s.ids.LoadAndDelete(id); ok {
		s.n.Add(-1)
		return true
	}
	return s.full.Load()
}

// forgetProgress forgets that this transport wrote progress of d's task,
// which is settled otherwise than by AckRecord.
func (t *Transport) forgetProgress(d *runtime.Delivery) {
	if l, ok := d.Lease.(*lease); ok {
		t.progressed.remove(l.id)
	}
}

// mayHaveProgress reports whether d's task may have progress when its
// record r becomes terminal: if this transport wrote some, or if an earlier
// delivery or attempt could have. A first delivery of a first attempt has
// progress only from its own handler, which writes it through the worker's
// store, this transport. It forgets r's ID.
//
// It can be wrong about a dead letter requeued with the attempts of its
// first run, or a handler that still reports progress while another
// delivery of its task finishes: that progress may then expire before the
// record, never the other way round.
func (t *Transport) mayHaveProgress(d *runtime.Delivery, r *runtime.Record) bool {
	wrote := t.progressed.remove(r.ID)
	return wrote || d.Deliveries != 1 || r.Attempt != 0
}

// setProgressScript records progress, creating a pending record if needed.
//
//	KEYS[1] record, KEYS[2] progress
//	ARGV[1] progress, ARGV[2] meta, ARGV[3] at (Unix ns), ARGV[4] ttl (ms),
//	ARGV[5] the encoded pending record
//	returns 1
var setProgressScript = goredis.NewScript(`
local ttl = tonumber(ARGV[4])
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[5]) end
redis.call('HSET', KEYS[2], 'progress', ARGV[1], 'meta', ARGV[2], 'at', ARGV[3])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return 1
`)

// SetProgress records a task's progress, creating a pending record when
// there is none; ttl as for PutRecord.
func (t *Transport) SetProgress(ctx context.Context, id, state string, meta []byte, ttl time.Duration) error {
	if id == "" {
		return errors.New("taskgen: redis: set progress: no task ID")
	}
	if t.closed.Load() {
		return runtime.ErrClosed
	}
	t.progressed.add(id)
	now := time.Now()
	pending := encodeRecord(&runtime.Record{ID: id, State: runtime.StatePending}, now)
	c := &call{
		script: setProgressScript,
		keys:   []string{t.keys.record(id), t.keys.progress(id)},
		args:   []any{state, nonNil(meta), now.UnixNano(), millis(ttl), pending},
	}
	if err := t.batch.do(ctx, c); err != nil {
		return fmt.Errorf("taskgen: redis: set progress of task %q: %w", id, err)
	}
	return nil
}

// GetRecord returns task id's record, or runtime.ErrNotFound.
func (t *Transport) GetRecord(ctx context.Context, id string) (*runtime.Record, error) {
	if t.closed.Load() {
		return nil, runtime.ErrClosed
	}
	key, progress := t.keys.record(id), t.keys.progress(id)
	var (
		rec  *goredis.StringCmd
		prog *goredis.MapStringStringCmd
	)
	c := &call{build: func(p goredis.Pipeliner) []goredis.Cmder {
		rec, prog = p.Get(ctx, key), p.HGetAll(ctx, progress)
		return []goredis.Cmder{rec, prog}
	}}
	if err := t.batch.do(ctx, c); err != nil {
		return nil, fmt.Errorf("taskgen: redis: get record of task %q: %w", id, err)
	}
	if errors.Is(rec.Err(), goredis.Nil) {
		return nil, fmt.Errorf("%w: record of task %q", runtime.ErrNotFound, id)
	}
	r := &runtime.Record{ID: id}
	b, _ := rec.Bytes()
	if err := decodeRecord(b, r); err != nil {
		return nil, fmt.Errorf("taskgen: redis: get record of task %q: %w", id, err)
	}
	m := prog.Val()
	r.Progress = m["progress"]
	if v := m["meta"]; v != "" {
		r.ProgressMeta = []byte(v)
	}
	if ns, err := strconv.ParseInt(m["at"], 10, 64); err == nil && ns > r.UpdatedAt.UnixNano() {
		r.UpdatedAt = time.Unix(0, ns)
	}
	return r, nil
}

// WaitRecord blocks until task id's record is terminal, or ctx is done. It
// subscribes to the record's channel, then reads the record, and reads it
// again only when PutRecord publishes a terminal state: no polling.
func (t *Transport) WaitRecord(ctx context.Context, id string) (*runtime.Record, error) {
	if r, err := t.GetRecord(ctx, id); err == nil && r.State.Terminal() {
		return r, nil
	} else if err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return nil, err
	}
	channels := []string{t.keys.recordChannel(id)}
	if err := t.notes.watch(ctx, channels, false); err != nil {
		return nil, err
	}
	defer t.notes.unwatch(channels)
	var gens []uint64
	for {
		gens = t.notes.gens(channels, gens)
		r, err := t.GetRecord(ctx, id)
		switch {
		case err == nil && r.State.Terminal():
			return r, nil
		case err != nil && !errors.Is(err, runtime.ErrNotFound):
			return nil, err
		}
		if err := t.notes.wait(ctx, channels, gens, 0); err != nil {
			return nil, err
		}
	}
}

// Put stores value under key for ttl (zero: no expiry).
func (t *Transport) Put(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if t.closed.Load() {
		return runtime.ErrClosed
	}
	k := t.keys.kv(key)
	c := &call{build: func(p goredis.Pipeliner) []goredis.Cmder {
		return []goredis.Cmder{p.Set(ctx, k, nonNil(value), ttl)}
	}}
	if err := t.batch.do(ctx, c); err != nil {
		return fmt.Errorf("taskgen: redis: put key %q: %w", key, err)
	}
	return nil
}

// PutNX stores value under key only if key is absent, and reports whether
// it did.
func (t *Transport) PutNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if t.closed.Load() {
		return false, runtime.ErrClosed
	}
	k := t.keys.kv(key)
	var cmd *goredis.BoolCmd
	c := &call{build: func(p goredis.Pipeliner) []goredis.Cmder {
		cmd = p.SetNX(ctx, k, nonNil(value), ttl)
		return []goredis.Cmder{cmd}
	}}
	if err := t.batch.do(ctx, c); err != nil {
		return false, fmt.Errorf("taskgen: redis: put key %q if absent: %w", key, err)
	}
	return cmd.Val(), nil
}

// Get returns the value under key, or runtime.ErrNotFound.
func (t *Transport) Get(ctx context.Context, key string) ([]byte, error) {
	if t.closed.Load() {
		return nil, runtime.ErrClosed
	}
	k := t.keys.kv(key)
	var cmd *goredis.StringCmd
	c := &call{build: func(p goredis.Pipeliner) []goredis.Cmder {
		cmd = p.Get(ctx, k)
		return []goredis.Cmder{cmd}
	}}
	if err := t.batch.do(ctx, c); err != nil {
		return nil, fmt.Errorf("taskgen: redis: get key %q: %w", key, err)
	}
	if errors.Is(cmd.Err(), goredis.Nil) {
		return nil, fmt.Errorf("%w: key %q", runtime.ErrNotFound, key)
	}
	return []byte(cmd.Val()), nil
}

// Delete removes key; a missing key is not an error.
func (t *Transport) Delete(ctx context.Context, key string) error {
	if t.closed.Load() {
		return runtime.ErrClosed
	}
	k := t.keys.kv(key)
	c := &call{build: func(p goredis.Pipeliner) []goredis.Cmder {
		return []goredis.Cmder{p.Del(ctx, k)}
	}}
	if err := t.batch.do(ctx, c); err != nil {
		return fmt.Errorf("taskgen: redis: delete key %q: %w", key, err)
	}
	return nil
}

// compareScript swaps or deletes a key that holds an expected value.
//
//	KEYS[1] key
//	ARGV[1] the value expected, ARGV[2] "swap" or "delete", ARGV[3] the
//	new value, ARGV[4] its expiry (ms; 0 is none)
//	returns 1 done, 0 the key does not hold the value expected
var compareScript = goredis.NewScript(`
-- pcall: a key of another type (a set) does not hold the value either.
local v = redis.pcall('GET', KEYS[1])
if type(v) ~= 'string' or v ~= ARGV[1] then return 0 end
if ARGV[2] == 'delete' then
  redis.call('DEL', KEYS[1])
elseif tonumber(ARGV[4]) > 0 then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[3])
end
return 1
`)

// CompareAndSwap stores value under key for ttl (zero: no expiry) only if
// key holds old, and reports whether it did.
func (t *Transport) CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	ok, err := t.compare(ctx, key, old, "swap", value, ttl)
	if err != nil {
		return false, fmt.Errorf("taskgen: redis: compare and swap key %q: %w", key, err)
	}
	return ok, nil
}

// CompareAndDelete removes key only if it holds old, and reports whether
// it did.
func (t *Transport) CompareAndDelete(ctx context.Context, key string, old []byte) (bool, error) {
	ok, err := t.compare(ctx, key, old, "delete", nil, 0)
	if err != nil {
		return false, fmt.Errorf("taskgen: redis: compare and delete key %q: %w", key, err)
	}
	return ok, nil
}

func (t *Transport) compare(ctx context.Context, key string, old []byte, op string, value []byte, ttl time.Duration) (bool, error) {
	if t.closed.Load() {
		return false, runtime.ErrClosed
	}
	c := &call{script: compareScript, keys: []string{t.keys.kv(key)}, args: []any{nonNil(old), op, nonNil(value), millis(ttl)}}
	if err := t.batch.do(ctx, c); err != nil {
		return false, err
	}
	n, _ := c.val.(int64)
	return n == 1, nil
}

// incrScript adds to a counter and sets its expiry in one step.
//
//	KEYS[1] key
//	ARGV[1] delta, ARGV[2] ttl (ms; 0 keeps the current expiry)
//	returns the new value
var incrScript = goredis.NewScript(`
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return n
`)

// Incr adds delta to the integer under key (absent is 0), sets its expiry
// when ttl > 0, and returns the new value. A value that is not a decimal
// integer is an error.
func (t *Transport) Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	if t.closed.Load() {
		return 0, runtime.ErrClosed
	}
	c := &call{script: incrScript, keys: []string{t.keys.kv(key)}, args: []any{delta, millis(ttl)}}
	if err := t.batch.do(ctx, c); err != nil {
		return 0, fmt.Errorf("taskgen: redis: incr key %q: %w", key, err)
	}
	n, _ := c.val.(int64)
	return n, nil
}

// millis converts a ttl to whole milliseconds, rounding up, so that a
// positive ttl never becomes "no expiry".
func millis(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
