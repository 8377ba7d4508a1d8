package tasks

import "context"

//taskgen:task
func Rotate(ctx context.Context, z complex128) (complex64, error) { return 0, nil }
