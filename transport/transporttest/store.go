package transporttest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/taskgen/taskgen/runtime"
)

// ignoreUpdatedAt leaves out the timestamp a store may fill in.
var ignoreUpdatedAt = cmpopts.IgnoreFields(runtime.Record{}, "UpdatedAt")

func runRecordCases(t *testing.T, factory func(t *testing.T) runtime.Store) {
	t.Run("Record", func(t *testing.T) {
		t.Parallel()

		t.Run("PutGet", func(t *testing.T) {
			t.Parallel()
			s := setupStore(t, factory)
			ctx := t.Context()
			id := queueName(t)
			if _, err := s.GetRecord(ctx, id); !errors.Is(err, runtime.ErrNotFound) {
				t.Fatalf("GetRecord of an unknown task: got %v, want runtime.ErrNotFound", err)
			}
			result := []byte(`{"n":1}`)
			want := runtime.Record{ID: id, Task: "tasks.Count", Queue: "etl", State: runtime.StateSucceeded, Attempt: 2, Result: result, Error: "earlier failure"}
			put := want
			if err := s.PutRecord(ctx, &put, 0); err != nil {
				t.Fatalf("PutRecord: %v", err)
			}
			copy(result, "XXXXXXX") // a caller reusing its buffer

			got := getRecord(t, s, id)
			want.Result = []byte(`{"n":1}`)
			if diff := cmp.Diff(&want, got, ignoreUpdatedAt); diff != "" {
				t.Fatalf("GetRecord (-want +got):\n%s", diff)
			}
			if got.UpdatedAt.IsZero() {
				t.Errorf("GetRecord: UpdatedAt not set")
			}
			// The record returned is the caller's to change.
			got.State, got.Result[0] = runtime.StateFailed, 'X'
			if again := getRecord(t, s, id); again.State != runtime.StateSucceeded || string(again.Result) != `{"n":1}` {
				t.Fatalf("changing a returned record changed the stored one: %+v", again)
			}
		})

		t.Run("ProgressKept", func(t *testing.T) {
			t.Parallel()
			s := setupStore(t, factory)
			ctx := t.Context()
			id := queueName(t)
			if err := s.SetProgress(ctx, id, "downloading", []byte(`{"pct":40}`), 0); err != nil {
				t.Fatalf("SetProgress: %v", err)
			}
			got := getRecord(t, s, id)
			if got.State != runtime.StatePending || got.Progress != "downloading" || string(got.ProgressMeta) != `{"pct":40}` {
				t.Fatalf("record after SetProgress on an unknown task = %+v, want pending with the progress", got)
			}

			for _, state := range []runtime.State{runtime.StateActive, runtime.StateSucceeded} {
				if err := s.PutRecord(ctx, &runtime.Record{ID: id, Task: "tasks.Fetch", State: state}, 0); err != nil {
					t.Fatalf("PutRecord: %v", err)
				}
				got := getRecord(t, s, id)
				if got.State != state || got.Progress != "downloading" || string(got.ProgressMeta) != `{"pct":40}` {
					t.Fatalf("record after PutRecord(%s) = %+v, want state %s with the progress kept", state, got, state)
				}
			}
		})

		// A cancel must not overwrite the outcome of a task that finished
		// meanwhile: the write is refused once the record is terminal.
		t.Run("PutUnlessTerminal", func(t *testing.T) {
			t.Parallel()
			s := setupStore(t, factory)
			ctx := t.Context()
			id := queueName(t)
			cancelled := func() *runtime.Record {
				return &runtime.Record{ID: id, Task: "tasks.Fetch", State: runtime.StateCancelled, Error: "cancelled"}
			}
			put := func(want bool) {
				t.Helper()
				ok, err := s.PutRecordUnlessTerminal(ctx, cancelled(), time.Hour)
				if err != nil || ok != want {
					t.Fatalf("PutRecordUnlessTerminal = %v, %v; want %v", ok, err, want)
				}
			}
			put(true) // no record yet
			if got := getRecord(t, s, id); got.State != runtime.StateCancelled {
				t.Fatalf("record after PutRecordUnlessTerminal on an unknown task = %+v, want cancelled", got)
			}
			put(false) // cancelled is terminal

			id = queueName(t) + ".2"
			if err := s.SetProgress(ctx, id, "half", nil, 0); err != nil {
				t.Fatal(err)
			}
			for _, state := range []runtime.State{runtime.StateActive, runtime.StateRetry} {
				if err := s.PutRecord(ctx, &runtime.Record{ID: id, State: state}, 0); err != nil {
					t.Fatal(err)
				}
			}
			put(true) // retry is not terminal
			if got := getRecord(t, s, id); got.State != runtime.StateCancelled || got.Progress != "half" {
				t.Fatalf("record after PutRecordUnlessTerminal = %+v, want cancelled with its progress kept", got)
			}

			for _, state := range []runtime.State{runtime.StateSucceeded, runtime.StateFailed, runtime.StateExpired} {
				id := queueName(t) + "." + string(state)
				if err := s.PutRecord(ctx, &runtime.Record{ID: id, State: state, Result: []byte("42")}, 0); err != nil {
					t.Fatal(err)
				}
				ok, err := s.PutRecordUnlessTerminal(ctx, &runtime.Record{ID: id, State: runtime.StateCancelled}, time.Hour)
				if err != nil || ok {
					t.Fatalf("PutRecordUnlessTerminal over a %s record = %v, %v; want false", state, ok, err)
				}
				if got := getRecord(t, s, id); got.State != state || string(got.Result) != "42" {
					t.Fatalf("record after a refused PutRecordUnlessTerminal = %+v, want the %s one", got, state)
				}
			}

			// A waiter wakes on a terminal write made this way.
			id = queueName(t) + ".wait"
			woke := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 3*eventually)
				defer cancel()
				r, err := s.WaitRecord(ctx, id)
				if err == nil && r.State != runtime.StateCancelled {
					err = fmt.Errorf("woke with %+v", r)
				}
				woke <- err
			}()
			time.Sleep(100 * time.Millisecond) // let the waiter block first
			if ok, err := s.PutRecordUnlessTerminal(ctx, &runtime.Record{ID: id, State: runtime.StateCancelled}, time.Hour); err != nil || !ok {
				t.Fatalf("PutRecordUnlessTerminal = %v, %v", ok, err)
			}
			select {
			case err := <-woke:
				if err != nil {
					t.Fatalf("WaitRecord: %v", err)
				}
			case <-time.After(eventually):
				t.Fatalf("WaitRecord still blocked %v after the record turned terminal", eventually)
			}
		})

		t.Run("WaitWakesOnTerminal", func(t *testing.T) {
			t.Parallel()
			s := setupStore(t, factory)
			ctx := t.Context()
			id := queueName(t)

			const waiters = 5
			results := make(chan *runtime.Record, waiters)
			errs := make(chan error, waiters)
			for range waiters {
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), 3*eventually)
					defer cancel()
					r, err := s.WaitRecord(ctx, id)
					if err != nil {
						errs <- err
						return
					}
					results <- r
				}()
			}
			time.Sleep(100 * time.Millisecond) // let the waiters block first
			if err := s.PutRecord(ctx, &runtime.Record{ID: id, State: runtime.StateActive}, 0); err != nil {
				t.Fatalf("PutRecord: %v", err)
			}
			select {
			case r := <-results:
				t.Fatalf("WaitRecord returned on a non-terminal record: %+v", r)
			case err := <-errs:
				t.Fatalf("WaitRecord: %v", err)
			case <-time.After(quiet):
			}

			if err := s.PutRecord(ctx, &runtime.Record{ID: id, State: runtime.StateSucceeded, Result: []byte("42")}, 0); err != nil {
				t.Fatalf("PutRecord: %v", err)
			}
			for range waiters {
				select {
				case r := <-results:
					if r.State != runtime.StateSucceeded || string(r.Result) != "42" {
						t.Fatalf("WaitRecord = %+v, want the succeeded record", r)
					}
				case err := <-errs:
					t.Fatalf("WaitRecord: %v", err)
				case <-time.After(eventually):
					t.Fatalf("WaitRecord still blocked %v after the record turned terminal", eventually)
				}
			}

			// A record already terminal returns at once.
			r, err := s.WaitRecord(ctx, id)
			if err != nil || r.State != runtime.StateSucceeded {
				t.Fatalf("WaitRecord of a finished task = %+v, %v", r, err)
			}
		})

		t.Run("WaitHonoursContext", func(t *testing.T) {
			t.Parallel()
			s := setupStore(t, factory)
			id := queueName(t)
			if err := s.PutRecord(t.Context(), &runtime.Record{ID: id, State: runtime.StateRetry}, 0); err != nil {
				t.Fatalf("PutRecord: %v", err)
			}
			for _, id := range []string{id, id + ".unknown"} {
				ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
				r, err := s.WaitRecord(ctx, id)
				cancel()
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("WaitRecord(%s) = %+v, %v; want context.DeadlineExceeded", id, r, err)
				}
			}
		})

		t.Run("TTL", func(t *testing.T) {
			t.Parallel()
			s := setupStore(t, factory)
			id := queueName(t)
			if err := s.PutRecord(t.Context(), &runtime.Record{ID: id, State: runtime.StateSucceeded}, 200*time.Millisecond); err != nil {
				t.Fatalf("PutRecord: %v", err)
			}
			waitFor(t, "record to expire", func() bool {
				_, err := s.GetRecord(t.Context(), id)
				return errors.Is(err, runtime.ErrNotFound)
			})
		})
	})
}

