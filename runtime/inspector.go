package runtime

import "context"

// Inspector manages a transport's dead letters, which Transport.DeadLetters
// lists, and the global rate limits of its tasks. The memory, Redis and RabbitMQ transports implement it; reach it
// with a type assertion:
//
//	if in, ok := tr.(runtime.Inspector); ok {
//		n, err := in.PurgeDeadLetters(ctx, "emails")
//	}
//
// ListDeadLetters and GetDeadLetter read dead letters with their error
// history and arguments, and RequeueDeadLetters requeues all that match a
// filter; the `taskgen dlq` command does the same from a shell. Every
// implementation passes the inspector cases of transport/transporttest.
type Inspector interface {
	// RequeueDeadLetter puts the dead letter id of queue back on queue,
	// ready at once with the priority it had, as a new message: its
	// Deliveries count starts again. The body is the one recorded, so a
	// task keeps the attempts its envelope counts. It returns ErrNotFound
	// when queue has no dead letter id, and ErrDuplicateTask when the
	// transport already holds a task with that ID; the dead letter stays
	// in both cases.
	RequeueDeadLetter(ctx context.Context, queue, id string) error
	// PurgeDeadLetters deletes every dead letter of queue and returns how
	// many there were.
	PurgeDeadLetters(ctx context.Context, queue string) (int, error)
	// SetRateLimit sets the global rate limit of the task named task (its
	// wire name), as SetRateLimit does on the transport's store: over the
	// annotation's rate=, picked up within a second by every worker that
	// keeps its limits in that store (a worker's default store is its
	// transport, or on RabbitMQ give it WorkerConfig.Store).
	// Unlimited lifts the limit; the zero Rate goes back to the
	// annotation's. A transport with no store returns ErrNoStore.
	SetRateLimit(ctx context.Context, task string, r Rate) error
}
