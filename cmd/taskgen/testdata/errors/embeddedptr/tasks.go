package tasks

import "context"

type Base struct{ ID int }

type Item struct {
	*Base
	Name string
}

//taskgen:task
func Put(ctx context.Context, item Item) error { return nil }
