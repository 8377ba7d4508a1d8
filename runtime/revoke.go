package runtime

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The revocation log (see the comment at the top of cancel.go): Cancel
// appends the revoked ID under revokeLogKey(n), n from the counter under
// revokeSeqKey, and a worker's revokeCache follows the log in memory.

const (
	// revokeRefresh is how often a running worker reads the log's counter.
	revokeRefresh = 100 * time.Millisecond
	// revokeFresh is how old the cache's last complete read may be for a
	// worker to trust it; Cancel returns only this long after it appended
	// to the log, so a worker that trusts its cache has read the entry.
	revokeFresh = 250 * time.Millisecond
	// revokeAppendWindow bounds the time between Cancel's increment of the
	// counter and its write of the entry; a slower write is appended again
	// under a new number.
	revokeAppendWindow = 3 * time.Second
	// revokePending is how long a worker keeps reading a log number whose
	// entry is missing: one being written, or one given up on.
	revokePending = 2*revokeAppendWindow + time.Second
	// revokeBackfill is how many entries a starting worker reads back from
	// the end of the log.
	revokeBackfill = 1024
)

// revokeSkew is the margin for clocks that disagree between clients and
// workers.
const revokeSkew = time.Minute

const revokeSeqKey = "revoke-log:seq"

func revokeLogKey(n int64) string { return "revoke-log:" + strconv.FormatInt(n, 10) }

// appendRevoke appends id to the revocation log and returns when its
// entry was written.
func appendRevoke(ctx context.Context, s Store, id string) (time.Time, error) {
	for {
		n, err := s.Incr(ctx, revokeSeqKey, 1, revokeTTL)
		if err != nil {
			return time.Time{}, err
		}
		at := time.Now()
		val := strconv.FormatInt(at.UnixNano(), 10) + " " + id
		if err := s.Put(ctx, revokeLogKey(n), []byte(val), revokeTTL); err != nil {
			return time.Time{}, err
		}
		if time.Since(at) < revokeAppendWindow {
			return time.Now(), nil
		}
		// Workers may have given up on entry n: write it again.
	}
}

// parseRevoke splits a log entry into the time it was appended and the ID.
func parseRevoke(v []byte) (time.Time, string, bool) {
	ts, id, ok := strings.Cut(string(v), " ")
	if !ok || id == "" {
		return time.Time{}, "", false
	}
	ns, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return time.Time{}, "", false
	}
	return time.Unix(0, ns), id, true
}

// revokeCache is a worker's copy of the revocation log, refreshed by one
// goroutine while the worker runs.
type revokeCache struct {
	base    time.Time    // monotonic origin of freshAt
	freshAt atomic.Int64 // since base, the start of the last complete refresh; -1: none

	mu  sync.RWMutex
	ids map[string]time.Time // revoked ID → when its entry expires
	// coverFrom: every revocation of a plain task enqueued after it is in
	// ids; zero when every live revocation is.
	coverFrom time.Time
	loaded    bool

	// The refresher's own.
	seq     int64
	pending map[int64]time.Time // log numbers not yet read → give up at
	pruned  time.Time
}

func newRevokeCache() *revokeCache {
	c := &revokeCache{base: time.Now(), ids: make(map[string]time.Time), pending: make(map[int64]time.Time), pruned: time.Now()}
	c.freshAt.Store(-1)
	return c
}

