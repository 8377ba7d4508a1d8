// Package transport opens a runtime.Transport from a URL, picking the
// broker by the URL's scheme:
//
//	mem://                            in-process (package memory); also a store
//	redis://host:port/db?prefix=app   Redis (package redis); also a store (rediss:// for TLS)
//	redis+cluster://host:port,...     Redis Cluster, by its seed nodes (rediss+cluster:// for TLS)
//	amqp://user:pass@host/vhost       RabbitMQ (package amqp; amqps:// for TLS)
//
// RabbitMQ keeps no results: name a store with the store option, as in
// amqp://host/vhost?store=redis://127.0.0.1:6379/0 (percent-encode a store
// URL that has options of its own), and the transport Open returns is also
// that runtime.Store.
//
// The broker packages are imported here, so a program needs no blank
// imports: one call to [Open] is enough.
//
//	tr, err := transport.Open(ctx, os.Getenv("TASKGEN_BROKER"))
//	if err != nil {
//		return err
//	}
//	defer tr.Close()
//
// Every transport passes the conformance suite in package transporttest.
package transport
