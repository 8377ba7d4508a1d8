package tasks

import "context"

type Octet uint8

//taskgen:task
func Send(ctx context.Context, data []Octet) error { return nil }
