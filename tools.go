//go:build tools

// Package tools pins development dependencies; temporary.
package tools

import (
	_ "github.com/dave/jennifer/jen"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/rabbitmq/amqp091-go"
	_ "github.com/redis/go-redis/v9"
	_ "go.uber.org/goleak"
	_ "golang.org/x/tools/go/packages"
)
