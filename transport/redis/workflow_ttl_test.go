package redis_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
	"github.com/taskgen/taskgen/transport/redis"
)

// ttlArgs is the payload of the TTL test's tasks; Pad makes it large
// enough to be stored by reference.
type ttlArgs struct {
	A   int    `json:"a"`
	Xs  []int  `json:"xs,omitempty"`
	Pad string `json:"pad,omitempty"`
}

func (a *ttlArgs) MarshalTask() ([]byte, error)    { return json.Marshal(a) }
func (a *ttlArgs) UnmarshalTask(data []byte) error { return json.Unmarshal(data, a) }

func ttlTask(name, queue string) *runtime.Task[int] {
	return &runtime.Task[int]{
		Def:             runtime.TaskDef{Name: name, Queue: queue, Priority: runtime.DefaultPriority, Fingerprint: "fp-" + name},
		MarshalResult:   func(v int) ([]byte, error) { return json.Marshal(v) },
		UnmarshalResult: func(b []byte) (v int, err error) { err = json.Unmarshal(b, &v); return v, err },
	}
}

// Every key a workflow leaves in the store expires: its graph, results,
// joins and claims, the records of its tasks and nodes, an offloaded
// payload that never ran, a failure mark and a revoke mark. Only the queue's own keys
// stay.
func TestWorkflowKeysExpire(t *testing.T) {
	t.Parallel()
	client := newClient(t)
	prefix := uniquePrefix(t)
	tr := newTransport(t, client, redis.Config{Prefix: prefix})
	queue := "ttl"
	val, sum, fail := ttlTask("ttl.Val", queue), ttlTask("ttl.Sum", queue), ttlTask("ttl.Fail", queue)
	w := runtime.NewWorker(tr, runtime.WorkerConfig{Queues: []string{queue}, Concurrency: 4, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	for task, fn := range map[*runtime.Task[int]]func(context.Context, *ttlArgs) (int, error){
		val: func(_ context.Context, a *ttlArgs) (int, error) { return a.A, nil },
		sum: func(_ context.Context, a *ttlArgs) (int, error) {
			total := 0
			for _, x := range a.Xs {
				total += x
			}
			return total, nil
		},
		fail: func(_ context.Context, a *ttlArgs) (int, error) { return 0, runtime.Permanent(errors.New("no")) },
	} {
		if err := runtime.Register(w, task, fn); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("worker Run: %v", err)
		}
	}()

	c := runtime.NewClient(tr)
	sumStep := runtime.NewStep(sum, "xs", &ttlArgs{}, func(xs []int) ([]byte, error) { return json.Marshal(xs) })
	big := strings.Repeat("x", runtime.DefaultMaxPayload+1)
	ok, err := runtime.Submit(ctx, c, runtime.Then(
		runtime.Chord([]runtime.Sig[int]{runtime.NewSig(val, &ttlArgs{A: 1}), runtime.NewSig(val, &ttlArgs{A: 2, Pad: big})}, sumStep),
		runtime.NewStep(val, "a", &ttlArgs{}, func(v int) ([]byte, error) { return json.Marshal(v) })))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ok.Get(ctx); err != nil || got != 3 {
		t.Fatalf("Get = %d, %v; want 3", got, err)
	}
	failed, err := runtime.Submit(ctx, c, runtime.Group(runtime.NewSig(val, &ttlArgs{A: 1}), runtime.NewSig(fail, &ttlArgs{})))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := failed.Get(ctx); err == nil {
		t.Fatal("the failing workflow succeeded")
	}
	// On a queue no worker serves, its payload stored by reference: the
	// worker deletes a payload it has run.
	cancelled, err := runtime.Submit(ctx, c, runtime.NewSig(val, &ttlArgs{A: 1, Pad: big}).With(runtime.Queue(queue+".idle")))
	if err != nil {
		t.Fatal(err)
	}
	if err := cancelled.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cancelled.Get(ctx); !errors.Is(err, runtime.ErrCancelled) {
		t.Fatalf("Get = %v, want cancelled", err)
	}
	// The failing group's other member may still be settling.
	time.Sleep(200 * time.Millisecond)

	var keys []string
	iter := client.Scan(ctx, 0, prefix+":*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{ // kinds of key that must be there
		":kv:wf:{" + ok.ID() + "}:n:0":        false, // graph
		":kv:wf:{" + ok.ID() + "}:r:":         false, // results
		":kv:wf:{" + ok.ID() + "}:j:":         false, // a join
		":kv:wf:{" + ok.ID() + "}:s:":         false, // a start claim
		":rec:{" + ok.ID() + "}":              false, // the workflow's record
		":rec:{" + ok.ID() + ".":              false, // a task's or node's record
		":kv:wf:{" + failed.ID() + "}:failed": false,
		":rec:{" + failed.ID() + "}":          false,
		":kv:payload:" + cancelled.ID():       false, // an offloaded payload
		":kv:revoke:{" + cancelled.ID() + "}": false,
		":rec:{" + cancelled.ID() + "}":       false,
	}
	for _, k := range keys {
		if strings.HasPrefix(k, prefix+":{") {
			continue // the queues' keys
		}
		ttl, err := client.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl <= 0 {
			t.Errorf("key %s has no expiry (PTTL %v)", k, ttl)
		}
		for kind := range want {
			if strings.HasPrefix(k, prefix+kind) {
				want[kind] = true
			}
		}
	}
	for kind, seen := range want {
		if !seen {
			t.Errorf("no key %s*: the test does not see what it checks (keys: %v)", kind, keys)
		}
	}
}
