package tasks

import "context"

//taskgen:task
func Report(ctx context.Context, cause error) error { return nil }
