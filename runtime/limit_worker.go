package runtime

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"time"
)

const (
	// rateHeader marks a task that holds a reserved rate token: it was
	// deferred to the token's time and runs without taking another.
	rateHeader = "taskgen.rate"
	// rateHorizon is how far ahead a worker reserves rate tokens. A new
	// rate applies to every token not yet reserved, so a change takes
	// effect within rateHorizon plus rateRefresh.
	rateHorizon = 500 * time.Millisecond
	// rateRefresh is how long a worker uses a rate set with SetRateLimit
	// before it reads it again.
	rateRefresh = 500 * time.Millisecond
	// minRateSpread and maxRateSpread bound how far ahead deferred tasks
	// are given places in a rate's order; past it they come back at a
	// random time within the spread and ask again.
	minRateSpread = 5 * time.Second
	maxRateSpread = time.Hour
	// slotRetry bounds the deferral of a task whose concurrency limit is
	// full: it comes back at a random time up to slotRetry later.
	slotRetry = time.Second
)

// limitState is a worker's view of the global limits: the rates set at
// runtime, read from the store at most every rateRefresh.
type limitState struct {
	mu    sync.Mutex
	rates map[string]*rateSet
}

type rateSet struct {
	rate Rate // zero: none set; the annotation's applies
	at   time.Time
}

// checkLimitsLocked fails fast when a registered task has a global limit
// that the worker's store cannot keep. The caller holds w.mu.
func (w *Worker) checkLimitsLocked() error {
	if _, ok := w.cfg.Store.(Limiter); ok {
		return nil
	}
	for name, r := range w.handlers {
		if r.def.Rate.N > 0 || r.def.Concurrency > 0 {
			return fmt.Errorf("taskgen: task %s on queue %q has a global limit (rate %v, concurrency %d): %w; set WorkerConfig.Store", name, r.def.Queue, r.def.Rate, r.def.Concurrency, ErrNoLimiter)
		}
	}
	return nil
}

// rateOf returns task def's rate limit: the one set at runtime, or the
// annotation's. A store that fails keeps the last rate read.
func (w *Worker) rateOf(def *TaskDef) Rate {
	if w.cfg.Store == nil {
		return def.Rate
	}
	l := &w.limits
	l.mu.Lock()
	s := l.rates[def.Name]
	if s != nil && time.Since(s.at) < rateRefresh {
		l.mu.Unlock()
		return pickRate(s.rate, def.Rate)
	}
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	r, err := RateLimit(ctx, w.cfg.Store, def.Name)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rates == nil {
		l.rates = make(map[string]*rateSet)
	}
	if err != nil {
		w.log.Warn("taskgen: reading the task's rate limit failed; using the last one read", "task", def.Name, "err", err)
		if s == nil {
			s = &rateSet{}
		}
		r = s.rate
	}
	l.rates[def.Name] = &rateSet{rate: r, at: time.Now()}
	return pickRate(r, def.Rate)
}

func pickRate(set, annotated Rate) Rate {
	if set.N != 0 {
		return set
	}
	return annotated
}

// heldLimits is what a task that may run holds: a concurrency slot,
// renewed until release.
type heldLimits struct {
	stop chan struct{}
	done chan struct{}
}

// release frees the slot; it is safe to call on nil and more than once.
func (h *heldLimits) release() {
	if h == nil || h.stop == nil {
		return
	}
	select {
	case <-h.stop:
		return
	default:
	}
	close(h.stop)
	<-h.done
}

