package transporttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/taskgen/taskgen/runtime"
)

// publishSpy is a transport and workflow store that keeps a copy of every
// message published through it.
type publishSpy struct {
	runtime.Transport
	runtime.WorkflowStore
	mu   sync.Mutex
	msgs []*runtime.Message
}

func (s *publishSpy) Publish(ctx context.Context, m *runtime.Message) error {
	s.mu.Lock()
	c := *m
	c.Body = bytes.Clone(m.Body)
	s.msgs = append(s.msgs, &c)
	s.mu.Unlock()
	return s.Transport.Publish(ctx, m)
}

func (s *publishSpy) published() []*runtime.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

// A stage pipeline: a chain of groups, each stage's tasks in parallel and
// the stages one after another, then a completion task. The stages are in
// the store; each message carries its own task's arguments, the workflow
// ID and its node ID, and nothing of the other stages.
func testWorkflowStagePipeline(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	var spy *publishSpy
	b := setupFlowWith(t, factory, flowConfig{wrap: func(tr runtime.Transport) runtime.Transport {
		spy = &publishSpy{Transport: tr, WorkflowStore: tr.(runtime.WorkflowStore)}
		return spy
	}})
	stage := func(first, n int) runtime.Sig[[]int] {
		sigs := make([]runtime.Sig[int], n)
		for i := range sigs {
			sigs[i] = b.addSig(first+i, 100)
		}
		return runtime.Group(sigs...)
	}
	// Stage 1: 1..3, stage 2: 4..7, stage 3: 8..9 (each plus 100); the
	// completion task sums the last stage's results.
	sig := runtime.Then(runtime.Seq(runtime.Seq(stage(1, 3), stage(4, 4)), stage(8, 2)), b.sumStep())
	h := submit(t, b, sig)
	got, err := h.Get(waitCtx(t))
	if err != nil || got != 108+109 {
		t.Fatalf("Get = %d, %v; want %d", got, err, 108+109)
	}

	// The stages ran in order, each whole before the next began.
	b.mu.Lock()
	runs := slices.Clone(b.runs)
	b.mu.Unlock()
	stageOf := func(run string) int {
		var a addArgs
		if !strings.HasPrefix(run, "add") {
			return 4
		}
		if err := a.UnmarshalTask([]byte(strings.TrimPrefix(run, "add"))); err != nil {
			t.Fatalf("run %s: %v", run, err)
		}
		switch {
		case a.A <= 3:
			return 1
		case a.A <= 7:
			return 2
		}
		return 3
	}
	if len(runs) != 10 || !slices.IsSortedFunc(runs, func(x, y string) int { return stageOf(x) - stageOf(y) }) {
		t.Fatalf("runs %v: want 3, 4 and 2 stage tasks, stage by stage, then the completion task", runs)
	}

	// The messages: one per task, each with only its own arguments.
	msgs := spy.published()
	if len(msgs) != 10 {
		t.Fatalf("%d messages published, want 10", len(msgs))
	}
	for _, m := range msgs {
		env, err := runtime.DecodeEnvelope(m.Body)
		if err != nil {
			t.Fatalf("message %s: %v", m.ID, err)
		}
		if env.WorkflowID != h.ID() || env.NodeID == "" {
			t.Fatalf("message %s: workflow %q node %q, want workflow %s and a node", m.ID, env.WorkflowID, env.NodeID, h.ID())
		}
		want := ""
		switch env.Task {
		case b.add.Def.Name:
			var a addArgs
			if err := a.UnmarshalTask(env.Payload); err != nil || a.B != 100 {
				t.Fatalf("message %s: payload %s", m.ID, env.Payload)
			}
			want = fmt.Sprintf(`{"a":%d,"b":100}`, a.A)
		case b.sum.Def.Name:
			want = `{"xs":[108,109]}`
		default:
			t.Fatalf("message %s: task %s", m.ID, env.Task)
		}
		if string(env.Payload) != want {
			t.Fatalf("message %s: payload %s, want %s", m.ID, env.Payload, want)
		}
		for _, other := range []string{b.sum.Def.Name, "children", `"kind"`} {
			if env.Task != other && bytes.Contains(m.Body, []byte(other)) {
				t.Fatalf("message %s of task %s mentions %s: %s", m.ID, env.Task, other, m.Body)
			}
		}
	}
	// The graph is in the store, under the workflow's hash tag.
	if v, err := spy.Get(t.Context(), "wf:{"+h.ID()+"}:n:0"); err != nil || !bytes.Contains(v, []byte("children")) {
		t.Fatalf("the workflow's root node in the store: %s, %v", v, err)
	}
}

