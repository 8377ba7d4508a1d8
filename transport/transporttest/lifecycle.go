package transporttest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

func runLifecycleCases(t *testing.T, factory func(t *testing.T) runtime.Transport) {
	t.Run("Lifecycle", func(t *testing.T) {
		t.Parallel()

		t.Run("StatsOfUnknownQueue", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			b.expectStats(t, b.queue+".never.used", runtime.QueueStats{})
		})

		t.Run("ClosedRejectsCalls", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			if err := b.tr.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := b.tr.Publish(t.Context(), b.msg(1)); !errors.Is(err, runtime.ErrClosed) {
				t.Fatalf("Publish after Close: got %v, want runtime.ErrClosed", err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), eventually)
			defer cancel()
			if _, err := b.tr.Fetch(ctx, runtime.FetchRequest{Queues: []string{b.queue}, Max: 1}); !errors.Is(err, runtime.ErrClosed) {
				t.Fatalf("Fetch after Close: got %v, want runtime.ErrClosed", err)
			}
			// The suite closes it again at the end of the case.
		})

		t.Run("CloseReleasesFetch", func(t *testing.T) {
			t.Parallel()
			b := setup(t, factory)
			done := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 3*eventually)
				defer cancel()
				_, err := b.tr.Fetch(ctx, runtime.FetchRequest{Queues: []string{b.queue}, Max: 1})
				done <- err
			}()
			time.Sleep(100 * time.Millisecond) // let Fetch block first
			if err := b.tr.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			select {
			case err := <-done:
				if err == nil {
					t.Fatalf("Fetch blocked at Close returned no error")
				}
			case <-time.After(eventually):
				t.Fatalf("Fetch still blocked %v after Close", eventually)
			}
		})
	})
}
