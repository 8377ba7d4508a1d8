package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/taskgen/taskgen/runtime"
)

var _ runtime.BulkStore = (*Transport)(nil)

// bulkChunk bounds the commands of one bulk pipeline, so that a huge
// workflow does not hold one connection's buffers for too long.
const bulkChunk = 4096

// PutMany stores every entry under its key for ttl (zero: no expiry), as
// Put does, in pipelines of plain SETs. On Redis Cluster the client sends
// each key to its node; a workflow's keys share a hash tag, so they go to
// one.
func (t *Transport) PutMany(ctx context.Context, entries []runtime.KeyValue, ttl time.Duration) error {
	if t.closed.Load() {
		return runtime.ErrClosed
	}
	for start := 0; start < len(entries); start += bulkChunk {
		part := entries[start:min(start+bulkChunk, len(entries))]
		pipe := t.client.Pipeline()
		for _, e := range part {
			pipe.Set(ctx, t.keys.kv(e.Key), nonNil(e.Value), ttl)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("taskgen: redis: put %d keys from %q: %w", len(part), part[0].Key, err)
		}
	}
	return nil
}

// GetMany returns the values under keys, in order, in pipelines of plain
// GETs; a missing key's value is nil.
func (t *Transport) GetMany(ctx context.Context, keys []string) ([][]byte, error) {
	if t.closed.Load() {
		return nil, runtime.ErrClosed
	}
	out := make([][]byte, len(keys))
	for start := 0; start < len(keys); start += bulkChunk {
		part := keys[start:min(start+bulkChunk, len(keys))]
		pipe := t.client.Pipeline()
		cmds := make([]*goredis.StringCmd, len(part))
		for i, k := range part {
			cmds[i] = pipe.Get(ctx, t.keys.kv(k))
		}
		_, _ = pipe.Exec(ctx) // each command carries its own error
		for i, cmd := range cmds {
			b, err := cmd.Bytes()
			switch {
			case errors.Is(err, goredis.Nil):
			case err != nil:
				return nil, fmt.Errorf("taskgen: redis: get key %q: %w", part[i], err)
			default:
				if b == nil {
					b = []byte{}
				}
				out[start+i] = b
			}
		}
	}
	return out, nil
}
