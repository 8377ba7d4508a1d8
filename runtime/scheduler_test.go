package runtime_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/taskgen/taskgen/internal/testenv"
	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/memory"
	"github.com/taskgen/taskgen/transport/redis"
)

// schedStore is a transport that is also a workflow store: memory or Redis.
type schedStore interface {
	runtime.Transport
	runtime.WorkflowStore
}

// onStores runs fn on the memory transport and on Redis, each with keys
// of its own.
func onStores(t *testing.T, fn func(t *testing.T, tr schedStore)) {
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		tr := memory.New()
		t.Cleanup(func() { tr.Close() })
		fn(t, tr)
	})
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		fn(t, redisStore(t))
	})
}

// redisStore returns a Redis transport under a prefix of its own, whose
// keys are deleted when the test ends.
func redisStore(t *testing.T) *redis.Transport {
	t.Helper()
	tr, _ := redisStorePrefix(t)
	return tr
}

// redisStorePrefix is redisStore that also returns the prefix.
func redisStorePrefix(t *testing.T) (*redis.Transport, string) {
	t.Helper()
	opt, err := goredis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := goredis.NewClient(opt)
	prefix := "taskgen-test-" + strings.ToLower(rand.Text()[:12])
	tr := redis.New(redis.Config{Client: client, Prefix: prefix})
	t.Cleanup(func() {
		tr.Close()
		ctx := context.Background()
		iter := client.Scan(ctx, 0, prefix+":*", 1000).Iterator()
		for iter.Next(ctx) {
			client.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("deleting the keys under %s: %v", prefix, err)
		}
		client.Close()
	})
	return tr, prefix
}

// redisClusterStore is redisStore on the Redis Cluster.
func redisClusterStore(t *testing.T) *redis.Transport {
	t.Helper()
	u, err := url.Parse(testenv.RedisClusterURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: strings.Split(u.Host, ",")})
	prefix := "taskgen-test-" + strings.ToLower(rand.Text()[:12])
	tr := redis.New(redis.Config{Client: client, Prefix: prefix})
	t.Cleanup(func() {
		tr.Close()
		err := client.ForEachMaster(context.Background(), func(ctx context.Context, node *goredis.Client) error {
			iter := node.Scan(ctx, 0, prefix+":*", 1000).Iterator()
			for iter.Next(ctx) {
				node.Del(ctx, iter.Val())
			}
			return iter.Err()
		})
		if err != nil {
			t.Errorf("deleting the keys under %s: %v", prefix, err)
		}
		client.Close()
	})
	return tr
}

// fireLog collects what schedulers log: the IDs they fired and the ticks
// they skipped.
type fireLog struct {
	mu      sync.Mutex
	fired   []string
	skipped []string // messages of skipped ticks
}

func (l *fireLog) logger() *slog.Logger { return slog.New(&fireHandler{l: l}) }

func (l *fireLog) ids() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.fired)
}

func (l *fireLog) skips() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.skipped)
}

