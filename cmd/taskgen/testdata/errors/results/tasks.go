package tasks

import "context"

//taskgen:task
func NoResult(ctx context.Context) {}

//taskgen:task
func NoError(ctx context.Context) int { return 0 }

//taskgen:task
func ThreeResults(ctx context.Context) (int, string, error) { return 0, "", nil }

//taskgen:task
func ErrorFirst(ctx context.Context) (error, int) { return nil, 0 }
