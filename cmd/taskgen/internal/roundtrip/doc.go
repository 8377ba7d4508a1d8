// Package roundtrip holds tasks whose generated codec is fuzzed against
// encoding/json and benchmarked. Its roundtrip_taskgen.go is committed;
// the golden test checks that it is up to date.
package roundtrip

//go:generate go run github.com/taskgen/taskgen/cmd/taskgen
