package tasks

import "context"

type Svc struct{}

type PSvc *Svc

//taskgen:task
func (p PSvc) Do(ctx context.Context, id int) error { return nil }
