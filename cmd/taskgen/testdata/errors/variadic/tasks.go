package tasks

import "context"

//taskgen:task
func Tag(ctx context.Context, id int, tags ...string) error { return nil }
