package tasks

import "context"

type A struct {
	Name string `json:"name"`
}

type B struct {
	Name string `json:"name"`
}

type Both struct {
	A
	B
	ID    int `json:"id"`
	Other int `json:"id"`
}

//taskgen:task
func Merge(ctx context.Context, both Both) error { return nil }
