package tasks

import "context"

type Money struct{ Cents int64 }

func (m *Money) MarshalJSON() ([]byte, error) { return []byte("0"), nil }

func (m *Money) UnmarshalJSON(b []byte) error { return nil }

//taskgen:task
func Charge(ctx context.Context, amounts map[string]Money, total Money) error { return nil }
