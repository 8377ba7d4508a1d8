package tasks

import (
	"context"
	"unsafe"
)

//taskgen:task
func Poke(ctx context.Context, p unsafe.Pointer) error { return nil }
