package tasks

import "context"

//taskgen:task
func Lookup(ctx context.Context, userID int64, UserID string) error { return nil }
