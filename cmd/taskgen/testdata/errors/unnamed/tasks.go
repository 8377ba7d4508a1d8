package tasks

import "context"

//taskgen:task
func Anonymous(context.Context, int, string) error { return nil }
