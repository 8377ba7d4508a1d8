package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// The Store has no key listing, so the schedules live in one index key,
// a JSON document, beside a version counter. Writers change the index
// under a lock (a PutNX key with a TTL): they write the index, carrying
// the next version, only if it is still the one they read
// (CompareAndSwap), then move the counter to that version; readers poll
// the counter and read the index again only when it moved. A writer that
// stalled past the lock's TTL finds the index changed and fails, so no
// change is lost unseen; a writer that stored the index but failed to move
// the counter leaves it to the next writer to move.

// Store keys of the scheduler.
const (
	schedIndexKey   = "sched:index"
	schedVersionKey = "sched:index:version"
	schedLockKey    = "sched:index:lock"
)

// schedClaimKey is the claim on one tick of a schedule.
func schedClaimKey(name string, tick time.Time) string {
	return "sched:{" + name + "}:tick:" + tickString(tick)
}

// schedLastKey holds the last tick a schedule fired.
func schedLastKey(name string) string { return "sched:{" + name + "}:last" }

// schedLockTTL bounds how long a crashed writer blocks the others.
const schedLockTTL = 10 * time.Second

// scheduleIndex is the stored set of schedules.
type scheduleIndex struct {
	Version   int64                     `json:"version"`
	Schedules map[string]*scheduleEntry `json:"schedules"`
}

// scheduleEntry is one stored schedule.
type scheduleEntry struct {
	Spec string `json:"spec"`
	// Nodes is the call or workflow, as Submit stores it (see wfNode).
	Nodes     json.RawMessage `json:"nodes"`
	NoOverlap bool            `json:"no_overlap,omitempty"`
	Missed    MissedPolicy    `json:"missed,omitempty"`
	Paused    bool            `json:"paused,omitempty"`
	// Since is when the schedule was added, changed or resumed: no tick
	// before it fires.
	Since time.Time `json:"since"`
	// Rev is the index version of the entry's last change; processes start
	// over with a schedule whose Rev moved.
	Rev int64 `json:"rev"`
}

func (e *scheduleEntry) nodes() ([]*wfNode, error) {
	var nodes []*wfNode
	if err := json.Unmarshal(e.Nodes, &nodes); err != nil {
		return nil, err
	}
	if len(nodes) == 0 {
		return nil, errors.New("no task")
	}
	return nodes, nil
}

// indexCache is the last index a scheduler read or wrote, with the
// counter's value read before it: the index is at least as new as that.
type indexCache struct {
	mu  sync.Mutex
	idx *scheduleIndex
	ver int64
}

func (c *indexCache) get() (*scheduleIndex, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.idx, c.ver
}

// set keeps idx, read when the counter was ver, unless the cache holds
// one read later.
func (c *indexCache) set(ver int64, idx *scheduleIndex) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idx == nil || ver >= c.ver {
		c.idx, c.ver = idx, ver
	}
}

// readIndex reads the stored index, and returns it with its stored form;
// an absent one is empty, and its stored form nil.
func (s *Scheduler) readIndex(ctx context.Context) (*scheduleIndex, []byte, error) {
	idx := &scheduleIndex{Schedules: map[string]*scheduleEntry{}}
	b, err := s.store.Get(ctx, schedIndexKey)
	if errors.Is(err, ErrNotFound) {
		return idx, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("taskgen: read the schedules: %w", err)
	}
	if err := json.Unmarshal(b, idx); err != nil {
		return nil, nil, fmt.Errorf("taskgen: read the schedules: %w", err)
	}
	if idx.Schedules == nil {
		idx.Schedules = map[string]*scheduleEntry{}
	}
	return idx, b, nil
}

// load returns the current index: the cached one while the stored version
// has not moved.
func (s *Scheduler) load(ctx context.Context) (*scheduleIndex, error) {
	if s.store == nil {
		return nil, errNoStore
	}
	v, err := s.version(ctx)
	if err != nil {
		return nil, err
	}
	if idx, ver := s.index.get(); idx != nil && ver == v {
		return idx, nil
	}
	// Writers store the index before they move the counter: the index
	// read now is at least as new as v says.
	idx, _, err := s.readIndex(ctx)
	if err != nil {
		return nil, err
	}
	s.index.set(v, idx)
	return idx, nil
}

