//go:build tools

// Package tools pins development dependencies; temporary.
package tools

import (
	_ "github.com/dave/jennifer/jen"
	_ "github.com/google/go-cmp/cmp"
	_ "go.uber.org/goleak"
	_ "golang.org/x/tools/go/packages"
)
