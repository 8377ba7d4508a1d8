package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// WorkerConfig configures a Worker.
type WorkerConfig struct {
	// Queues are served in strict order: a task in Queues[0] always starts
	// before one in Queues[1]. Empty means every queue of the registered
	// tasks, in name order.
	Queues []string
	// Weights, when set, serves Queues by weight instead of strictly:
	// each fetch orders the queues by a weighted random draw, so that
	// under a backlog queue q gets Weights[q] / (sum of the weights) of
	// the fetches, and no queue starves. Every queue needs a weight; a
	// queue of weight 0 is served only when the others are empty.
	Weights map[string]int
	// Concurrency is how many handlers run at once. Default 10. A slot is
	// taken when a task is fetched and freed when its handler returns, so
	// tasks being settled (result stored, ack sent) do not count.
	Concurrency int
	// Lease is how long a fetched task is held before another worker may
	// take it; the worker renews it while the handler runs. Default 30s.
	Lease time.Duration
	// DrainTimeout is how long a cancelled Run waits for running handlers
	// before cancelling their ctx and handing their tasks back. Default 30s.
	DrainTimeout time.Duration
	// TimeoutGrace is how long a handler may run past its task's timeout,
	// ignoring its cancelled ctx, before the worker abandons it: its slot
	// is freed and the attempt fails with a *TimeoutError. Default 5s.
	TimeoutGrace time.Duration
	// DeliveryLimit is how many times a task may be delivered without
	// settling (its worker died, or its lease lapsed) before it is
	// dead-lettered with ReasonDeliveryLimit. Handler failures, and tasks
	// handed back or deferred by a worker, do not count. Default 10; -1
	// means no limit.
	DeliveryLimit int
	// ResultTTL is how long results and progress stay in the store.
	// Default 24h.
	ResultTTL time.Duration
	// Store keeps results. Default: the transport, when it is a Store.
	Store Store
	// Logger receives the worker's logs. Default slog.Default().
	Logger *slog.Logger
}

const (
	defaultConcurrency  = 10
	defaultLease        = 30 * time.Second
	defaultDrainTimeout = 30 * time.Second
	defaultResultTTL    = 24 * time.Hour
	// abandonGrace bounds the wait for handlers that ignore a cancelled
	// ctx at shutdown; their leases hand the tasks to another worker.
	abandonGrace = 5 * time.Second
	// opTimeout bounds the transport and store calls that settle a task
	// once its handler has returned.
	opTimeout = 10 * time.Second
)

// Worker fetches tasks from its queues and runs their handlers.
type Worker struct {
	tr       Transport
	cfg      WorkerConfig
	log      *slog.Logger
	mu       sync.Mutex
	handlers map[string]*registered
	running  bool
	// abandoned counts handlers abandoned past their timeout.
	abandoned atomic.Int64
	// activeDelay is how long a handler runs before its task is recorded
	// as active (active.go).
	activeDelay time.Duration
	nodes       nodeCache // workflow nodes read (nodecache.go)
	revokes     revokeSet // running tasks watched for Handle.Cancel (cancel.go)
	limits      limitState
	ops         opContexts // bound the calls that settle tasks
}

type registered struct {
	def     TaskDef
	handler Handler
}

// NewWorker returns a worker that consumes from tr.
func NewWorker(tr Transport, cfg WorkerConfig) *Worker {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = defaultConcurrency
	}
	if cfg.Lease <= 0 {
		cfg.Lease = defaultLease
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = defaultDrainTimeout
	}
	if cfg.TimeoutGrace <= 0 {
		cfg.TimeoutGrace = defaultTimeoutGrace
	}
	if cfg.DeliveryLimit == 0 {
		cfg.DeliveryLimit = defaultDeliveryLimit
	}
	if cfg.ResultTTL <= 0 {
		cfg.ResultTTL = defaultResultTTL
	}
	if cfg.Store == nil {
		cfg.Store, _ = tr.(Store)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Worker{tr: tr, cfg: cfg, log: cfg.Logger, handlers: make(map[string]*registered), activeDelay: activeRecordDelay}
}

// Register adds the handler of task def. Generated Register functions call
// it. Registering the same task name twice is an error.
func (w *Worker) Register(def *TaskDef, h Handler) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case def == nil || def.Name == "":
		return errors.New("taskgen: register: task has no name")
	case h == nil:
		return fmt.Errorf("taskgen: register %s: nil handler", def.Name)
	case w.running:
		return fmt.Errorf("taskgen: register %s: worker is already running", def.Name)
	case w.handlers[def.Name] != nil:
		return fmt.Errorf("taskgen: register %s: task already registered", def.Name)
	}
	w.handlers[def.Name] = &registered{def: *def, handler: h}
	return nil
}

