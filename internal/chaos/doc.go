// Package chaos is the fault-injection suite: it runs real worker
// processes (the program in ./worker) on real brokers, kills, stops,
// restarts and cuts them, and checks with a [Checker] that no task whose
// enqueue returned nil is lost.
//
// The worker processes record each completed run of a task in Redis under
// the test's key prefix ([Recorder]); the test records each enqueue and
// reads the runs back to report lost, duplicated and unexpected tasks.
//
// The scenarios, on Redis and RabbitMQ:
//
//   - TestKill9MidTask: kill -9 a worker in the middle of its tasks.
//   - TestSIGTERMDrains: SIGTERM with tasks running and prefetched.
//   - TestSIGSTOPPastLease: SIGSTOP a worker past its lease, then SIGCONT.
//   - TestBrokerRestart: private brokers restarted under load.
//   - TestConnectionCut: the workers' connections cut by a [Proxy].
//   - TestPanicDeadLetters: a handler that always panics, beside a stream.
//   - TestDelayedWithKill: delayed tasks, with a worker killed midway.
//
// `go test ./internal/chaos` runs the short versions; `make chaos` sets
// TASKGEN_CHAOS=1, which runs the long ones and TestChaosLong: up to
// TASKGEN_CHAOS_TASKS tasks (default 1,000,000) over
// TASKGEN_CHAOS_DURATION (default 10m) on TASKGEN_CHAOS_TRANSPORT (redis
// or amqp) with faults injected at random.
package chaos
