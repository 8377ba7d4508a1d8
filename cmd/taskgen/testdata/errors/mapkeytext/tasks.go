package tasks

import (
	"context"
	"strings"
)

type Name string

func (n Name) MarshalText() ([]byte, error) { return []byte(strings.ToUpper(string(n))), nil }

func (n *Name) UnmarshalText(b []byte) error { *n = Name(strings.ToLower(string(b))); return nil }

//taskgen:task
func Greet(ctx context.Context, byName map[Name]int) error { return nil }