// Run fetches and runs tasks until ctx is cancelled, then drains: it stops
// fetching, hands back fetched tasks that have not started, and waits up to
// DrainTimeout for running handlers before cancelling them and handing
// their tasks back. It returns nil after a clean drain.
func (w *Worker) Run(ctx context.Context) error {
	queues, err := w.start()
	if err != nil {
		return err
	}
	defer w.stop()

	// Handlers get a ctx that outlives ctx until the drain timeout.
	hctx, hcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer hcancel()
	act := newActiveSet()
	hb := &heartbeat{tr: w.tr, active: act, lease: w.cfg.Lease, log: w.log}
	hbDone := hb.start(hctx)
	stopRevokes := w.revokes.startCache(hctx, w) // revoke.go
	defer stopRevokes()

	slots := make(chan struct{}, w.cfg.Concurrency)
	var wg sync.WaitGroup
	w.fetchLoop(ctx, hctx, queues, slots, act, &wg)

	err = w.drain(&wg, hcancel)
	hcancel()
	<-hbDone
	return err
}

func (w *Worker) start() ([]string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running {
		return nil, errors.New("taskgen: worker is already running")
	}
	if len(w.handlers) == 0 {
		return nil, errors.New("taskgen: worker has no registered tasks; call Register first")
	}
	if err := w.checkLimitsLocked(); err != nil {
		return nil, err
	}
	queues := slices.Clone(w.cfg.Queues)
	if len(queues) == 0 {
		seen := make(map[string]bool)
		for _, r := range w.handlers {
			seen[r.def.Queue] = true
		}
		queues = slices.Sorted(maps.Keys(seen))
	}
	if err := checkWeights(queues, w.cfg.Weights); err != nil {
		return nil, err
	}
	w.running = true
	return queues, nil
}

func (w *Worker) stop() {
	w.mu.Lock()
	w.running = false
	w.mu.Unlock()
}

// fetchLoop fills free handler slots with deliveries until ctx is done.
func (w *Worker) fetchLoop(ctx, hctx context.Context, queues []string, slots chan struct{}, act *activeSet, wg *sync.WaitGroup) {
	backoff := fetchBackoff{}
	_, buffered := w.tr.(BufferedFetcher)
	r := &runners{w: w, ctx: ctx, hctx: hctx, queues: queues, slots: slots, act: act, wg: wg, buffered: buffered, work: make(chan struct{})}
	// Slots a Fetch did not fill stay taken for the next one: giving them
	// back and taking them again would cost a channel operation each, for
	// every Fetch that returns fewer tasks than it asked for.
	held := 0
	defer func() {
		for range held {
			<-slots
		}
	}()
	for {
		// Wait for one free slot, then take every other free one, so a
		// single round trip fetches as many tasks as can start.
		if held == 0 {
			select {
			case slots <- struct{}{}:
				held = 1
			case <-ctx.Done():
				return
			}
		}
	more:
		for held < cap(slots) {
			select {
			case slots <- struct{}{}:
				held++
			default:
				break more
			}
		}
		ds, err := w.tr.Fetch(ctx, FetchRequest{Queues: fetchOrder(queues, w.cfg.Weights), Max: held, Lease: w.cfg.Lease})
		held -= len(ds)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.log.Error("taskgen: fetch failed", "queues", queues, "err", err)
			if !backoff.wait(ctx) {
				return
			}
			continue
		}
		backoff.reset()
		for _, d := range ds {
			act.add(d)
			wg.Add(1)
		}
		if len(ds) > 0 {
			r.push(ds...)
		}
	}
}

// takeBuffered leases one task the transport holds in this process, if it
// is a BufferedFetcher, has one deliverable at once, and ctx is not done.
func (w *Worker) takeBuffered(ctx context.Context, queues []string, act *activeSet, wg *sync.WaitGroup) *Delivery {
	bf, ok := w.tr.(BufferedFetcher)
	if !ok || ctx.Err() != nil {
		return nil
	}
	ds := bf.TryFetch(FetchRequest{Queues: fetchOrder(queues, w.cfg.Weights), Max: 1, Lease: w.cfg.Lease})
	if len(ds) == 0 {
		return nil
	}
	act.add(ds[0])
	wg.Add(1)
	return ds[0]
}

// drain waits for running handlers, cancelling them after DrainTimeout.
func (w *Worker) drain(wg *sync.WaitGroup, cancel context.CancelFunc) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(w.cfg.DrainTimeout)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
	}
	w.log.Warn("taskgen: drain timeout; cancelling running handlers", "timeout", w.cfg.DrainTimeout)
	cancel()
	t.Reset(abandonGrace)
	select {
	case <-done:
		return nil
	case <-t.C:
		return fmt.Errorf("taskgen: handlers still running %v after their ctx was cancelled; their leases will hand the tasks to another worker", abandonGrace)
	}
}

// handBack returns a delivery to its queue without counting an attempt,
// nor a crash (see returnedBody).
func (w *Worker) handBack(d *Delivery, env *Envelope) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := w.tr.Nack(ctx, d, NackOptions{Body: returnedBody(d, env)}); err != nil {
		w.log.Warn("taskgen: hand back failed; the lease will expire", "id", d.ID, "queue", d.Queue, "err", err)
	}
}

// fetchBackoff spaces out retries of a failing Fetch.
type fetchBackoff struct{ d time.Duration }

func (b *fetchBackoff) reset() { b.d = 0 }

func (b *fetchBackoff) wait(ctx context.Context) bool {
	b.d = min(max(2*b.d, 50*time.Millisecond), 5*time.Second)
	t := time.NewTimer(b.d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
