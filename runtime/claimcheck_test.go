package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

type blobArgs struct {
	Data string `json:"data"`
}

func (a *blobArgs) MarshalTask() ([]byte, error)    { return json.Marshal(a) }
func (a *blobArgs) UnmarshalTask(data []byte) error { return json.Unmarshal(data, a) }

// Arguments over the limit travel through the store (claim-check), are
// read back by the worker, survive a retry, and are deleted on success.
func TestClaimCheck(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	c := runtime.NewClient(b.tr, runtime.WithMaxPayload(1024))
	task := newTask("test.Blob", "blobs", 1)
	var runs atomic.Int32
	if err := runtime.Register(b.w, task, func(_ context.Context, a *blobArgs) (int, error) {
		if runs.Add(1) == 1 {
			return 0, errors.New("first attempt fails")
		}
		return len(a.Data), nil
	}); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 100<<10)
	h, err := runtime.Enqueue(t.Context(), c, task, &blobArgs{Data: big})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := b.tr.Fetch(t.Context(), runtime.FetchRequest{Queues: []string{"blobs"}, Max: 1})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ds[0].Body); n > 1024 {
		t.Fatalf("the message carries %d bytes; the payload was not offloaded", n)
	}
	if err := b.tr.Nack(t.Context(), ds[0], runtime.NackOptions{}); err != nil {
		t.Fatal(err)
	}
	key := "payload:" + h.ID()
	if _, err := b.tr.Get(t.Context(), key); err != nil {
		t.Fatalf("payload not in the store under %s: %v", key, err)
	}

	b.start(t)
	if got, err := h.Get(waitCtx(t)); err != nil || got != len(big) {
		t.Fatalf("Get = %d, %v; want %d", got, err, len(big))
	}
	// The worker deletes the payload after it stores the result and acks,
	// so the handle may see the result first.
	for deadline := time.Now().Add(eventually); ; time.Sleep(5 * time.Millisecond) {
		_, err := b.tr.Get(t.Context(), key)
		if errors.Is(err, runtime.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the payload is still in the store %v after success: %v", eventually, err)
		}
	}
	// Small payloads stay in the message.
	small, err := runtime.Enqueue(t.Context(), c, task, &blobArgs{Data: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.tr.Get(t.Context(), "payload:"+small.ID()); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("a small payload was offloaded: %v", err)
	}
}

func TestClaimCheckNeedsStore(t *testing.T) {
	t.Parallel()
	b := setup(t, runtime.WorkerConfig{})
	c := runtime.NewClient(b.tr, runtime.WithStore(nil), runtime.WithMaxPayload(10))
	_, err := runtime.Enqueue(t.Context(), c, newTask("test.Blob", "blobs", 0), &blobArgs{Data: strings.Repeat("x", 100)})
	if !errors.Is(err, runtime.ErrNoStore) {
		t.Fatalf("Enqueue = %v, want ErrNoStore", err)
	}
}