// waitFired waits until at least n fires are logged.
func (l *fireLog) waitFired(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(eventually)
	for {
		ids := l.ids()
		if len(ids) >= n {
			return ids
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d fires after %v, want %d: %v", len(ids), eventually, n, ids)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type fireHandler struct {
	l     *fireLog
	attrs []slog.Attr
}

func (h *fireHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *fireHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &fireHandler{l: h.l, attrs: append(slices.Clone(h.attrs), attrs...)}
}

func (h *fireHandler) WithGroup(string) slog.Handler { return h }

func (h *fireHandler) Handle(_ context.Context, r slog.Record) error {
	var id string
	attrs := slices.Clone(h.attrs)
	r.Attrs(func(a slog.Attr) bool { attrs = append(attrs, a); return true })
	for _, a := range attrs {
		if a.Key == "id" {
			id = a.Value.String()
		}
	}
	h.l.mu.Lock()
	defer h.l.mu.Unlock()
	switch {
	case r.Message == "taskgen: scheduler: fired":
		h.l.fired = append(h.l.fired, id)
	case strings.HasPrefix(r.Message, "taskgen: scheduler: tick skipped"):
		h.l.skipped = append(h.l.skipped, r.Message)
	case r.Level >= slog.LevelWarn:
		h.l.skipped = append(h.l.skipped, r.Message) // fails the tests that count skips
	}
	return nil
}

// runScheduler runs s until the returned stop is called or the test ends.
func runScheduler(t *testing.T, s *runtime.Scheduler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Scheduler.Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// startWorker runs a worker of task on tr until the test ends.
func startWorker(t *testing.T, tr runtime.Transport, task *runtime.Task[int], fn func(context.Context, *addArgs) (int, error)) {
	t.Helper()
	w := runtime.NewWorker(tr, runtime.WorkerConfig{
		Queues: []string{task.Def.Queue}, Concurrency: 4,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err := runtime.Register(w, task, fn); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Worker.Run: %v", err)
		}
	})
}

func pending(t *testing.T, tr runtime.Transport, queue string) int {
	t.Helper()
	st, err := tr.Stats(t.Context(), queue)
	if err != nil {
		t.Fatal(err)
	}
	return st.Pending + st.Delayed + st.Active
}

// tickOf returns the tick of a fired task ID.
func tickOf(t *testing.T, id string) time.Time {
	t.Helper()
	_, s, ok := strings.Cut(id, "@")
	tick, err := time.Parse(time.RFC3339Nano, s)
	if !ok || err != nil {
		t.Fatalf("task ID %q has no tick: %v", id, err)
	}
	return tick
}

// Three schedulers on one store fire each tick once, with no gaps: the
// per-tick claim picks one of them. On memory, Redis and Redis Cluster.
func TestSchedulerTickFiresOnce(t *testing.T) {
	t.Parallel()
	onStores(t, testTickFiresOnce)
	t.Run("redis-cluster", func(t *testing.T) {
		t.Parallel()
		testTickFiresOnce(t, redisClusterStore(t))
	})
}

func testTickFiresOnce(t *testing.T, tr schedStore) {
	task := newTask("sched.Once", "sched-once", 0)
	var log fireLog
	c := runtime.NewClient(tr)
	for range 3 {
		s := runtime.NewScheduler(tr, c, runtime.SchedulerLogger(log.logger()))
		if err := s.Add(t.Context(), "once", "@every 300ms", runtime.NewSig(task, &addArgs{A: 1})); err != nil {
			t.Fatal(err)
		}
		runScheduler(t, s)
	}
	ids := log.waitFired(t, 6)
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("tick %s fired twice: %v", id, ids)
		}
		seen[id] = true
	}
	// The ticks are 300ms apart, with none missing (the schedulers are
	// idle enough to be on time within one tick).
	for i := 1; i < len(ids); i++ {
		if d := tickOf(t, ids[i]).Sub(tickOf(t, ids[i-1])); d != 300*time.Millisecond {
			t.Errorf("ticks %s and %s are %v apart, want 300ms", ids[i-1], ids[i], d)
		}
	}
	if log.skips() != 0 {
		t.Errorf("skips or warnings logged: %v", log.skipped)
	}
	if n := pending(t, tr, "sched-once"); n < len(ids) {
		t.Errorf("the queue holds %d tasks, fewer than the %d fires", n, len(ids))
	}
}

