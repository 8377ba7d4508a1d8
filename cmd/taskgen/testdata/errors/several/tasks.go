package tasks

import "context"

type Payload struct {
	Fn func()
}

//taskgen:task retries=many
func First(ctx context.Context, ch chan int, p Payload) error { return nil }

//taskgen:task
func Second(id int) error { return nil }

//taskgen:task
func Third(ctx context.Context, v any) (complex128, error) { return 0, nil }
