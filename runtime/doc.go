// Package runtime is what taskgen's generated code and its users import.
//
// It holds the task descriptor ([Task], [TaskDef]), the [Client] that
// enqueues tasks, the [Worker] that runs them, typed result handles
// ([Handle]), the per-call options, the errors a handler can return
// ([Permanent], [RetryAfter]) and the workflow types ([Sig], [Step]).
//
// Brokers plug in through two seams: a [Transport] moves messages with
// leases, and a [Store] keeps results, progress and workflow state. Open one
// from a URL with the transport package:
//
//	tr, err := transport.Open(ctx, "mem://")
//	c := runtime.NewClient(tr)
//	h, err := tasks.EnqueueSendWelcome(ctx, c, 42, "a@example.com")
//
//	w := runtime.NewWorker(tr, runtime.WorkerConfig{Queues: []string{"emails"}})
//	tasks.Register(w)
//	err = w.Run(ctx) // cancel ctx for a graceful drain
package runtime