// With NoOverlap, ticks are skipped while the previous run is going, and
// fire again once it has finished.
func TestSchedulerNoOverlap(t *testing.T) {
	t.Parallel()
	onStores(t, func(t *testing.T, tr schedStore) {
		task := newTask("sched.Slow", "sched-slow", 0)
		started := make(chan string, 10)
		release := make(chan struct{})
		startWorker(t, tr, task, func(ctx context.Context, a *addArgs) (int, error) {
			info, _ := runtime.Info(ctx)
			started <- info.ID
			<-release
			return 0, nil
		})
		var log fireLog
		s := runtime.NewScheduler(tr, runtime.NewClient(tr), runtime.SchedulerLogger(log.logger()))
		if err := s.Add(t.Context(), "slow", "@every 200ms", runtime.NewSig(task, &addArgs{}), runtime.NoOverlap()); err != nil {
			t.Fatal(err)
		}
		runScheduler(t, s)
		first := <-started
		// Five ticks while the first run holds on.
		deadline := time.Now().Add(eventually)
		for log.skips() < 5 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if ids := log.ids(); len(ids) != 1 || ids[0] != first {
			t.Fatalf("fired %v while %s ran, want only that one", ids, first)
		}
		if log.skips() < 5 {
			t.Fatalf("%d ticks skipped in %v, want 5", log.skips(), eventually)
		}
		close(release)
		select {
		case second := <-started:
			if second == first || !tickOf(t, second).After(tickOf(t, first)) {
				t.Errorf("after %s, the next run is %s", first, second)
			}
		case <-time.After(eventually):
			t.Fatal("no run after the first finished")
		}
	})
}

// Pause, resume, change and remove, made through another Scheduler value
// (as another process would), reach the running scheduler.
func TestSchedulerChanges(t *testing.T) {
	t.Parallel()
	onStores(t, func(t *testing.T, tr schedStore) {
		ctx := t.Context()
		task := newTask("sched.Change", "sched-a", 0)
		c := runtime.NewClient(tr)
		var log fireLog
		runScheduler(t, runtime.NewScheduler(tr, c, runtime.SchedulerLogger(log.logger()), runtime.SchedulerRefresh(50*time.Millisecond)))
		admin := runtime.NewScheduler(tr, c)
		sig := runtime.NewSig(task, &addArgs{})
		if err := admin.Add(ctx, "job", "@every 200ms", sig); err != nil {
			t.Fatal(err)
		}
		log.waitFired(t, 2)

		// quiet checks that nothing fires for a while, after letting a fire
		// already under way finish.
		quiet := func(what string) {
			t.Helper()
			time.Sleep(300 * time.Millisecond)
			before := len(log.ids())
			time.Sleep(700 * time.Millisecond)
			if after := log.ids(); len(after) != before {
				t.Errorf("%s: fired %v", what, after[before:])
			}
		}
		if err := admin.Pause(ctx, "job"); err != nil {
			t.Fatal(err)
		}
		list, err := admin.List(ctx)
		if err != nil || len(list) != 1 || !list[0].Paused || list[0].Task != "sched.Change" || list[0].LastID == "" {
			t.Fatalf("List = %+v, %v; want job, paused, with a last fire", list, err)
		}
		quiet("paused")

		if err := admin.Resume(ctx, "job"); err != nil {
			t.Fatal(err)
		}
		log.waitFired(t, len(log.ids())+2)

		// A change of spec: hourly now.
		if err := admin.Add(ctx, "job", "@every 1h", sig); err != nil {
			t.Fatal(err)
		}
		quiet("changed to hourly")

		// A change of call: another queue, every 200ms again.
		before := pending(t, tr, "sched-b")
		if err := admin.Add(ctx, "job", "@every 200ms", sig.With(runtime.Queue("sched-b"))); err != nil {
			t.Fatal(err)
		}
		log.waitFired(t, len(log.ids())+2)
		if n := pending(t, tr, "sched-b"); n < before+2 {
			t.Errorf("queue sched-b holds %d tasks after the change, want at least %d", n, before+2)
		}

		if err := admin.Remove(ctx, "job"); err != nil {
			t.Fatal(err)
		}
		quiet("removed")
		if list, err := admin.List(ctx); err != nil || len(list) != 0 {
			t.Errorf("List after Remove = %+v, %v", list, err)
		}
		if err := admin.Pause(ctx, "job"); !errors.Is(err, runtime.ErrNotFound) || !strings.Contains(err.Error(), `"job"`) {
			t.Errorf("Pause of a removed schedule = %v, want ErrNotFound naming it", err)
		}
	})
}

