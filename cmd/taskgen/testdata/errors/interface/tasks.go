package tasks

import (
	"context"
	"fmt"
)

//taskgen:task
func Log(ctx context.Context, v any, s fmt.Stringer) error { return nil }
