package chaos

import (
	"context"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// keys names the Redis keys of one test's records, all under its prefix.
type keys struct{ base string }

func newKeys(prefix string) keys { return keys{base: prefix + ":chaos:"} }

func (k keys) done() string    { return k.base + "done" }    // bitmap: task n completed at least once
func (k keys) dup() string     { return k.base + "dup" }     // hash n → completed runs beyond the first
func (k keys) runs() string    { return k.base + "runs" }    // counter: completed runs in all
func (k keys) byPID() string   { return k.base + "pid" }     // hash pid → completed runs of that process
func (k keys) acked() string   { return k.base + "acked" }   // bitmap: task n acked at least once
func (k keys) ackDup() string  { return k.base + "ackdup" }  // hash n → acks beyond the first
func (k keys) refused() string { return k.base + "refused" } // hash n → stale acks refused (ErrLeaseLost)
func (k keys) early() string   { return k.base + "early" }   // hash n → runs started before the ETA
func (k keys) late() string    { return k.base + "late" }    // max start lateness past the ETA, ns
func (k keys) panics() string  { return k.base + "panics" }  // counter: runs of PanicTask

// once marks bit n of a bitmap and counts a repeat in a hash; it also
// bumps a counter and a per-process count when given.
var once = goredis.NewScript(`
if redis.call('SETBIT', KEYS[1], ARGV[1], 1) == 1 then
	redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
end
if KEYS[3] then redis.call('INCR', KEYS[3]) end
if KEYS[4] then redis.call('HINCRBY', KEYS[4], ARGV[2], 1) end
return 1
`)

// maxOf keeps the largest value written to a key.
var maxOf = goredis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) > cur then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
`)

// Recorder writes what worker processes observe into Redis, durably
// enough for the test: each write is acknowledged before the handler
// returns, so a run recorded complete did complete.
type Recorder struct {
	rdb  goredis.UniversalClient
	keys keys
	pid  string
}

// NewRecorder returns a recorder writing to rdb under prefix, as process
// pid.
func NewRecorder(rdb goredis.UniversalClient, prefix string, pid int) *Recorder {
	return &Recorder{rdb: rdb, keys: newKeys(prefix), pid: strconv.Itoa(pid)}
}

// Done records a completed run of task n.
func (r *Recorder) Done(ctx context.Context, n int) error {
	k := r.keys
	if err := once.Run(ctx, r.rdb, []string{k.done(), k.dup(), k.runs(), k.byPID()}, n, r.pid).Err(); err != nil {
		return fmt.Errorf("recording the completion of task %d: %w", n, err)
	}
	return nil
}

// Acked records that the ack of task n succeeded.
func (r *Recorder) Acked(ctx context.Context, n int) error {
	return once.Run(ctx, r.rdb, []string{r.keys.acked(), r.keys.ackDup()}, n, r.pid).Err()
}

// Refused records that an ack of task n was refused as stale.
func (r *Recorder) Refused(ctx context.Context, n int) error {
	return r.rdb.HIncrBy(ctx, r.keys.refused(), strconv.Itoa(n), 1).Err()
}

// Started records the start of task n against its ETA: a start before it
// is counted early, and the largest lateness is kept.
func (r *Recorder) Started(ctx context.Context, n int, eta, now time.Time) error {
	d := now.Sub(eta)
	if d < 0 {
		return r.rdb.HIncrBy(ctx, r.keys.early(), strconv.Itoa(n), 1).Err()
	}
	return maxOf.Run(ctx, r.rdb, []string{r.keys.late()}, int64(d)).Err()
}

// Panicked counts a run of PanicTask.
func (r *Recorder) Panicked(ctx context.Context) error {
	return r.rdb.Incr(ctx, r.keys.panics()).Err()
}