func getRecord(t *testing.T, s runtime.Store, id string) *runtime.Record {
	t.Helper()
	r, err := s.GetRecord(t.Context(), id)
	if err != nil {
		t.Fatalf("GetRecord(%s): %v", id, err)
	}
	return r
}

func runKVCases(t *testing.T, factory func(t *testing.T) runtime.Store) {
	t.Run("KV", func(t *testing.T) {
		t.Parallel()

		t.Run("PutGetDelete", func(t *testing.T) {
			t.Parallel()
			s := setupStore(t, factory)
			ctx := t.Context()
			key := queueName(t)
			if _, err := s.Get(ctx, key); !errors.Is(err, runtime.ErrNotFound) {
				t.Fatalf("Get of a missing key: got %v, want runtime.ErrNotFound", err)
			}
			value := []byte("one")
			if err := s.Put(ctx, key, value, 0); err != nil {
				t.Fatalf("Put: %v", err)
			}
			copy(value, "XXX") // a caller reusing its buffer
			expectValue(t, s, key, "one")
			if err := s.Put(ctx, key, []byte("two"), 0); err != nil {
				t.Fatalf("Put: %v", err)
			}
			expectValue(t, s, key, "two")
			if err := s.Delete(ctx, key); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if _, err := s.Get(ctx, key); !errors.Is(err, runtime.ErrNotFound) {
				t.Fatalf("Get after Delete: got %v, want runtime.ErrNotFound", err)
			}
			if err := s.Delete(ctx, key); err != nil {
				t.Fatalf("Delete of a missing key: %v, want no error", err)
			}
		})

		t.Run("PutNXOnce", func(t *testing.T) {
			t.Parallel()
			s := setupStore(t, factory)
			key := queueName(t)
			const racers = 50
			var (
				won  atomic.Int32
				wg   sync.WaitGroup
				errs = make(chan error, racers)
			)
			for range racers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ok, err := s.PutNX(context.Background(), key, []byte("mine"), 0)
					if err != nil {
						errs <- err
					}
					if ok {
						won.Add(1)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("PutNX: %v", err)
			}
			if n := won.Load(); n != 1 {
				t.Fatalf("%d of %d concurrent PutNX calls stored the key, want exactly 1", n, racers)
			}
			expectValue(t, s, key, "mine")
			if ok, err := s.PutNX(t.Context(), key, []byte("late"), 0); ok || err != nil {
				t.Fatalf("PutNX of a present key = %v, %v; want false, nil", ok, err)
			}
		})

		t.Run("CompareAndSwap", func(t *testing.T) {
			t.Parallel()
			s := setupStore(t, factory)
			ctx := t.Context()
			key := queueName(t)
			if ok, err := s.CompareAndSwap(ctx, key, []byte("a"), []byte("b"), 0); ok || err != nil {
				t.Fatalf("CompareAndSwap of a missing key = %v, %v; want false, nil", ok, err)
			}
			if _, err := s.Get(ctx, key); !errors.Is(err, runtime.ErrNotFound) {
				t.Fatalf("Get after a CompareAndSwap of a missing key: got %v, want runtime.ErrNotFound", err)
			}
			if err := s.Put(ctx, key, []byte("v0"), 0); err != nil {
				t.Fatalf("Put: %v", err)
			}
			if ok, err := s.CompareAndSwap(ctx, key, []byte("other"), []byte("b"), 0); ok || err != nil {
				t.Fatalf("CompareAndSwap from a value the key does not hold = %v, %v; want false, nil", ok, err)
			}
			expectValue(t, s, key, "v0")

			// Racers swapping from one value: exactly one wins.
			const racers = 50
			var (
				won    atomic.Int32
				winner atomic.Value
				wg     sync.WaitGroup
				errs   = make(chan error, racers)
			)
			for i := range racers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					v := fmt.Sprintf("v%d", i+1)
					ok, err := s.CompareAndSwap(context.Background(), key, []byte("v0"), []byte(v), 0)
					if err != nil {
						errs <- err
					}
					if ok {
						won.Add(1)
						winner.Store(v)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("CompareAndSwap: %v", err)
			}
			if n := won.Load(); n != 1 {
				t.Fatalf("%d of %d concurrent CompareAndSwap calls from one value swapped it, want exactly 1", n, racers)
			}
			expectValue(t, s, key, winner.Load().(string))

			// A swap to the same value renews its expiry, as a lock's
			// holder does.
			const ttl = 200 * time.Millisecond
			v := []byte(winner.Load().(string))
			if ok, err := s.CompareAndSwap(ctx, key, v, v, ttl); !ok || err != nil {
				t.Fatalf("CompareAndSwap of the value held = %v, %v; want true, nil", ok, err)
			}
			waitFor(t, key+" to expire", func() bool {
				_, err := s.Get(ctx, key)
				return errors.Is(err, runtime.ErrNotFound)
			})
			if ok, err := s.CompareAndSwap(ctx, key, v, v, ttl); ok || err != nil {
				t.Fatalf("CompareAndSwap of an expired key = %v, %v; want false, nil", ok, err)
			}
		})

		t.Run("CompareValues", func(t *testing.T) {
			t.Parallel()
			s := setupStore(t, factory)
			ctx := t.Context()
			key := queueName(t)

			// A counter holds its decimal text, and stays one after a
			// swap to another number.
			if _, err := s.Incr(ctx, key+".n", 9, 0); err != nil {
				t.Fatalf("Incr: %v", err)
			}
			if ok, err := s.CompareAndSwap(ctx, key+".n", []byte("9"), []byte("10"), 0); !ok || err != nil {
				t.Fatalf("CompareAndSwap of a counter from its decimal text = %v, %v; want true, nil", ok, err)
			}
			if n, err := s.Incr(ctx, key+".n", 1, 0); n != 11 || err != nil {
				t.Fatalf("Incr after the swap = %d, %v; want 11", n, err)
			}
			if ok, err := s.CompareAndDelete(ctx, key+".n", []byte("11")); !ok || err != nil {
				t.Fatalf("CompareAndDelete of a counter from its decimal text = %v, %v; want true, nil", ok, err)
			}

			// An empty value is a value; a missing key holds none.
			if ok, err := s.CompareAndSwap(ctx, key+".e", nil, []byte("x"), 0); ok || err != nil {
				t.Fatalf("CompareAndSwap of a missing key from the empty value = %v, %v; want false, nil", ok, err)
			}
			if err := s.Put(ctx, key+".e", nil, 0); err != nil {
				t.Fatalf("Put: %v", err)
			}
			if ok, err := s.CompareAndSwap(ctx, key+".e", []byte{}, []byte("x"), 0); !ok || err != nil {
				t.Fatalf("CompareAndSwap of an empty value = %v, %v; want true, nil", ok, err)
			}
			expectValue(t, s, key+".e", "x")

			// A swap without a TTL clears the expiry, as Put does.
			const ttl = 100 * time.Millisecond
			if err := s.Put(ctx, key+".t", []byte("v"), ttl); err != nil {
				t.Fatalf("Put: %v", err)
			}
			if ok, err := s.CompareAndSwap(ctx, key+".t", []byte("v"), []byte("w"), 0); !ok || err != nil {
				t.Fatalf("CompareAndSwap = %v, %v; want true, nil", ok, err)
			}
			time.Sleep(3 * ttl)
			expectValue(t, s, key+".t", "w")
		})

		t.Run("CompareAndDelete", func(t *testing.T) {
			t.Parallel()
			s := setupStore(t, factory)
			ctx := t.Context()
			key := queueName(t)
			if ok, err := s.CompareAndDelete(ctx, key, []byte("a")); ok || err != nil {
				t.Fatalf("CompareAndDelete of a missing key = %v, %v; want false, nil", ok, err)
			}
			if err := s.Put(ctx, key, []byte("mine"), time.Minute); err != nil {
				t.Fatalf("Put: %v", err)
			}
			if ok, err := s.CompareAndDelete(ctx, key, []byte("theirs")); ok || err != nil {
				t.Fatalf("CompareAndDelete of a value the key does not hold = %v, %v; want false, nil", ok, err)
			}
			expectValue(t, s, key, "mine")
			if ok, err := s.CompareAndDelete(ctx, key, []byte("mine")); !ok || err != nil {
				t.Fatalf("CompareAndDelete of the value held = %v, %v; want true, nil", ok, err)
			}
			if _, err := s.Get(ctx, key); !errors.Is(err, runtime.ErrNotFound) {
				t.Fatalf("Get after CompareAndDelete: got %v, want runtime.ErrNotFound", err)
			}
		})

		t.Run("IncrExact", func(t *testing.T) {
			t.Parallel()
			s := setupStore(t, factory)
			key := queueName(t)
			const goroutines, each = 50, 100
			var wg sync.WaitGroup
			errs := make(chan error, goroutines)
			for range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range each {
						if _, err := s.Incr(context.Background(), key, 1, 0); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatalf("Incr: %v", err)
			}
			n, err := s.Incr(t.Context(), key, -goroutines*each+7, 0)
			if err != nil || n != 7 {
				t.Fatalf("Incr after %d increments by 1, by %d = %d, %v; want 7", goroutines*each, -goroutines*each+7, n, err)
			}
			// Counters read as decimal text, as in Redis.
			expectValue(t, s, key, "7")

			if err := s.Put(t.Context(), key+".text", []byte("twelve"), 0); err != nil {
				t.Fatalf("Put: %v", err)
			}
			if _, err := s.Incr(t.Context(), key+".text", 1, 0); err == nil {
				t.Fatalf("Incr of a value that is not an integer succeeded, want an error")
			}
		})

		t.Run("TTL", func(t *testing.T) {
			t.Parallel()
			s := setupStore(t, factory)
			ctx := t.Context()
			key := queueName(t)
			const ttl = 200 * time.Millisecond
			if err := s.Put(ctx, key+".put", []byte("v"), ttl); err != nil {
				t.Fatalf("Put: %v", err)
			}
			if ok, err := s.PutNX(ctx, key+".nx", []byte("v"), ttl); !ok || err != nil {
				t.Fatalf("PutNX = %v, %v; want true, nil", ok, err)
			}
			if _, err := s.Incr(ctx, key+".incr", 5, ttl); err != nil {
				t.Fatalf("Incr: %v", err)
			}
			if err := s.Put(ctx, key+".forever", []byte("v"), 0); err != nil {
				t.Fatalf("Put: %v", err)
			}
			for _, k := range []string{key + ".put", key + ".nx", key + ".incr"} {
				waitFor(t, k+" to expire", func() bool {
					_, err := s.Get(ctx, k)
					return errors.Is(err, runtime.ErrNotFound)
				})
			}
			// Expired keys are absent to every call, not just Get.
			if ok, err := s.PutNX(ctx, key+".nx", []byte("again"), 0); !ok || err != nil {
				t.Fatalf("PutNX of an expired key = %v, %v; want true, nil", ok, err)
			}
			if n, err := s.Incr(ctx, key+".incr", 1, 0); n != 1 || err != nil {
				t.Fatalf("Incr of an expired counter = %d, %v; want 1", n, err)
			}
			expectValue(t, s, key+".forever", "v")
		})
	})
}

func expectValue(t *testing.T, s runtime.Store, key, want string) {
	t.Helper()
	got, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	if string(got) != want {
		t.Fatalf("Get(%s) = %q, want %q", key, got, want)
	}
}