// A tick that passed while no scheduler ran is dropped under MissedSkip
// and fired once, late, under MissedRunOnce.
func TestSchedulerMissedTicks(t *testing.T) {
	t.Parallel()
	onStores(t, func(t *testing.T, tr schedStore) {
		ctx := t.Context()
		c := runtime.NewClient(tr)
		// One tick, in a second or two, then not for a year.
		tick := time.Now().Add(1500 * time.Millisecond).Truncate(time.Second).UTC()
		spec := fmt.Sprintf("%d %d %d %d %d *", tick.Second(), tick.Minute(), tick.Hour(), tick.Day(), tick.Month())
		admin := runtime.NewScheduler(tr, c)
		skip, once := newTask("sched.Skip", "sched-missed-skip", 0), newTask("sched.Once", "sched-missed-once", 0)
		if err := admin.Add(ctx, "skip", spec, runtime.NewSig(skip, &addArgs{}), runtime.OnMissed(runtime.MissedSkip)); err != nil {
			t.Fatal(err)
		}
		if err := admin.Add(ctx, "once", spec, runtime.NewSig(once, &addArgs{}), runtime.OnMissed(runtime.MissedRunOnce)); err != nil {
			t.Fatal(err)
		}
		// The downtime: no scheduler runs at the tick.
		time.Sleep(time.Until(tick.Add(1200 * time.Millisecond)))
		var log fireLog
		for range 2 { // a restart does not fire it again
			stop := runScheduler(t, runtime.NewScheduler(tr, c, runtime.SchedulerLogger(log.logger()), runtime.SchedulerMaxLate(500*time.Millisecond)))
			time.Sleep(500 * time.Millisecond)
			stop()
		}
		if ids, want := log.ids(), []string{runtime.ScheduleTaskID("once", tick)}; !slices.Equal(ids, want) {
			t.Errorf("fired %v, want %v", ids, want)
		}
		if n := pending(t, tr, "sched-missed-skip"); n != 0 {
			t.Errorf("MissedSkip: the queue holds %d tasks, want none", n)
		}
		if n := pending(t, tr, "sched-missed-once"); n != 1 {
			t.Errorf("MissedRunOnce: the queue holds %d tasks, want 1", n)
		}
	})
}

// A scheduled workflow runs whole, under the tick's ID; under NoOverlap,
// the next tick fires once it has finished.
func TestSchedulerWorkflow(t *testing.T) {
	t.Parallel()
	onStores(t, func(t *testing.T, tr schedStore) {
		task := newTask("sched.Add", "sched-flow", 0)
		startWorker(t, tr, task, add)
		var log fireLog
		s := runtime.NewScheduler(tr, runtime.NewClient(tr), runtime.SchedulerLogger(log.logger()))
		flow := runtime.Group(runtime.NewSig(task, &addArgs{A: 1, B: 2}), runtime.NewSig(task, &addArgs{A: 3, B: 4}))
		if err := s.Add(t.Context(), "flow", "@every 200ms", flow, runtime.NoOverlap()); err != nil {
			t.Fatal(err)
		}
		runScheduler(t, s)
		_, dec := jsonResult[[]int]()
		for _, id := range log.waitFired(t, 2)[:2] {
			got, err := runtime.NewHandle(id, runtime.Store(tr), dec).Get(waitCtx(t))
			if err != nil || !slices.Equal(got, []int{3, 7}) {
				t.Errorf("workflow %s = %v, %v; want [3 7]", id, got, err)
			}
		}
	})
}