// admit applies the task's global limits. When the task may run, it
// returns what it holds, to release once the handler returns. Otherwise
// it defers the task to when it may run, without counting an attempt, and
// returns false.
func (w *Worker) admit(d *Delivery, env *Envelope, def *TaskDef) (*heldLimits, bool) {
	rate := w.rateOf(def)
	if rate.N <= 0 && def.Concurrency <= 0 {
		delete(env.Headers, rateHeader)
		return nil, true
	}
	lim, _ := w.cfg.Store.(Limiter)
	if lim == nil {
		// Only a rate set at runtime gets here (checkLimitsLocked).
		delete(env.Headers, rateHeader)
		return nil, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()

	// The rate token: reserved earlier, or taken now.
	token := env.Headers[rateHeader] != ""
	if rate.N > 0 && !token {
		ivl := rate.interval()
		spread := min(max(minRateSpread, 2*ivl), maxRateSpread)
		wait, reserved, err := lim.TakeRate(ctx, rateBucketPrefix+def.Name, rate, rateHorizon, spread)
		switch {
		case err != nil:
			w.limitFailed(d, env, "rate", err)
			return nil, false
		case !reserved:
			if wait > spread {
				wait = spread/2 + mrand.N(spread/2+1)
			}
			w.deferTask(d, env, wait, false, "rate limit", rate.String())
			return nil, false
		case wait > 0:
			w.deferTask(d, env, wait, true, "rate limit", rate.String())
			return nil, false
		}
		token = true
	}

	var held *heldLimits
	if def.Concurrency > 0 {
		key := slotPrefix + def.Name
		if k := env.Headers[concurrencyKeyHeader]; k != "" {
			key += "/" + k
		}
		holder := rand.Text()
		ok, err := lim.AcquireSlot(ctx, key, def.Concurrency, holder, w.cfg.Lease)
		switch {
		case err != nil:
			w.limitFailed(d, env, "concurrency", err)
			return nil, false
		case !ok:
			// A token taken stays with the task for its next turn.
			w.deferTask(d, env, slotRetry/4+mrand.N(slotRetry*3/4), token && rate.N > 0, "concurrency limit", fmt.Sprint(def.Concurrency))
			return nil, false
		}
		held = w.holdSlot(lim, env, key, holder)
	}
	// Retries take a token again.
	delete(env.Headers, rateHeader)
	return held, true
}

// holdSlot renews the slot at a third of the lease until released, so
// that a slot outlives its lease only while its worker is alive.
func (w *Worker) holdSlot(lim Limiter, env *Envelope, key, holder string) *heldLimits {
	h := &heldLimits{stop: make(chan struct{}), done: make(chan struct{})}
	lease := w.cfg.Lease
	go func() {
		defer close(h.done)
		t := time.NewTicker(lease / 3)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
				defer cancel()
				if err := lim.ReleaseSlot(ctx, key, holder); err != nil {
					w.log.Warn("taskgen: releasing the concurrency slot failed; it frees when its lease lapses", "task", env.Task, "id", env.ID, "queue", env.Queue, "err", err)
				}
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), lease/3)
				ok, err := lim.ExtendSlot(ctx, key, holder, lease)
				cancel()
				switch {
				case err != nil:
					w.log.Warn("taskgen: renewing the concurrency slot failed", "task", env.Task, "id", env.ID, "queue", env.Queue, "err", err)
				case !ok:
					w.log.Warn("taskgen: concurrency slot lost while running: its lease lapsed", "task", env.Task, "id", env.ID, "queue", env.Queue)
				}
			}
		}
	}()
	return h
}

// deferTask puts the task back for delay without counting an attempt;
// withToken marks it as holding a reserved rate token.
func (w *Worker) deferTask(d *Delivery, env *Envelope, delay time.Duration, withToken bool, why, limit string) {
	if withToken != (env.Headers[rateHeader] != "") {
		if withToken {
			if env.Headers == nil {
				env.Headers = make(map[string]string)
			}
			env.Headers[rateHeader] = "reserved"
		} else {
			delete(env.Headers, rateHeader)
		}
	}
	// Counted as a hand-back, so that deferrals are not taken for crashes
	// (deliverylimit.go).
	body := returnedBody(d, env)
	w.log.Debug("taskgen: task deferred by its "+why, "task", env.Task, "id", env.ID, "queue", env.Queue, "limit", limit, "delay", delay)
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := w.tr.Nack(ctx, d, NackOptions{Delay: max(delay, time.Millisecond), Body: body}); err != nil {
		w.log.Warn("taskgen: deferring the task failed; the lease will expire", "task", env.Task, "id", env.ID, "queue", env.Queue, "err", err)
	}
}

// limitFailed hands back a task whose limit the store could not check.
func (w *Worker) limitFailed(d *Delivery, env *Envelope, limit string, err error) {
	if errors.Is(err, ErrClosed) {
		w.handBack(d, env)
		return
	}
	w.log.Warn("taskgen: checking the task's "+limit+" limit failed; retrying later", "task", env.Task, "id", env.ID, "queue", env.Queue, "err", err)
	w.deferTask(d, env, DefaultBackoffMin, env.Headers[rateHeader] != "", limit+" limit", "unknown")
}
