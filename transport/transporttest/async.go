package transporttest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

// runAsyncCases specifies EnqueueAsync, which sends a task and learns
// later whether the broker holds it: through the transport's
// runtime.AsyncPublisher when it has one, else at once through Publish.
func runAsyncCases(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	t.Run("EnqueueAsync", func(t *testing.T) {
		t.Parallel()

		// Many in flight from one goroutine: every Wait returns nil, and
		// the queue holds each task exactly once.
		t.Run("Many", func(t *testing.T) {
			t.Parallel()
			wb := setupWorker(t, factory, longLease)
			const n = 300
			pending := make([]*runtime.Pending[runtime.None], n)
			for i := range pending {
				pending[i] = runtime.EnqueueAsync(t.Context(), wb.client, runtime.NewSig(wb.task, &echoArgs{N: i}))
			}
			for i, p := range pending {
				h, err := p.Wait(t.Context())
				if err != nil {
					t.Fatalf("Wait of task %d: %v", i, err)
				}
				if h.ID() == "" {
					t.Fatalf("task %d: handle without an ID", i)
				}
			}
			wb.expectStats(t, wb.queue, runtime.QueueStats{Pending: n})
			wb.start(t)
			all := make([]int, n)
			for i := range all {
				all[i] = i
			}
			wb.awaitRuns(t, all...)
			time.Sleep(quiet)
			wb.mu.Lock()
			defer wb.mu.Unlock()
			for i := range n {
				if wb.seen[i] != 1 {
					t.Errorf("task %d ran %d times, want 1", i, wb.seen[i])
				}
			}
		})

		// Two enqueues of one ID in flight together: one is enqueued, and
		// the other's Wait says the ID is taken (which one wins is the
		// transport's business: concurrent pipelines may reorder them).
		t.Run("Duplicate", func(t *testing.T) {
			t.Parallel()
			wb := setupWorker(t, factory, longLease)
			sig := runtime.NewSig(wb.task, &echoArgs{N: 1}).With(runtime.TaskID(wb.queue + "-dup"))
			first := runtime.EnqueueAsync(t.Context(), wb.client, sig)
			second := runtime.EnqueueAsync(t.Context(), wb.client, sig)
			_, err1 := first.Wait(t.Context())
			_, err2 := second.Wait(t.Context())
			err := err2
			switch {
			case err1 == nil && err2 != nil:
			case err2 == nil && err1 != nil:
				err = err1
			default:
				t.Fatalf("Waits of two enqueues of one ID: %v and %v, want one nil and one runtime.ErrDuplicateTask", err1, err2)
			}
			if !errors.Is(err, runtime.ErrDuplicateTask) {
				t.Fatalf("the losing Wait: %v, want runtime.ErrDuplicateTask", err)
			}
			var te *runtime.TaskError
			if !errors.As(err, &te) || te.Task != wb.task.Def.Name || te.Queue != wb.queue {
				t.Errorf("the losing Wait's error %v does not name the task %q and the queue %q", err, wb.task.Def.Name, wb.queue)
			}
			wb.expectStats(t, wb.queue, runtime.QueueStats{Pending: 1})
		})

		// Enqueues nobody waits for still settle, so they never hold up
		// later ones: on RabbitMQ each holds a place in the confirm window
		// until its confirm comes, and n is more than the window of its
		// default two publishing channels (2×256).
		t.Run("NotWaited", func(t *testing.T) {
			t.Parallel()
			wb := setupWorker(t, factory, longLease)
			const n = 1000
			ctx, cancel := context.WithTimeout(t.Context(), eventually)
			defer cancel()
			for i := range n {
				_ = runtime.EnqueueAsync(ctx, wb.client, runtime.NewSig(wb.task, &echoArgs{N: i}))
			}
			if _, err := runtime.Enqueue(ctx, wb.client, wb.task, &echoArgs{N: n}); err != nil {
				t.Fatalf("Enqueue after %d enqueues not waited for: %v", n, err)
			}
			waitFor(t, fmt.Sprintf("%d pending tasks", n+1), func() bool {
				s, err := wb.tr.Stats(t.Context(), wb.queue)
				return err == nil && s.Pending == n+1
			})
		})

		// An enqueue that fails frees its unique key though nobody waits
		// to learn that it failed.
		t.Run("UniqueFreedNotWaited", func(t *testing.T) {
			t.Parallel()
			wb := setupWorker(t, factory, longLease)
			if wb.client.Store() == nil {
				t.Skip("unique keys need a store, and this transport's client has none")
			}
			taken, key := wb.queue+"-taken", wb.queue+"-unique"
			if _, err := runtime.Enqueue(t.Context(), wb.client, wb.task, &echoArgs{N: 1}, runtime.TaskID(taken)); err != nil {
				t.Fatal(err)
			}
			// Its ID is taken, so it fails, holding the key meanwhile.
			_ = runtime.EnqueueAsync(t.Context(), wb.client, runtime.NewSig(wb.task, &echoArgs{N: 2}).With(runtime.TaskID(taken), runtime.UniqueKey(key)))
			waitFor(t, "the failed enqueue's unique key to be free again", func() bool {
				_, err := runtime.Enqueue(t.Context(), wb.client, wb.task, &echoArgs{N: 3}, runtime.UniqueKey(key))
				return err == nil
			})
		})

		// A Wait whose ctx ends first returns ctx's error; a later one
		// returns the outcome.
		t.Run("WaitCancelled", func(t *testing.T) {
			t.Parallel()
			wb := setupWorker(t, factory, longLease)
			p := runtime.EnqueueAsync(t.Context(), wb.client, runtime.NewSig(wb.task, &echoArgs{N: 1}))
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			if _, err := p.Wait(ctx); err != nil && !errors.Is(err, context.Canceled) {
				t.Fatalf("Wait with a cancelled ctx: %v, want nil or context.Canceled", err)
			}
			select {
			case <-p.Done():
			case <-time.After(eventually):
				t.Fatalf("Done not closed within %v", eventually)
			}
			if _, err := p.Wait(t.Context()); err != nil {
				t.Fatalf("Wait: %v", err)
			}
		})

		// A workflow is submitted with Submit, not EnqueueAsync.
		t.Run("RejectsWorkflow", func(t *testing.T) {
			t.Parallel()
			wb := setupWorker(t, factory, longLease)
			g := runtime.Group(runtime.NewSig(wb.task, &echoArgs{N: 1}), runtime.NewSig(wb.task, &echoArgs{N: 2}))
			if _, err := runtime.EnqueueAsync(t.Context(), wb.client, g).Wait(t.Context()); err == nil {
				t.Fatalf("EnqueueAsync of a group succeeded, want an error")
			}
			wb.expectStats(t, wb.queue, runtime.QueueStats{})
		})

		// After Close, the outcome is an error, never a hang.
		t.Run("Closed", func(t *testing.T) {
			t.Parallel()
			wb := setupWorker(t, factory, longLease)
			if err := wb.tr.Close(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), eventually)
			defer cancel()
			p := runtime.EnqueueAsync(ctx, wb.client, runtime.NewSig(wb.task, &echoArgs{N: 1}))
			if _, err := p.Wait(ctx); err == nil || errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Wait after Close: %v, want the transport's error", err)
			}
		})
	})
}
