package redis

import (
	"context"
	"errors"
	"fmt"
	"sync"

	goredis "github.com/redis/go-redis/v9"

	"github.com/taskgen/taskgen/runtime"
)

// Batching: every short operation (publish, ack, nack, extend, dead letter,
// record and key writes and reads) is a call handed to a few batcher
// goroutines. Each takes every call waiting when it is free and sends them
// in one pipeline, and calls of the same script on the same queue are
// merged into one run: the acks of one queue, say. An idle transport sends
// a call at once, so nothing waits for a batch to fill; under load,
// concurrent handlers share round trips and script runs.
const (
	batchLoops = 2
	// maxBatch bounds the calls of one pipeline, and maxItems the items of
	// one merged script run, so that no single run blocks Redis for long.
	maxBatch = 1024
	maxItems = 256
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
	in     chan *call
	// mu orders sends against close: a call is sent under the read lock,
	// and close takes the write lock before it stops the loops, which
	// then finish every call sent.
	mu     sync.RWMutex
	closed bool
	stop   chan struct{}
	wg     sync.WaitGroup
}

func newBatcher(client goredis.UniversalClient) *batcher {
	b := &batcher{client: client, in: make(chan *call, maxBatch), stop: make(chan struct{})}
	b.wg.Add(batchLoops)
	for range batchLoops {
		go b.loop()
	}
	return b
}

// close stops the loops once they have finished the calls sent.
func (b *batcher) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	close(b.stop)
	b.wg.Wait()
}

// do sends c (and c.next) and waits for the result. A call that was sent is
// finished even if ctx ends meanwhile: settling a task must not be left
// half known.
func (b *batcher) do(ctx context.Context, c *call) error {
	if err := b.send(ctx, c); err != nil {
		return err
	}
	return c.result()
}

// send hands c (and c.next) to the loops; c.result waits for its outcome.
func (b *batcher) send(ctx context.Context, c *call) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for x := c; x != nil; x = x.next {
		x.done = make(chan struct{})
	}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return runtime.ErrClosed
	}
	b.in <- c // the loops keep taking calls until close
	b.mu.RUnlock()
	return nil
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

func (b *batcher) loop() {
	defer b.wg.Done()
	batch := make([]*call, 0, 64)
	for {
		select {
		case c := <-b.in:
			batch = append(batch[:0], c)
		case <-b.stop:
			// Sends stopped before stop closed; finish what is queued.
			for {
				select {
				case c := <-b.in:
					b.exec([]*call{c})
				default:
					return
				}
			}
		}
	more:
		for len(batch) < maxBatch {
			select {
			case c := <-b.in:
				batch = append(batch, c)
			default:
				break more
			}
		}
		b.exec(batch)
		clear(batch)
	}
}

// run is one script run in a pipeline: merged calls, or a single one.
type run struct {
	script *goredis.Script
	keys   []string
	args   []any
	calls  []*call
	items  int
	cmd    *goredis.Cmd
}

// errNotSent fails a call that follows another (call.next) which failed.
var errNotSent = errors.New("not sent, as the write before it failed")

// exec sends batch, and then, in a second pipeline, the calls that follow
// those that succeeded: an ack goes only once its task's record is
// written. A pipeline does not stop at a failed command (Redis refusing a
// write for memory, say), and on Redis Cluster its commands go to
// several nodes.
func (b *batcher) exec(batch []*call) {
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
	add := func(c *call) {
		switch {
		case c.build != nil:
			plain[c.phase] = append(plain[c.phase], c)
		case c.items > 0:
			k := mergeKey{c.phase, c.script, c.keys[0]}
			r := open[k]
			if r == nil || r.items+c.items > maxItems {
				r = &run{script: c.script, keys: c.keys, args: append(make([]any, 0, len(c.head)+8*len(c.args)), c.head...)}
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
			r.cmd = pipe.EvalSha(ctx, r.script.Hash(), r.keys, r.args...)
		}
		for _, c := range plain[phase] {
			c.cmds = c.build(pipe)
		}
	}
	_, _ = pipe.Exec(ctx) // each command carries its own error

	for phase := range runs {
		for _, r := range runs[phase] {
			if isNoScript(r.cmd.Err()) {
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
