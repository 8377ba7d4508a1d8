package tasks

import "context"

type Box[T any] struct{ v T }

//taskgen:task
func (b *Box[T]) Open(ctx context.Context, id int) error { return nil }
