// Package chaos is the fault-injection suite: it runs real worker
// processes (the program in ./worker) on real brokers, kills, stops,
// restarts and cuts them, and checks with a [Checker] that no task whose
// enqueue returned nil is lost.
//
// The worker processes record each completed run of a task in Redis under
// the test's key prefix ([Recorder]); the test records each enqueue and
// reads the runs back to report lost, duplicated and unexpected tasks.
//
// `go test ./internal/chaos` runs the short scenarios; `make chaos` runs
// the long one (TestChaosLong, gated by TASKGEN_CHAOS=1).
package chaos
