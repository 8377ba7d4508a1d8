package transporttest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

// runSetCases checks SetAdd, which workflow joins count on, for stores that
// run workflows (runtime.WorkflowStore).
func runSetCases(t *testing.T, factory func(t *testing.T) runtime.Store) {
	t.Run("Set", func(t *testing.T) {
		t.Parallel()
		setup := func(t *testing.T) runtime.WorkflowStore {
			ws, ok := setupStore(t, factory).(runtime.WorkflowStore)
			if !ok {
				t.Skip("the store does not run workflows")
			}
			return ws
		}

		t.Run("AddCountsMembersOnce", func(t *testing.T) {
			t.Parallel()
			s := setup(t)
			key := queueName(t)
			for i, want := range []struct {
				member string
				added  bool
				size   int64
			}{{"a", true, 1}, {"b", true, 2}, {"a", false, 2}, {"c", true, 3}} {
				added, size, err := s.SetAdd(t.Context(), key, want.member, time.Minute)
				if err != nil || added != want.added || size != want.size {
					t.Fatalf("step %d: SetAdd(%q) = %v, %d, %v; want %v, %d", i, want.member, added, size, err, want.added, want.size)
				}
			}
		})

		t.Run("ConcurrentAddsAreAtomic", func(t *testing.T) {
			t.Parallel()
			s := setup(t)
			key := queueName(t)
			const members, dup = 20, 5
			var added atomic.Int32
			var full atomic.Int32 // calls that saw the set complete
			var wg sync.WaitGroup
			for i := range members * dup {
				wg.Add(1)
				go func() {
					defer wg.Done()
					a, size, err := s.SetAdd(t.Context(), key, fmt.Sprint(i%members), time.Minute)
					if err != nil {
						t.Errorf("SetAdd: %v", err)
						return
					}
					if a {
						added.Add(1)
						if size == members {
							full.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			if added.Load() != members || full.Load() != 1 {
				t.Fatalf("%d adds were new (want %d), %d new adds completed the set (want 1)", added.Load(), members, full.Load())
			}
		})

		t.Run("Expires", func(t *testing.T) {
			t.Parallel()
			s := setup(t)
			key := queueName(t)
			if _, _, err := s.SetAdd(t.Context(), key, "a", 200*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the set to expire", func() bool {
				added, size, err := s.SetAdd(t.Context(), key, "a", time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				if added {
					return size == 1
				}
				return false
			})
		})
	})
}