func TestSchedulerAddErrors(t *testing.T) {
	t.Parallel()
	tr := memory.New()
	defer tr.Close()
	s := runtime.NewScheduler(tr, runtime.NewClient(tr))
	sig := runtime.NewSig(newTask("sched.Bad", "q", 0), &addArgs{})
	for _, tc := range []struct {
		name, spec string
		sig        runtime.AnySig
		opts       []runtime.ScheduleOption
		want       string
	}{
		{"nightly", "0 2 * *", sig, nil, `schedule "nightly": cron spec "0 2 * *": expected 5 to 6 fields`},
		{"nightly", "0 25 * * *", sig, nil, `schedule "nightly": cron spec "0 25 * * *"`},
		{"fast", "@every 1ms", sig, nil, `schedule "fast": spec "@every 1ms": the interval is under 100ms`},
		{"zoned", "0 2 * * *", sig, []runtime.ScheduleOption{runtime.TimeZone("Nowhere/City")}, `schedule "zoned": time zone`},
		{"policy", "0 2 * * *", sig, []runtime.ScheduleOption{runtime.OnMissed("twice")}, `schedule "policy": unknown missed-tick policy "twice"`},
		{"empty", "0 2 * * *", runtime.Sig[int]{}, nil, `schedule "empty": empty task or workflow`},
		{"bad name!", "0 2 * * *", sig, nil, `schedule "bad name!": the name may hold`},
		{"", "0 2 * * *", sig, nil, "1 to 200 characters"},
	} {
		err := s.Add(t.Context(), tc.name, tc.spec, tc.sig, tc.opts...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Add(%q, %q) = %v, want an error with %q", tc.name, tc.spec, err, tc.want)
		}
	}
	if list, err := s.List(t.Context()); err != nil || len(list) != 0 {
		t.Errorf("List after failed adds = %+v, %v", list, err)
	}
}

// Adding the same schedule again changes nothing; TimeZone reads the spec
// in the zone.
func TestSchedulerAddIdempotent(t *testing.T) {
	t.Parallel()
	tr := memory.New()
	defer tr.Close()
	ctx := t.Context()
	s := runtime.NewScheduler(tr, runtime.NewClient(tr))
	sig := runtime.NewSig(newTask("sched.Report", "reports", 0), &addArgs{A: 1})
	if err := s.Add(ctx, "nightly-report", "0 2 * * *", sig, runtime.TimeZone("Europe/Paris")); err != nil {
		t.Fatal(err)
	}
	if err := s.Pause(ctx, "nightly-report"); err != nil {
		t.Fatal(err)
	}
	before, err := tr.Get(ctx, "sched:index")
	if err != nil {
		t.Fatal(err)
	}
	if err := runtime.NewScheduler(tr, runtime.NewClient(tr)).Add(ctx, "nightly-report", "0 2 * * *", sig, runtime.TimeZone("Europe/Paris")); err != nil {
		t.Fatal(err)
	}
	if after, _ := tr.Get(ctx, "sched:index"); string(after) != string(before) {
		t.Errorf("adding the same schedule again rewrote the index:\n%s\n%s", before, after)
	}
	if err := s.Resume(ctx, "nightly-report"); err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %+v, %v", list, err)
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	if got := list[0]; got.Spec != "CRON_TZ=Europe/Paris 0 2 * * *" || got.Next.In(paris).Hour() != 2 || got.Paused {
		t.Errorf("List = %+v, want the spec in Europe/Paris, next at 02:00 there, not paused", got)
	}
}

// A scheduler without a store says so, at once.
func TestSchedulerNoStore(t *testing.T) {
	t.Parallel()
	s := runtime.NewScheduler(nil, nil)
	sig := runtime.NewSig(newTask("sched.None", "q", 0), &addArgs{})
	if err := s.Add(t.Context(), "job", "@every 1s", sig); err == nil || !strings.Contains(err.Error(), "no store") {
		t.Errorf("Add = %v, want a no-store error", err)
	}
	if err := s.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "no store") {
		t.Errorf("Run = %v, want a no-store error", err)
	}
}

// meddler is a store in which another writer rewrites the schedule index
// just before a scheduler's write of it lands.
type meddler struct {
	runtime.Store
	armed bool
}