// version reads the index's version counter; absent is 0.
func (s *Scheduler) version(ctx context.Context) (int64, error) {
	b, err := s.store.Get(ctx, schedVersionKey)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("taskgen: read the schedules' version: %w", err)
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("taskgen: the schedules' version %q: %w", b, err)
	}
	return v, nil
}

// update changes the index under the lock. fn gets the index, the version
// the change will have and the time; it reports whether it changed the
// index.
func (s *Scheduler) update(ctx context.Context, fn func(idx *scheduleIndex, rev int64, now time.Time) (bool, error)) error {
	if s.store == nil {
		return errNoStore
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	idx, old, err := s.readIndex(ctx)
	if err != nil {
		return err
	}
	counter, err := s.version(ctx)
	if err != nil {
		return err
	}
	// The index may be ahead of the counter: a writer stored it and
	// failed to move the counter, which this one does first, whatever its
	// own change comes to.
	if idx.Version > counter {
		if err := s.moveVersion(ctx, counter, idx); err != nil {
			return err
		}
		counter = idx.Version
	}
	changed, err := fn(idx, counter+1, time.Now())
	if err != nil || !changed {
		return err
	}
	idx.Version = counter + 1
	b, err := json.Marshal(idx)
	if err != nil {
		return fmt.Errorf("taskgen: write the schedules: %w", err)
	}
	// The lock keeps other writers out, but one whose change outlasted
	// the lock's TTL may meet the writer that took the lock over: the
	// index is written only if it is still the one this change was made
	// to, so that neither change is lost unseen.
	var ok bool
	if old == nil {
		ok, err = s.store.PutNX(ctx, schedIndexKey, b, 0)
	} else {
		ok, err = s.store.CompareAndSwap(ctx, schedIndexKey, old, b, 0)
	}
	switch {
	case err != nil:
		return fmt.Errorf("taskgen: write the schedules: %w", err)
	case !ok:
		return errors.New("taskgen: write the schedules: another writer changed them meanwhile (this change outlasted the lock's TTL); nothing was written")
	}
	return s.moveVersion(ctx, counter, idx)
}

// moveVersion moves the version counter, read as counter, to idx's
// version, once idx is stored.
func (s *Scheduler) moveVersion(ctx context.Context, counter int64, idx *scheduleIndex) error {
	v, err := s.store.Incr(ctx, schedVersionKey, idx.Version-counter, 0)
	if err != nil {
		// Schedulers read the index again only when the counter moves;
		// the next change of the schedules moves it.
		return fmt.Errorf("taskgen: write the schedules: the change is stored, but moving their version failed, so other schedulers may not see it before the next change: %w", err)
	}
	if v != idx.Version {
		// Only a writer without the lock moves the counter; the entries
		// this change wrote carry a Rev it has not, which is harmless:
		// a Rev only needs to differ from the previous one. Readers see
		// the counter move, and read the index again.
		s.log.Warn("taskgen: the schedules' version moved under the lock", "want", idx.Version, "got", v)
		return nil
	}
	s.index.set(v, idx)
	return nil
}

// lock takes the index lock, waiting for a holder to release it, and
// returns its release.
func (s *Scheduler) lock(ctx context.Context) (func(), error) {
	token := []byte(newTaskID())
	wait := 5 * time.Millisecond
	for {
		ok, err := s.store.PutNX(ctx, schedLockKey, token, schedLockTTL)
		if err != nil {
			return nil, fmt.Errorf("taskgen: lock the schedules: %w", err)
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("taskgen: lock the schedules: %w", ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
	return func() {
		// Release only our own lock: past its TTL another writer may hold it.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, _ = s.store.CompareAndDelete(ctx, schedLockKey, token)
	}, nil
}

// lastRun is the stored last fire of a schedule.
type lastRun struct {
	Tick time.Time `json:"tick"`
	ID   string    `json:"id"`
}

// lastFire returns schedule name's last fire; zero when it never fired.
func (s *Scheduler) lastFire(ctx context.Context, name string) (lastRun, error) {
	var last lastRun
	b, err := s.store.Get(ctx, schedLastKey(name))
	if errors.Is(err, ErrNotFound) {
		return last, nil
	}
	if err != nil {
		return last, fmt.Errorf("taskgen: schedule %q: last fire: %w", name, err)
	}
	if err := json.Unmarshal(b, &last); err != nil {
		return last, fmt.Errorf("taskgen: schedule %q: last fire: %w", name, err)
	}
	return last, nil
}
