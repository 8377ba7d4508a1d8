package tasks

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Thumbnail renders a thumbnail of a tenant's image through an image
// service that takes at most 20 calls a second from the whole fleet: the
// rate holds across every worker, and a task over it waits for its turn
// instead of failing. Each tenant gets at most 2 renders at once
// (concurrency=2, applied per tenant by enqueueing with
// runtime.ConcurrencyKey(tenant)), so one busy tenant cannot take every
// worker.
//
//taskgen:task queue=images rate=20/s concurrency=2
func Thumbnail(ctx context.Context, tenant, imageID string, width int) (string, error) {
	Renders.start(tenant)
	defer Renders.end(tenant)
	select {
	case <-time.After(100 * time.Millisecond): // the render
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return fmt.Sprintf("%s/%s@%dw.png", tenant, imageID, width), nil
}

// Renders counts the renders Thumbnail runs at once, per tenant.
var Renders = &renderGauge{running: map[string]int{}, peak: map[string]int{}}

type renderGauge struct {
	mu            sync.Mutex
	running, peak map[string]int
}

func (g *renderGauge) start(tenant string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.running[tenant]++
	g.peak[tenant] = max(g.peak[tenant], g.running[tenant])
}

func (g *renderGauge) end(tenant string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.running[tenant]--
}

// Peak returns the most renders of tenant that ran at once.
func (g *renderGauge) Peak(tenant string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.peak[tenant]
}
