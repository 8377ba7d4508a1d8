package runtime

import (
	"context"
	"sync"
	"testing"
	"time"
)

// idleTransport is a transport whose Fetch finds nothing until ctx is
// done.
type idleTransport struct{ Transport }

func (idleTransport) Fetch(ctx context.Context, _ FetchRequest) ([]*Delivery, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// The fetch loop gives back, when it returns, the slots it took for a
// Fetch that filled none of them.
func TestFetchLoopGivesBackSlots(t *testing.T) {
	t.Parallel()
	w := NewWorker(idleTransport{}, WorkerConfig{Concurrency: 4})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	slots := make(chan struct{}, 4)
	var wg sync.WaitGroup
	w.fetchLoop(ctx, t.Context(), []string{"q"}, slots, newActiveSet(), &wg)
	wg.Wait()
	if n := len(slots); n != 0 {
		t.Errorf("the fetch loop returned with %d of %d slots taken", n, cap(slots))
	}
}
