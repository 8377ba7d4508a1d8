package tasks

import "context"

type Mailer struct{}

type Texter struct{}

//taskgen:task
func (m *Mailer) Send(ctx context.Context, to string) error { return nil }

//taskgen:task
func (t *Texter) Send(ctx context.Context, to string) error { return nil }