// lookup reports whether env is revoked, and ok false when the cache
// cannot tell: it is stale, or env's revocation may predate what it read.
func (c *revokeCache) lookup(env *Envelope) (revoked, ok bool) {
	if c == nil {
		return false, false
	}
	// freshAt before the map: the refresher writes them the other way.
	f := c.freshAt.Load()
	if f < 0 || time.Since(c.base)-time.Duration(f) > revokeFresh {
		return false, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	switch {
	case !c.loaded:
		return false, false
	case c.coverFrom.IsZero():
	case env.WorkflowID != "" || !env.EnqueuedAt.After(c.coverFrom):
		// A workflow may have been revoked before its task was enqueued.
		return false, false
	}
	_, revoked = c.ids[revokeID(env)]
	return revoked, true
}

// run refreshes the cache every revokeRefresh until ctx is done.
func (c *revokeCache) run(ctx context.Context, w *Worker) {
	t := time.NewTicker(revokeRefresh)
	defer t.Stop()
	failing := false
	for {
		err := c.refresh(ctx, w.cfg.Store)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			w.log.Warn("taskgen: reading the revocation log failed; checking each task in the store", "err", err)
			failing = true
		case err == nil:
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// add records a log entry.
func (c *revokeCache) add(v []byte) {
	at, id, ok := parseRevoke(v)
	if !ok {
		return
	}
	c.mu.Lock()
	c.ids[id] = at.Add(revokeTTL)
	c.mu.Unlock()
}

// refresh reads the log's new entries; on success the cache is fresh as
// of the refresh's start.
func (c *revokeCache) refresh(ctx context.Context, s Store) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	start := time.Since(c.base)
	seq, err := c.readSeq(ctx, s)
	if err != nil {
		return err
	}
	now := time.Now()
	c.mu.RLock()
	loaded := c.loaded
	c.mu.RUnlock()
	switch {
	case !loaded || seq < c.seq:
		// Starting, or the counter expired: read back from the end.
		from, err := c.backfill(ctx, s, seq)
		if err != nil {
			return err
		}
		c.mu.Lock()
		c.coverFrom, c.loaded = from, true
		c.mu.Unlock()
	default:
		for n := c.seq + 1; n <= seq; n++ {
			v, err := s.Get(ctx, revokeLogKey(n))
			switch {
			case errors.Is(err, ErrNotFound):
				c.pending[n] = now.Add(revokePending)
			case err != nil:
				return err
			default:
				c.add(v)
			}
			c.seq = n
		}
	}
	c.seq = seq
	for n, until := range c.pending {
		v, err := s.Get(ctx, revokeLogKey(n))
		switch {
		case err == nil:
			c.add(v)
			delete(c.pending, n)
		case !errors.Is(err, ErrNotFound):
			return err
		case now.After(until):
			delete(c.pending, n)
		}
	}
	if now.Sub(c.pruned) > time.Minute {
		c.pruned = now
		c.mu.Lock()
		for id, exp := range c.ids {
			if now.After(exp) {
				delete(c.ids, id)
			}
		}
		c.mu.Unlock()
	}
	c.freshAt.Store(int64(start))
	return nil
}

// backfill reads up to revokeBackfill entries back from seq, and returns
// the time after which every plain task's revocation is in the cache.
func (c *revokeCache) backfill(ctx context.Context, s Store, seq int64) (time.Time, error) {
	read := time.Now()
	oldest := time.Time{}
	expired := false // below an old entry, a missing one is gone for good
	clear(c.pending)
	low := max(seq-revokeBackfill+1, 1)
	for n := seq; n >= low; n-- {
		v, err := s.Get(ctx, revokeLogKey(n))
		switch {
		case errors.Is(err, ErrNotFound):
			if !expired {
				c.pending[n] = read.Add(revokePending)
			}
		case err != nil:
			return time.Time{}, err
		default:
			c.add(v)
			if at, _, ok := parseRevoke(v); ok {
				oldest = at
				expired = expired || at.Before(read.Add(-2*revokeSkew))
			}
		}
	}
	switch {
	case low == 1:
		return time.Time{}, nil // the whole log
	case oldest.IsZero():
		// Entries below seq were appended before the counter was read.
		return read.Add(revokeSkew), nil
	default:
		// Entries below the oldest read were counted before it was.
		return oldest.Add(revokeSkew), nil
	}
}

func (c *revokeCache) readSeq(ctx context.Context, s Store) (int64, error) {
	v, err := s.Get(ctx, revokeSeqKey)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(string(v), 10, 64)
}

// startCache starts the worker's revocation cache; stop ends it.
func (s *revokeSet) startCache(ctx context.Context, w *Worker) (stop func()) {
	if w.cfg.Store == nil {
		return func() {}
	}
	c := newRevokeCache()
	s.cache.Store(c)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.run(ctx, w)
	}()
	return func() {
		cancel()
		wg.Wait()
		s.cache.CompareAndSwap(c, nil)
		s.kick()
	}
}
