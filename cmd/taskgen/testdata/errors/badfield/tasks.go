package tasks

import "context"

type Job struct {
	Name string `json:"name"`
	Done chan struct{}
	Skip chan int `json:"-"`
}

//taskgen:task
func Run(ctx context.Context, job Job) error { return nil }
