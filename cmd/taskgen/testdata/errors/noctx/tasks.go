package tasks

import "context"

//taskgen:task
func NoContext(id int) error { return nil }

//taskgen:task
func ContextSecond(id int, ctx context.Context) error { return nil }
