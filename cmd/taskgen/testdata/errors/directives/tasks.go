package tasks

import "context"

//taskgen:task
type NotAFunc struct{}

//taskgen:tsak
func Typo(ctx context.Context) error { return nil }

func Inside(ctx context.Context) error {
	//taskgen:task
	return nil
}