func (m *meddler) CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	if m.armed && key == "sched:index" {
		m.armed = false
		if err := m.Store.Put(ctx, key, append(slices.Clone(old), ' '), 0); err != nil {
			return false, err
		}
	}
	return m.Store.CompareAndSwap(ctx, key, old, value, ttl)
}

// A change to the schedules that would overwrite another writer's is not
// written, and says so: a writer whose change outlasted the index lock's
// TTL loses no one's change.
func TestSchedulerWriteConflict(t *testing.T) {
	t.Parallel()
	tr := memory.New()
	t.Cleanup(func() { tr.Close() })
	m := &meddler{Store: tr}
	s := runtime.NewScheduler(m, runtime.NewClient(tr))
	task := newTask("sched.Conflict", "sched-conflict", 0)
	if err := s.Add(t.Context(), "first", "@every 1h", runtime.NewSig(task, &addArgs{A: 1})); err != nil {
		t.Fatal(err)
	}
	before, err := tr.Get(t.Context(), "sched:index")
	if err != nil {
		t.Fatal(err)
	}
	m.armed = true
	if err := s.Add(t.Context(), "second", "@every 1h", runtime.NewSig(task, &addArgs{A: 2})); err == nil || !strings.Contains(err.Error(), "another writer") {
		t.Fatalf("Add over another writer's change: %v; want an error saying another writer changed the schedules", err)
	}
	after, err := tr.Get(t.Context(), "sched:index")
	if err != nil {
		t.Fatal(err)
	}
	if want := append(before, ' '); string(after) != string(want) {
		t.Fatalf("stored index after the refused write:\n%s\nwant the other writer's:\n%s", after, want)
	}
}

// flakyPublish is a transport whose first publishes, or those until a
// time, fail, as a broker's brief outage makes them.
type flakyPublish struct {
	schedStore
	mu    sync.Mutex
	fails int // publishes still to fail
	// publishes still to fail after the broker took them
	lostReplies int
	until       time.Time // publishes before it fail
	failed      []string  // the IDs they carried
	published   []time.Time
}

func (f *flakyPublish) Publish(ctx context.Context, msg *runtime.Message) error {
	f.mu.Lock()
	if f.lostReplies > 0 {
		// The broker takes the message; its reply is lost.
		f.lostReplies--
		f.failed = append(f.failed, msg.ID)
		f.mu.Unlock()
		if err := f.schedStore.Publish(ctx, msg); err != nil {
			return err
		}
		return errors.New("i/o timeout")
	}
	if f.fails > 0 || time.Now().Before(f.until) {
		f.fails--
		f.failed = append(f.failed, msg.ID)
		f.mu.Unlock()
		return errors.New("connection reset")
	}
	f.published = append(f.published, time.Now())
	f.mu.Unlock()
	return f.schedStore.Publish(ctx, msg)
}

// After an outage, the next tick fires on time: the pauses between tries
// of the ticks that failed do not hold it back.
func TestSchedulerFiresOnTimeAfterOutage(t *testing.T) {
	t.Parallel()
	tr := memory.New()
	t.Cleanup(func() { tr.Close() })
	task := newTask("sched.Outage", "sched-outage", 0)
	var log fireLog
	end := time.Now().Add(9500 * time.Millisecond)
	flaky := &flakyPublish{schedStore: tr, until: end}
	s := runtime.NewScheduler(tr, runtime.NewClient(flaky), runtime.SchedulerLogger(log.logger()))
	if err := s.Add(t.Context(), "outage", "@every 1s", runtime.NewSig(task, &addArgs{A: 1})); err != nil {
		t.Fatal(err)
	}
	runScheduler(t, s)
	var first time.Time
	for first.IsZero() {
		if time.Now().After(end.Add(eventually)) {
			t.Fatalf("no fire %v after the outage ended", eventually)
		}
		time.Sleep(20 * time.Millisecond)
		flaky.mu.Lock()
		if len(flaky.published) > 0 {
			first = flaky.published[0]
		}
		flaky.mu.Unlock()
	}
	// The first tick after the outage is at most 1 s after its end.
	if late := first.Sub(end); late > 2*time.Second {
		t.Fatalf("first fire %v after the outage ended; want the next tick, within 1 s", late)
	}
}

