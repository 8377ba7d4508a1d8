package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	goredis "github.com/redis/go-redis/v9"

	"github.com/taskgen/taskgen/runtime"
)

// Batching: every short operation (publish, ack, nack, extend, dead letter,
// record and key writes and reads) is a call that joins a queue. A caller
// that finds fewer than maxLeaders pipelines in flight leads: it takes every
// call waiting and sends them in one pipeline, its own among them, and calls
// of the same script on the same queue are merged into one run: the acks of
// one queue, say. Others wait for a leader to take their call. An idle
// transport thus sends a call at once from its caller's goroutine, with no
// hand-off, and under load concurrent callers share round trips and script
// runs.
const (
	// maxLeaders bounds the pipelines in flight at once.
	maxLeaders = 4
	// maxBatch bounds the calls of one pipeline, and maxItems the items of
	// one merged script run, so that no single run blocks Redis for long.
	maxBatch = 1024
	maxItems = 256
	// maxSent bounds the calls sent without waiting (PublishAsync) that
	// are not finished: a producer that outruns Redis waits for room.
	maxSent = maxLeaders * maxBatch
)

// Phases order the runs of one pipeline: store writes go before queue
// operations.
const (
	phaseStore = iota
	phaseQueue
)

// call is one operation: a script run, or plain commands built by build.
type call struct {
	script *goredis.Script
	keys   []string
	// head is the leading ARGV, equal for every call merged with this one;
	// args are this call's own arguments.
	head, args []any
	// items is how many results the script returns for args, one per
	// item; zero means the call is not merged and val is the whole reply.
	items int
	phase int
	// fresh: a publishNowScript call whose ID is fresh. A run of such
	// calls only is a transaction of plain commands (queueTx).
	fresh bool
	// sent: the call holds a slot of batcher.sent until it finishes.
	sent bool
	// build queues plain commands; cmds are they, with their results.
	build func(p goredis.Pipeliner) []goredis.Cmder
	// next is sent once this call has succeeded, and fails with
	// errNotSent otherwise: the ack of a task after its record write.
	next *call

	// Results, valid once done is closed.
	reply []any // a merged call's results
	val   any   // an unmerged script call's reply
	cmds  []goredis.Cmder
	err   error
	done  chan struct{}
}

type batcher struct {
	client goredis.UniversalClient

	mu      sync.Mutex
	queue   []*call // waiting for a leader
	leaders int     // pipelines in flight, at most maxLeaders
	closed  bool
	// wg counts the leaders and the notices they publish; close waits for
	// them, and the leaders finish every call queued before it.
	wg sync.WaitGroup
	// sent holds a slot for each call sent without waiting.
	sent chan struct{}
}

func newBatcher(client goredis.UniversalClient) *batcher {
	return &batcher{client: client, sent: make(chan struct{}, maxSent)}
}

// close returns once every call sent has finished.
func (b *batcher) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.wg.Wait()
}

// do sends c (and c.next) and waits for the result. When fewer than
// maxLeaders pipelines are in flight, the caller sends them itself. A call
// that was sent is finished even if ctx ends meanwhile: settling a task
// must not be left half known.
func (b *batcher) do(ctx context.Context, c *call) error {
	batch, err := b.enter(ctx, c)
	if err != nil {
		return err
	}
	if batch != nil {
		b.exec(batch)
		b.handOff()
	}
	return c.result()
}

