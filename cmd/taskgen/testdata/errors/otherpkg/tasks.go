package tasks

import (
	"context"

	"taskgen.test/errors/otherpkg/hidden"
)

//taskgen:task
func Wrap(ctx context.Context, w hidden.Wrapper) error { return nil }
