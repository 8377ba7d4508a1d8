package tasks

import "context"

type Inner struct{ Tags []string }

type Outer struct {
	In Inner `json:"in,omitzero"`
}

//taskgen:task
func Keep(ctx context.Context, o Outer) error { return nil }