// send hands c (and c.next) to a leader goroutine and returns; c.result
// waits for its outcome. While maxSent calls sent so are unfinished, it
// waits for one to finish, or for ctx to end.
func (b *batcher) send(ctx context.Context, c *call) error {
	select {
	case b.sent <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	c.sent = true
	batch, err := b.enter(ctx, c)
	if err != nil {
		<-b.sent
	}
	if batch != nil {
		go b.lead(batch)
	}
	return err
}

// enter queues c. If the caller is to lead, it returns the batch to send:
// every call waiting, c among them.
func (b *batcher) enter(ctx context.Context, c *call) ([]*call, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for x := c; x != nil; x = x.next {
		x.done = make(chan struct{})
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, runtime.ErrClosed
	}
	b.queue = append(b.queue, c)
	if b.leaders == maxLeaders {
		return nil, nil
	}
	b.leaders++
	b.wg.Add(1)
	return b.take(), nil
}

// take returns up to maxBatch waiting calls, or nil; b.mu is held.
func (b *batcher) take() []*call {
	if len(b.queue) == 0 {
		return nil
	}
	n := min(len(b.queue), maxBatch)
	batch := b.queue[:n:n]
	b.queue = b.queue[n:]
	if len(b.queue) == 0 {
		b.queue = nil
	}
	return batch
}

// handOff ends a caller's lead: the calls queued meanwhile go to a new
// leader goroutine, so that the caller returns while they are sent.
func (b *batcher) handOff() {
	b.mu.Lock()
	batch := b.take()
	if batch == nil {
		b.leaders--
		b.mu.Unlock()
		b.wg.Done()
		return
	}
	b.mu.Unlock()
	go b.lead(batch)
}

// lead sends batch, and then the calls queued meanwhile, until none wait.
func (b *batcher) lead(batch []*call) {
	for batch != nil {
		b.exec(batch)
		b.mu.Lock()
		batch = b.take()
		if batch == nil {
			b.leaders--
		}
		b.mu.Unlock()
	}
	b.wg.Done()
}

// result waits for c (and c.next) to finish, and returns their errors.
func (c *call) result() error {
	var errs []error
	for x := c; x != nil; x = x.next {
		<-x.done
		errs = append(errs, x.err)
	}
	return errors.Join(errs...)
}

// run is one script run in a pipeline: merged calls, or a single one.
type run struct {
	script *goredis.Script
	keys   []string
	args   []any
	calls  []*call
	items  int
	// fresh: a transaction (queueTx) of the pairs args[heads:], not a
	// script run.
	fresh bool
	heads int
	cmd   *goredis.Cmd
}

// errNotSent fails a call that follows another (call.next) which failed.
var errNotSent = errors.New("not sent, as the write before it failed")

// exec sends batch, and then, in a second pipeline, the calls that follow
// those that succeeded: an ack goes only once its task's record is
// written. A pipeline does not stop at a failed command (Redis refusing a
// write for memory, say), and on Redis Cluster its commands go to
// several nodes.
func (b *batcher) exec(batch []*call) {
	defer func(first []*call) {
		for _, c := range first {
			if c.sent {
				<-b.sent
			}
		}
	}(batch)
	for len(batch) > 0 {
		b.pipeline(batch)
		var after []*call
		for _, c := range batch {
			switch {
			case c.next == nil:
			case c.err == nil:
				after = append(after, c.next)
			default:
				for x := c.next; x != nil; x = x.next {
					x.err = errNotSent
					close(x.done)
				}
			}
		}
		batch = after
	}
}

// pipeline sends the calls of batch, not those that follow them, in one
// pipeline.
func (b *batcher) pipeline(batch []*call) {
	ctx := context.Background()
	var (
		runs  [2][]*run
		plain [2][]*call
		open  = make(map[mergeKey]*run) // runs still taking items
	)
	// scripted: merge keys with a call that is not fresh. Fresh calls of
	// such a key run in its script too, so that a run the server lost the
	// script of, and which is sent again after the pipeline, does not
	// fall behind a later one of its list.
	var scripted map[mergeKey]bool
	for _, c := range batch {
		if c.fresh {
			scripted = make(map[mergeKey]bool)
			break
		}
	}
	if scripted != nil {
		for _, c := range batch {
			if c.items > 0 && !c.fresh {
				scripted[mergeKey{c.phase, c.script, c.keys[0]}] = true
			}
		}
	}
	add := func(c *call) {
		switch {
		case c.build != nil:
			plain[c.phase] = append(plain[c.phase], c)
		case c.items > 0:
			k := mergeKey{c.phase, c.script, c.keys[0]}
			r := open[k]
			if r == nil || r.items+c.items > maxItems {
				r = &run{script: c.script, keys: c.keys, args: append(make([]any, 0, len(c.head)+8*len(c.args)), c.head...)}
				r.fresh, r.heads = c.fresh && !scripted[k], len(c.head)
				open[k] = r
				runs[c.phase] = append(runs[c.phase], r)
			}
			r.args = append(r.args, c.args...)
			r.calls = append(r.calls, c)
			r.items += c.items
		default:
			args := append(c.head[:len(c.head):len(c.head)], c.args...)
			runs[c.phase] = append(runs[c.phase], &run{script: c.script, keys: c.keys, args: args, calls: []*call{c}})
		}
	}
	for _, c := range batch {
		add(c)
	}

	pipe := b.client.Pipeline()
	for phase := range runs {
		for _, r := range runs[phase] {
			if r.fresh {
				r.cmd = queueTx(ctx, pipe, r.keys, r.args[r.heads:], "")
				continue
			}
			r.cmd = pipe.EvalSha(ctx, r.script.Hash(), r.keys, r.args...)
		}
		for _, c := range plain[phase] {
			c.cmds = c.build(pipe)
		}
	}
	_, _ = pipe.Exec(ctx) // each command carries its own error

	for phase := range runs {
		for _, r := range runs[phase] {
			if !r.fresh && isNoScript(r.cmd.Err()) {
				// The server lost its script cache (a restart or a
				// failover): EVAL sends the source and caches it again.
				r.cmd = r.script.Eval(ctx, b.client, r.keys, r.args...)
			}
			r.finish()
		}
		for _, c := range plain[phase] {
			for _, cmd := range c.cmds {
				if err := cmd.Err(); err != nil && !errors.Is(err, goredis.Nil) && c.err == nil {
					c.err = err
				}
			}
			close(c.done)
		}
	}
	b.notify(runs)
}

// notify publishes the wake notices of the transactions of runs that
// pushed onto an empty ready list, as publishNowScript does: consumers
// sleep only on empty queues. The transaction cannot tell, so the notice
// follows it, from a goroutine of its own, so that the runs' callers need
// not wait for it; a consumer that finds the list empty waits for the
// notice.
func (b *batcher) notify(runs [2][]*run) {
	var channels []any
	for _, rs := range runs {
		for _, r := range rs {
			if !r.fresh {
				continue
			}
			if n, err := txResult(r.cmd, 2); err == nil && n == int64(r.items) && !slices.Contains(channels, r.args[0]) {
				channels = append(channels, r.args[0])
			}
		}
	}
	if len(channels) == 0 {
		return
	}
	b.wg.Add(1) // a leader holds the count above zero
	go func() {
		defer b.wg.Done()
		ctx := context.Background()
		pipe := b.client.Pipeline()
		for _, ch := range channels {
			pipe.Publish(ctx, ch.(string), "ready")
		}
		_, _ = pipe.Exec(ctx) // a lost notice costs a consumer its wait's bound
	}()
}

// ones is the reply of a merged call whose items all succeeded, when its
// script says so with their number in place of a 1 for each; callers only
// read it.
var ones = func() []any {
	s := make([]any, maxItems)
	for i := range s {
		s[i] = int64(1)
	}
	return s
}()

// mergeKey says which calls may share a script run: the same script on
// the same queue (its first key names it), in the same phase.
type mergeKey struct {
	phase  int
	script *goredis.Script
	key    string
}

// finish hands each call of r its part of the reply.
func (r *run) finish() {
	defer func() {
		for _, c := range r.calls {
			close(c.done)
		}
	}()
	if r.fresh {
		_, err := txResult(r.cmd, 2)
		for _, c := range r.calls {
			c.err = err
			if err == nil {
				c.reply = ones[:c.items:c.items]
			}
		}
		return
	}
	val, err := r.cmd.Result()
	if err != nil {
		for _, c := range r.calls {
			c.err = err
		}
		return
	}
	if r.calls[0].items == 0 {
		r.calls[0].val = val
		return
	}
	if n, ok := val.(int64); ok && n == int64(r.items) {
		// Every item succeeded: the script's short reply for 1 each.
		for _, c := range r.calls {
			c.reply = ones[:c.items:c.items]
		}
		return
	}
	reply, ok := val.([]any)
	if !ok || len(reply) != r.items {
		err := fmt.Errorf("script returned %T of %d results for %d items", val, len(reply), r.items)
		for _, c := range r.calls {
			c.err = err
		}
		return
	}
	for _, c := range r.calls {
		c.reply, reply = reply[:c.items:c.items], reply[c.items:]
	}
}

func isNoScript(err error) bool {
	return err != nil && (errors.Is(err, goredis.ErrNoScript) || goredis.HasErrorPrefix(err, "NOSCRIPT"))
}
