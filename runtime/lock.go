package runtime

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// singletonHeader carries a task's singleton key (Singleton).
const singletonHeader = "taskgen.singleton"

// singletonRetry is how long a task whose singleton lock is taken waits
// before it is delivered again (with up to as much jitter).
const singletonRetry = 250 * time.Millisecond

// Singleton makes the task run only while no other task with the same key
// runs, across every worker sharing the store. A task whose key is held
// is deferred, not failed: it goes back to its queue for a moment, and
// this uses up none of its retries. The lock is taken in the worker's
// store with a TTL of the worker's lease, renewed while the handler runs,
// so a worker that dies frees it within one lease. The worker needs a
// store; without one the task is dead-lettered with an error that says
// so. TryLock takes the same lock outside a task.
func Singleton(key string) Option {
	return optionFunc(func(o *callOptions) { o.singleton = key })
}

// applySingleton puts the call's singleton key in the envelope's headers.
func applySingleton(env *Envelope, o *callOptions) {
	if o.singleton == "" {
		return
	}
	h := make(map[string]string, len(env.Headers)+1)
	for k, v := range env.Headers {
		h[k] = v
	}
	h[singletonHeader] = o.singleton
	env.Headers = h
}

func lockStoreKey(k string) string { return "lock:" + k }

// singletonHold is a task's hold on its singleton lock.
type singletonHold struct {
	stop    func() // stops renewing the lock
	release func() // deletes it, if still the task's
}

// abandon stops renewing the lock, which then frees at the end of its TTL
// unless unlock comes first.
func (h *singletonHold) abandon() {
	if h != nil {
		h.stop()
	}
}

// unlock stops renewing the lock and releases it.
func (h *singletonHold) unlock() {
	if h != nil {
		h.stop()
		h.release()
	}
}

// takeSingleton takes the task's singleton lock, if it has one (a nil
// hold when not), and ok; when the lock is held elsewhere, or cannot be
// taken, it hands the task back for later and ok is false.
func (w *Worker) takeSingleton(d *Delivery, env *Envelope) (hold *singletonHold, ok bool) {
	key := env.Headers[singletonHeader]
	if key == "" {
		return nil, true
	}
	if w.cfg.Store == nil {
		w.deadLetter(d, env, ReasonFailed, fmt.Errorf("singleton %q: %w", key, ErrNoStore))
		return nil, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	lk := &lock{store: w.cfg.Store, key: lockStoreKey(key), owner: newTaskID(), ttl: w.cfg.Lease}
	got, err := lk.take(ctx)
	if err != nil || !got {
		if err != nil {
			w.log.Warn("taskgen: taking the singleton lock failed; retrying later", "task", env.Task, "id", env.ID, "queue", env.Queue, "key", key, "err", err)
		}
		delay := singletonRetry + rand.N(singletonRetry)
		if err := w.tr.Nack(ctx, d, NackOptions{Delay: delay, Body: returnedBody(d, env)}); err != nil {
			w.log.Warn("taskgen: deferring the task failed; the lease will expire", "task", env.Task, "id", env.ID, "queue", env.Queue, "err", err)
		}
		return nil, false
	}
	return &singletonHold{
		stop: lk.keep(w.log.Warn),
		release: func() {
			ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
			defer cancel()
			if err := lk.release(ctx); err != nil {
				w.log.Warn("taskgen: releasing the singleton lock failed; it frees at the end of its TTL", "task", env.Task, "id", env.ID, "key", key, "err", err)
			}
		},
	}, true
}

// lock is a lock in a Store: a key whose value names its owner, with a TTL.
type lock struct {
	store Store
	key   string
	owner string
	ttl   time.Duration
}

func (l *lock) take(ctx context.Context) (bool, error) {
	return l.store.PutNX(ctx, l.key, []byte(l.owner), l.ttl)
}

// keep renews the lock's TTL at a third of it until the returned stop is
// called, and stops renewing once the lock is no longer the owner's.
func (l *lock) keep(warn func(msg string, args ...any)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(l.ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			held, err := l.renew(ctx)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				warn("taskgen: renewing a lock failed", "key", l.key, "err", err)
			case !held:
				warn("taskgen: lock lost while its task runs; another may run at the same time", "key", l.key)
				return
			}
		}
	}()
	return func() { cancel(); <-done }
}

// renew extends the lock for another TTL if it is still the owner's, and
// reports whether it was. A lock that expired and passed to another holder
// is left alone.
func (l *lock) renew(ctx context.Context) (bool, error) {
	return l.store.CompareAndSwap(ctx, l.key, []byte(l.owner), []byte(l.owner), l.ttl)
}

// release deletes the lock if it is still the owner's.
func (l *lock) release(ctx context.Context) error {
	_, err := l.store.CompareAndDelete(ctx, l.key, []byte(l.owner))
	return err
}

// ErrLocked is returned by TryLock while another holder has the lock.
var ErrLocked = errors.New("taskgen: lock is held")

// ErrLockLost is returned by Lock.Extend once the lock has expired, and
// may be another holder's.
var ErrLockLost = errors.New("taskgen: lock lost")

// Lock is an overlap lock held in a Store with a TTL: the same lock that
// tasks enqueued with Singleton(key) take, so code outside a task can keep
// them from running, and the reverse. Get one with TryLock.
type Lock struct{ l lock }

// TryLock takes the lock key in store for ttl and returns it, or
// ErrLocked while someone else holds it. The holder renews it with Extend
// before ttl passes and releases it with Unlock; a holder that dies frees
// it at the end of its TTL.
func TryLock(ctx context.Context, store Store, key string, ttl time.Duration) (*Lock, error) {
	switch {
	case store == nil:
		return nil, fmt.Errorf("taskgen: lock %q: %w", key, ErrNoStore)
	case key == "":
		return nil, errors.New("taskgen: lock: empty key")
	case ttl <= 0:
		return nil, fmt.Errorf("taskgen: lock %q: TTL %v is not positive", key, ttl)
	}
	l := &Lock{lock{store: store, key: lockStoreKey(key), owner: newTaskID(), ttl: ttl}}
	got, err := l.l.take(ctx)
	switch {
	case err != nil:
		return nil, fmt.Errorf("taskgen: lock %q: %w", key, err)
	case !got:
		return nil, fmt.Errorf("taskgen: lock %q: %w", key, ErrLocked)
	}
	return l, nil
}

// Extend renews the lock for another TTL. It returns ErrLockLost when
// the lock is no longer the holder's.
func (l *Lock) Extend(ctx context.Context) error {
	held, err := l.l.renew(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("taskgen: extend lock %q: %w", strings.TrimPrefix(l.l.key, "lock:"), err)
	case !held:
		return fmt.Errorf("taskgen: extend lock %q: %w", strings.TrimPrefix(l.l.key, "lock:"), ErrLockLost)
	}
	return nil
}

// Unlock releases the lock if it is still the holder's; a lock that has
// expired meanwhile is left to its new holder.
func (l *Lock) Unlock(ctx context.Context) error {
	if err := l.l.release(ctx); err != nil {
		return fmt.Errorf("taskgen: unlock %q: %w", strings.TrimPrefix(l.l.key, "lock:"), err)
	}
	return nil
}
