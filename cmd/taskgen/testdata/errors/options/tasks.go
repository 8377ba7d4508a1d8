package tasks

import "context"

//taskgen:task queue=emails colour=blue
func Unknown(ctx context.Context) error { return nil }

//taskgen:task priority=12 retries=-1 backoff=5m..1s timeout=0s rate=10/d concurrency=0 expires=soon
func BadValues(ctx context.Context) error { return nil }

//taskgen:task queue=a queue=b
func Duplicate(ctx context.Context) error { return nil }

//taskgen:task queue
func MissingEquals(ctx context.Context) error { return nil }
