// Package amqp is taskgen's RabbitMQ transport, on amqp091-go. It keeps
// every promise of the conformance suite in transport/transporttest.
//
// Open one with transport.Open(ctx, "amqp://user:pass@host:5672/vhost"),
// or with [Open] or [New] here. RabbitMQ keeps no results: give the
// transport a store (Config.Store, or ?store=redis://… in transport.Open)
// and use [Transport.WithStore], and clients and workers find it. Without
// one, Handle.Get and workflows return runtime.ErrNoStore.
//
// The mapping onto RabbitMQ is specified in docs/PROTOCOL.md ("Transport
// mapping", "AMQP"). In brief:
//
//   - Publish waits for the publisher confirm of its own message; concurrent
//     publishes share a few confirm-mode channels, each with a window of
//     unconfirmed messages. Messages are persistent and mandatory: an
//     unroutable one is ErrUnroutable, a negative confirm ErrNacked, a
//     connection lost before the confirm ErrUnconfirmed.
//   - Each taskgen queue is a durable quorum queue per priority (the
//     default; RabbitMQ 3.10 quorum queues have no priorities), or one
//     classic queue with x-max-priority 9, plus a ladder of delay queues
//     whose TTL dead-letters into the work queue, and a dead-letter queue
//     fed by the dead-letter exchange. Objects are declared on first use.
//   - Fetch hands out what per-queue consumers prefetched, in strict queue
//     and priority order. A delivery's lease is kept in the process; when
//     it lapses the message is rejected back to its queue, and when the
//     connection dies the broker requeues it. A stale settle returns
//     runtime.ErrLeaseLost.
//   - Two connections, one to publish and one to consume, each redialled
//     with backoff; queues are declared again and consumers resumed. While
//     the broker blocks publishers, Publish waits for its ctx.
package amqp
