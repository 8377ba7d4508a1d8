package tasks

import "context"

type User struct {
	Name     string `json:"name"`
	password string
	token    string `json:"-"`
}

//taskgen:task
func Save(ctx context.Context, u User) error { return nil }
