package tasks

import "context"

//taskgen:task
func Process[T any](ctx context.Context, item T) error { return nil }