// hangBound is how long any failed or cancelled workflow may take to
// return its error: a hang fails the case after it, not after the test's
// timeout.
const hangBound = eventually

// Every failure shape returns an error from Get, bounded by ctx.
func testWorkflowNoHangs(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	b := setupFlow(t, factory)
	failStep := runtime.NewStep(b.fail, "a", &addArgs{}, marshalJSON[int])
	cb := runtime.NewStep(b.cbFail, "f", &failureArgs{}, marshalJSON[runtime.Failure])
	get := func(sig runtime.Sig[int]) func(context.Context) error {
		return func(ctx context.Context) error { _, err := submit(t, b, sig).Get(ctx); return err }
	}
	nested := runtime.Group(runtime.Group(b.addSig(3, 0)), runtime.Group(b.addSig(1, 0), b.failSig(12)))
	cases := []struct {
		name string
		get  func(context.Context) error
		want string // in the error
	}{
		{"chain", get(runtime.Then(runtime.Then(b.addSig(1, 1), failStep), b.mulStep(2))), "cannot do 2"},
		{"chord member", get(runtime.Chord([]runtime.Sig[int]{b.addSig(1, 0), b.failSig(11), b.addSig(2, 0)}, b.sumStep())), "cannot do 11"},
		{"nested group", func(ctx context.Context) error {
			_, err := submit(t, b, runtime.Seq(nested, b.addSig(5, 5))).Get(ctx)
			return err
		}, "cannot do 12"},
		{"chord in chord header", get(runtime.Chord([]runtime.Sig[int]{runtime.Chord([]runtime.Sig[int]{b.failSig(13)}, b.sumStep()), b.addSig(1, 0)}, b.sumStep())), "cannot do 13"},
		{"map", get(runtime.Then(runtime.Map(failStep, []int{14, 15}), b.sumStep())), "cannot do 1"},
		{"chunks", get(runtime.Then(runtime.Chunks(failStep, []int{16, 17, 18}, 2), b.sumStep())), "cannot do 1"},
		{"failing error callback", get(runtime.OnError(runtime.Then(b.failSig(19), b.mulStep(2)), cb)), "cannot do 19"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), hangBound)
			defer cancel()
			err := tc.get(ctx)
			switch {
			case errors.Is(err, context.DeadlineExceeded):
				t.Fatalf("Get still waiting after %v", hangBound)
			case err == nil || !strings.Contains(err.Error(), tc.want):
				t.Fatalf("Get = %v, want an error containing %q", err, tc.want)
			}
			asTaskError(t, err)
		})
	}
	t.Run("failing error callback ran", func(t *testing.T) {
		t.Parallel()
		h := submit(t, b, runtime.OnError(b.failSig(20), cb))
		ctx, cancel := context.WithTimeout(t.Context(), hangBound)
		defer cancel()
		if _, err := h.Get(ctx); err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Get = %v", err)
		}
		waitFor(t, "the failing callback to run", func() bool { return b.ran(`cbfail"flow.Fail"`) >= 1 })
	})
	t.Run("cancelled", func(t *testing.T) {
		t.Parallel()
		// Not started yet: the first step waits behind nothing, but the
		// cancel comes first or the step is cancelled while it runs.
		h := submit(t, b, runtime.Then(runtime.Then(runtime.NewSig(b.block, &addArgs{A: 21}), b.mulStep(2)), b.addStep(1)))
		if err := h.Cancel(t.Context()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), hangBound)
		defer cancel()
		if _, err := h.Get(ctx); !errors.Is(err, runtime.ErrCancelled) {
			t.Fatalf("Get = %v, want runtime.ErrCancelled", err)
		}
	})
}
