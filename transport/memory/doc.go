// Package memory is taskgen's in-process transport and store: the default
// for development, demos and tests. Nothing survives the process; for that,
// use Redis or RabbitMQ through transport.Open.
//
// A [Transport] implements both runtime.Transport and runtime.Store, and
// keeps every promise of the conformance suite in transport/transporttest:
//
//   - Queues hold ten priority lists; Fetch serves its queues in the order
//     given, and within a queue the highest priority first, FIFO among
//     equals.
//   - A message with an ETA waits in a heap keyed by ETA and becomes ready
//     when it is due, never before.
//   - Every delivery is leased. When a lease lapses the message is ready
//     again, and the old delivery can no longer ack, nack, extend or
//     dead-letter it: each delivery carries its own lease token.
//   - Fetch blocks without polling. A message that becomes ready wakes one
//     blocked consumer of its queue; a single timer wakes them at the next
//     ETA or lease deadline.
//   - WaitRecord sleeps until PutRecord writes a terminal state.
//   - Keys and records with a TTL read as absent once expired, and are swept
//     by sampling on later writes.
//
// The transport keeps no goroutine running; Close releases blocked
// callers. Published bodies and stored values are copied, so callers may
// reuse their buffers. A delivery's Body is shared with the transport and
// must be treated as read-only.
//
// Most programs get one through transport.Open(ctx, "mem://"); tests may
// call [New] directly.
package memory
