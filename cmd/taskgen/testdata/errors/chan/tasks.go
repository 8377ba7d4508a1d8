package tasks

import "context"

//taskgen:task
func SendWelcome(ctx context.Context, userID int64, ch chan int) error { return nil }