// Two Runs of one Scheduler fire each tick once, as two schedulers do.
func TestSchedulerTwoRunsFireOnce(t *testing.T) {
	t.Parallel()
	tr := memory.New()
	t.Cleanup(func() { tr.Close() })
	task := newTask("sched.TwoRuns", "sched-two-runs", 0)
	var log fireLog
	s := runtime.NewScheduler(tr, runtime.NewClient(tr), runtime.SchedulerLogger(log.logger()))
	if err := s.Add(t.Context(), "two", "@every 200ms", runtime.NewSig(task, &addArgs{A: 1})); err != nil {
		t.Fatal(err)
	}
	// A worker that runs each task at once: the task ID no longer guards
	// against a second enqueue.
	startWorker(t, tr, task, add)
	runScheduler(t, s)
	runScheduler(t, s)
	ids := log.waitFired(t, 10)
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("tick %s fired twice: %v", id, ids)
		}
		seen[id] = true
	}
}

// A tick whose enqueue failed is tried again, and fires, while it is the
// latest due: a broker's brief outage at the tick's moment loses no run.
// With NoOverlap, the failed record a failed try leaves neither blocks the
// next try nor makes the tick look run.
func TestSchedulerRetriesFailedFire(t *testing.T) {
	t.Parallel()
	for _, noOverlap := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoOverlap=%v", noOverlap), func(t *testing.T) {
			t.Parallel()
			onStores(t, func(t *testing.T, tr schedStore) {
				testRetriesFailedFire(t, tr, noOverlap)
			})
		})
	}
}

func testRetriesFailedFire(t *testing.T, tr schedStore, noOverlap bool) {
	task := newTask("sched.Retry", "sched-retry", 0)
	var log fireLog
	flaky := &flakyPublish{schedStore: tr, fails: 2}
	s := runtime.NewScheduler(tr, runtime.NewClient(flaky), runtime.SchedulerLogger(log.logger()))
	var opts []runtime.ScheduleOption
	if noOverlap {
		opts = append(opts, runtime.NoOverlap())
	}
	// Ticks 4 s apart: the tries (after 250 ms, then 500 ms) come well
	// before the next tick.
	if err := s.Add(t.Context(), "retry", "@every 4s", runtime.NewSig(task, &addArgs{A: 1}), opts...); err != nil {
		t.Fatal(err)
	}
	runScheduler(t, s)
	ids := log.waitFired(t, 1)
	flaky.mu.Lock()
	failed := slices.Clone(flaky.failed)
	flaky.mu.Unlock()
	if len(failed) != 2 || failed[0] != failed[1] || ids[0] != failed[0] {
		t.Fatalf("failed publishes of %v, then fired %v; want two failed tries of the first tick, then that tick fired", failed, ids)
	}
	if noOverlap {
		r, err := tr.GetRecord(t.Context(), ids[0])
		if err != nil || r.State != runtime.StatePending {
			t.Fatalf("record of the tick fired on its third try: %+v, %v; want it pending (no worker runs)", r, err)
		}
	}
}

// incrFails is a store whose next Incr of the schedules' version fails.
type incrFails struct {
	runtime.Store
	fail atomic.Bool
}

func (f *incrFails) Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	if key == "sched:index:version" && f.fail.CompareAndSwap(true, false) {
		return 0, errors.New("connection reset")
	}
	return f.Store.Incr(ctx, key, delta, ttl)
}

