package tasks

import "context"

//taskgen:task
func Blank(ctx context.Context, _ int, name string) error { return nil }
