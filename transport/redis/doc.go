// Package redis is taskgen's Redis transport and store, on go-redis v9. It
// works with one Redis server and with Redis Cluster, and keeps every
// promise of the conformance suite in transport/transporttest.
//
// Open one with transport.Open(ctx, "redis://127.0.0.1:6379/0"), or with
// [Open] or [New] here. A [Transport] is both a runtime.Transport and a
// runtime.Store, and a runtime.Inspector for dead letters.
//
// The layout in Redis, the scripts and the reasons for them are in
// docs/PROTOCOL.md ("Transport mapping", "Redis"). In brief:
//
//   - A queue is ten lists of ready IDs (one per priority), a sorted set
//     of delayed IDs by ETA, a sorted set of leases (ID and token) by
//     deadline, a hash of the held messages' bodies, and one of the
//     deliveries of messages put back.
//     All of a queue's keys share the hash tag {queue}; every script
//     touches one queue, so the transport runs unchanged on Redis Cluster.
//   - Fetch is one Lua script per round trip that promotes due messages,
//     requeues lapsed leases and leases up to N messages, in strict queue
//     order. Each delivery carries a token from the queue's counter (one
//     value per fetch), and ack, nack, extend and dead-letter succeed only
//     with the current one (fencing).
//   - A consumer with nothing to fetch sleeps on Pub/Sub: publishers notify
//     a queue's channel when it turns non-empty, and the consumer's timer
//     is set to the next ETA or lease deadline. No polling.
//   - Short calls (publish, ack, nack, extend, records, keys) from
//     concurrent goroutines are sent together in pipelines, and calls of
//     the same script on the same queue run as one script.
//   - A task's record is a string with a TTL, its progress a hash beside
//     it; WaitRecord sleeps on the record's Pub/Sub channel. Keys live under one prefix (Config.Prefix,
//     or ?prefix= in the URL), so several applications can share a Redis.
package redis
