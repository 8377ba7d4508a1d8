package runtime

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"
)

// kvStore is the key-value part of a Store, in memory, for the revocation
// log's own cases; the rest of Store is not used (nil: it panics).
type kvStore struct {
	Store
	mu sync.Mutex
	m  map[string][]byte
}

func newKVStore() *kvStore { return &kvStore{m: make(map[string][]byte)} }

func (s *kvStore) Put(_ context.Context, key string, value []byte, _ time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = value
	return nil
}

func (s *kvStore) Get(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	if !ok {
		return nil, ErrNotFound
	}
	return v, nil
}

func (s *kvStore) Incr(_ context.Context, key string, delta int64, _ time.Duration) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, _ := strconv.ParseInt(string(s.m[key]), 10, 64)
	n += delta
	s.m[key] = []byte(strconv.FormatInt(n, 10))
	return n, nil
}

func (s *kvStore) revoke(t *testing.T, id string) {
	t.Helper()
	if err := s.Put(t.Context(), revokeKey(id), []byte("1"), revokeTTL); err != nil {
		t.Fatal(err)
	}
	if _, err := appendRevoke(t.Context(), s, id); err != nil {
		t.Fatal(err)
	}
}

func refreshed(t *testing.T, c *revokeCache, s Store) {
	t.Helper()
	if err := c.refresh(t.Context(), s); err != nil {
		t.Fatal(err)
	}
}

// freshLookup refreshes c and looks env up, again if the machine stalled
// past revokeFresh in between.
func freshLookup(t *testing.T, c *revokeCache, s Store, env *Envelope) (revoked, ok bool) {
	t.Helper()
	for range 5 {
		start := time.Now()
		refreshed(t, c, s)
		revoked, ok = c.lookup(env)
		if ok || time.Since(start) < revokeFresh {
			return revoked, ok
		}
	}
	return revoked, ok
}

// A cache not refreshed within revokeFresh does not tell: the worker reads
// the task's mark instead, and sees a revocation its cache missed.
func TestRevokeStaleCacheFallsBack(t *testing.T) {
	t.Parallel()
	s := newKVStore()
	w := NewWorker(nil, WorkerConfig{Store: s, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	c := newRevokeCache()
	w.revokes.cache.Store(c)
	env := &Envelope{ID: "t1", EnqueuedAt: time.Now()}
	if _, ok := c.lookup(env); ok {
		t.Fatal("a cache never refreshed tells")
	}
	if revoked, ok := freshLookup(t, c, s, env); !ok || revoked {
		t.Fatalf("fresh cache: lookup = %v, %v; want not revoked, told", revoked, ok)
	}
	s.revoke(t, "t1")
	time.Sleep(revokeFresh + 50*time.Millisecond)
	if _, ok := c.lookup(env); ok {
		t.Fatal("a stale cache tells")
	}
	if !w.isRevoked(t.Context(), env) {
		t.Fatal("with a stale cache, the worker missed the revoke mark")
	}
	if revoked, ok := freshLookup(t, c, s, env); !ok || !revoked {
		t.Fatalf("after a refresh: lookup = %v, %v; want revoked, told", revoked, ok)
	}
}

// A starting worker reads the log back: the whole of a short one, so its
// cache tells for every task; the end of a long one, so it tells only for
// plain tasks enqueued after the oldest entry read.
func TestRevokeBackfill(t *testing.T) {
	t.Parallel()
	s := newKVStore()
	s.revoke(t, "wf")
	s.revoke(t, "old")
	c := newRevokeCache()
	for _, env := range []*Envelope{{ID: "wf.1", WorkflowID: "wf"}, {ID: "old"}} {
		if revoked, ok := freshLookup(t, c, s, env); !ok || !revoked {
			t.Fatalf("%s, short log: lookup = %v, %v; want revoked, told", env.ID, revoked, ok)
		}
	}

	long := newKVStore()
	long.revoke(t, "wf")
	for i := range revokeBackfill {
		long.revoke(t, "t"+strconv.Itoa(i))
	}
	c = newRevokeCache()
	for _, env := range []*Envelope{{ID: "wf.1", WorkflowID: "wf"}, {ID: "new", EnqueuedAt: time.Now()}} {
		if _, ok := freshLookup(t, c, long, env); ok {
			t.Fatalf("%s, long log: the cache tells", env.ID)
		}
	}
	later := &Envelope{ID: "t5", EnqueuedAt: time.Now().Add(2 * revokeSkew)}
	if revoked, ok := freshLookup(t, c, long, later); !ok || !revoked {
		t.Fatalf("long log, a task enqueued later: lookup = %v, %v; want revoked, told", revoked, ok)
	}
}

// An entry counted but not yet written is read once it is, and one never
// written does not stop the entries after it.
func TestRevokePendingEntry(t *testing.T) {
	t.Parallel()
	s := newKVStore()
	c := newRevokeCache()
	refreshed(t, c, s)
	n, _ := s.Incr(t.Context(), revokeSeqKey, 1, 0) // counted, not written
	refreshed(t, c, s)
	s.revoke(t, "b")
	if revoked, ok := freshLookup(t, c, s, &Envelope{ID: "b"}); !ok || !revoked {
		t.Fatalf("the entry after a missing one: lookup = %v, %v; want revoked, told", revoked, ok)
	}
	if err := s.Put(t.Context(), revokeLogKey(n), []byte(strconv.FormatInt(time.Now().UnixNano(), 10)+" a"), revokeTTL); err != nil {
		t.Fatal(err)
	}
	if revoked, ok := freshLookup(t, c, s, &Envelope{ID: "a"}); !ok || !revoked {
		t.Fatalf("the entry written late: lookup = %v, %v; want revoked, told", revoked, ok)
	}
}
