// Package tasks is taskgen's example: annotated task functions, and the
// typed code that `go generate` writes beside them (tasks_taskgen.go).
//
// A mailer whose dependencies live on its receiver, an ETL pipeline whose
// steps' types line up (Extract → Transform → Load), and a numbers fan-out.
package tasks

//go:generate go run github.com/taskgen/taskgen/cmd/taskgen
