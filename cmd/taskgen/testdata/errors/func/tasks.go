package tasks

import "context"

//taskgen:task
func Notify(ctx context.Context, callback func(string) error) error { return nil }