// A change stored whose version did not move is seen by other schedulers
// once a later call of the writer moves it, even one that changes nothing.
func TestSchedulerVersionCatchesUp(t *testing.T) {
	t.Parallel()
	tr := memory.New()
	t.Cleanup(func() { tr.Close() })
	c := runtime.NewClient(tr)
	f := &incrFails{Store: tr}
	writer, reader := runtime.NewScheduler(f, c), runtime.NewScheduler(tr, c)
	task := newTask("sched.CatchUp", "sched-catch-up", 0)
	add := func(name string) error {
		return writer.Add(t.Context(), name, "@every 1h", runtime.NewSig(task, &addArgs{A: 1}))
	}
	count := func() int {
		infos, err := reader.List(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return len(infos)
	}
	if err := add("a"); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d schedules listed, want 1", n)
	}
	f.fail.Store(true)
	if err := add("b"); err == nil || !strings.Contains(err.Error(), "moving their version failed") {
		t.Fatalf("Add whose version could not move: %v; want an error saying so", err)
	}
	if err := add("b"); err != nil { // the same schedule again: no change
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Fatalf("%d schedules listed by another scheduler after the writer's next call, want 2", n)
	}
}

// A tick whose enqueue reached the broker though it returned an error is
// recorded as fired when its retry finds the task there: with NoOverlap,
// the next tick waits for it.
func TestSchedulerLostReply(t *testing.T) {
	t.Parallel()
	tr := memory.New()
	t.Cleanup(func() { tr.Close() })
	task := newTask("sched.LostReply", "sched-lost-reply", 0)
	var log fireLog
	flaky := &flakyPublish{schedStore: tr, lostReplies: 1}
	s := runtime.NewScheduler(tr, runtime.NewClient(flaky), runtime.SchedulerLogger(log.logger()))
	if err := s.Add(t.Context(), "lost", "@every 1s", runtime.NewSig(task, &addArgs{A: 1}), runtime.NoOverlap()); err != nil {
		t.Fatal(err)
	}
	runScheduler(t, s)
	var info runtime.ScheduleInfo
	for deadline := time.Now().Add(eventually); info.LastID == ""; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no fire recorded after %v", eventually)
		}
		infos, err := s.List(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		info = infos[0]
	}
	flaky.mu.Lock()
	failed := slices.Clone(flaky.failed)
	flaky.mu.Unlock()
	if len(failed) != 1 || info.LastID != failed[0] {
		t.Fatalf("last fire %q after the publishes %v whose replies were lost; want the first", info.LastID, failed)
	}
	// No worker runs it: the next ticks wait for it.
	time.Sleep(2500 * time.Millisecond)
	if st, err := tr.Stats(t.Context(), "sched-lost-reply"); err != nil || st.Pending != 1 {
		t.Fatalf("stats %+v, %v; want the one task pending, the next ticks skipped", st, err)
	}
}

// A change whose version failed to move is seen by other schedulers once
// any later call moves it, even one that fails.
func TestSchedulerVersionCatchesUpOnError(t *testing.T) {
	t.Parallel()
	tr := memory.New()
	t.Cleanup(func() { tr.Close() })
	c := runtime.NewClient(tr)
	f := &incrFails{Store: tr}
	writer, reader := runtime.NewScheduler(f, c), runtime.NewScheduler(tr, c)
	task := newTask("sched.CatchUpErr", "sched-catch-up-err", 0)
	if err := writer.Add(t.Context(), "a", "@every 1h", runtime.NewSig(task, &addArgs{A: 1})); err != nil {
		t.Fatal(err)
	}
	if infos, err := reader.List(t.Context()); err != nil || len(infos) != 1 {
		t.Fatalf("List = %d schedules, %v; want 1", len(infos), err)
	}
	f.fail.Store(true)
	if err := writer.Remove(t.Context(), "a"); err == nil {
		t.Fatal("Remove whose version could not move returned nil")
	}
	if err := writer.Remove(t.Context(), "a"); err == nil { // it is gone
		t.Fatal("a second Remove returned nil, want an error: the schedule is gone")
	}
	if infos, err := reader.List(t.Context()); err != nil || len(infos) != 0 {
		t.Fatalf("another scheduler lists %d schedules, %v; want none", len(infos), err)
	}
}
