package tasks

import "context"

type Point struct{ X, Y int }

//taskgen:task
func Plot(ctx context.Context, weights map[float64]string, cells map[Point]bool) error { return nil }
