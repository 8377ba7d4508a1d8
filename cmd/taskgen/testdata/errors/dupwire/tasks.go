package tasks

import "context"

//taskgen:task name=jobs.process
func ProcessA(ctx context.Context, id int) error { return nil }

//taskgen:task name=jobs.process
func ProcessB(ctx context.Context, id int) error { return nil }
