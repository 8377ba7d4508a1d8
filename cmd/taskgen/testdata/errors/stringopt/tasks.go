package tasks

import "context"

type Row struct {
	ID int64 `json:"id,string"`
}

//taskgen:task
func Insert(ctx context.Context, row Row) error { return nil }
