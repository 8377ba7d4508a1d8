package runtime

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// KeyValue is one entry of a BulkStore write.
type KeyValue struct {
	Key   string
	Value []byte
}

// BulkStore is a Store that writes and reads many keys in one round trip.
// Submit stores a workflow's graph with it, and a join reads its members'
// results with it; the memory and Redis stores implement it. Without it,
// each key is its own round trip.
type BulkStore interface {
	Store
	// PutMany stores every entry as Put does, each for ttl.
	PutMany(ctx context.Context, entries []KeyValue, ttl time.Duration) error
	// GetMany returns the values under keys, in order; a missing key's
	// value is nil, and a present but empty one is empty, not nil.
	GetMany(ctx context.Context, keys []string) ([][]byte, error)
}

// putMany stores entries in s, in bulk when s can.
func putMany(ctx context.Context, s Store, entries []KeyValue, ttl time.Duration) error {
	if bs, ok := s.(BulkStore); ok {
		return bs.PutMany(ctx, entries, ttl)
	}
	for _, e := range entries {
		if err := s.Put(ctx, e.Key, e.Value, ttl); err != nil {
			return err
		}
	}
	return nil
}

// getMany returns the values under keys, in bulk when s can. A missing key
// is ErrNotFound, naming it.
func getMany(ctx context.Context, s Store, keys []string) ([][]byte, error) {
	if bs, ok := s.(BulkStore); ok {
		vals, err := bs.GetMany(ctx, keys)
		if err != nil {
			return nil, err
		}
		if len(vals) != len(keys) {
			return nil, fmt.Errorf("get many: %d values for %d keys", len(vals), len(keys))
		}
		for i, v := range vals {
			if v == nil {
				return nil, fmt.Errorf("%w: key %q", ErrNotFound, keys[i])
			}
		}
		return vals, nil
	}
	vals := make([][]byte, len(keys))
	for i, k := range keys {
		v, err := s.Get(ctx, k)
		if err != nil {
			return nil, err
		}
		if v == nil {
			v = []byte{}
		}
		vals[i] = v
	}
	return vals, nil
}

// publishAll publishes msgs, in one batch when tr can. A message already
// held (ErrDuplicateTask) is not an error.
func publishAll(ctx context.Context, tr Transport, msgs []*Message) error {
	var errs []error
	if bp, ok := tr.(BatchPublisher); ok && len(msgs) > 1 {
		errs = bp.PublishBatch(ctx, msgs)
	} else {
		errs = make([]error, len(msgs))
		for i, m := range msgs {
			errs[i] = tr.Publish(ctx, m)
		}
	}
	for _, err := range errs {
		if err != nil && !errors.Is(err, ErrDuplicateTask) {
			return fmt.Errorf("publish: %w", err)
		}
	}
	return nil
}
