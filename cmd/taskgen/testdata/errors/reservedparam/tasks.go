package tasks

import "context"

func init() {}

//taskgen:task
func init() {}

//taskgen:task
func Encode(ctx context.Context, marshalTask bool) error { return nil }
