package tasks

import "context"

// TransformArgs is declared by hand, and would collide.
type TransformArgs struct{}

func Register() {}

//taskgen:task
func Transform(ctx context.Context, schema string) error { return nil }
