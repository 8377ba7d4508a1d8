package runtime

import (
	"context"
	"sync/atomic"
	"time"
)

// opContexts hands out the contexts that bound a worker's settling calls
// (opTimeout). The tasks that settle within opShare of each other share
// one, so that a busy worker starts one timer per opShare rather than one
// per task; each call still gets at least opTimeout.
type opContexts struct {
	cur atomic.Pointer[sharedOpCtx]
}

type sharedOpCtx struct {
	ctx    context.Context
	cancel context.CancelFunc // never called: the deadline ends ctx
	until  time.Time          // handed out until then
}

const opShare = time.Second

// get returns a context whose deadline is at least opTimeout away.
func (o *opContexts) get() context.Context {
	now := time.Now()
	if c := o.cur.Load(); c != nil && now.Before(c.until) {
		return c.ctx
	}
	ctx, cancel := context.WithDeadline(context.Background(), now.Add(opTimeout+opShare))
	o.cur.Store(&sharedOpCtx{ctx: ctx, cancel: cancel, until: now.Add(opShare)})
	return ctx
}
