package tasks

import "context"

// Half marshals itself but cannot unmarshal.
type Half struct{ v int }

func (h Half) MarshalJSON() ([]byte, error) { return []byte("1"), nil }

//taskgen:task
func Use(ctx context.Context, h Half) error { return nil }
