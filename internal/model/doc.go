// Package model loads Go packages and builds the typed model of their
// annotated tasks that taskgen's emitters write code from.
//
// [Load] type-checks the packages with golang.org/x/tools/go/packages,
// finds the //taskgen:task directives, and checks each task against the
// rules of the annotation: a context first, serializable parameters and
// result, valid options, and generated identifiers that collide with
// nothing. Every problem is an [Error] at a position; all of them are
// returned together as an [ErrorList].
//
// Each parameter and result type becomes a [Type]: the codec shape that
// encoding/json would give it (struct members with promoted fields and tag
// names, pointers, slices, maps, and types with their own marshaling
// methods). The emitters follow these shapes and never look at the Go
// types' structure themselves. [Canonical] and [Fingerprint] describe the
// shapes of a task's schema so that a worker can refuse payloads of a
// different one.
package model
