// Package transport opens a runtime.Transport from a URL, picking the
// broker by the URL's scheme:
//
//	mem://                       in-process (package memory); also a store
//	redis://host:port/db         Redis; also a store (rediss:// for TLS)
//	amqp://user:pass@host/vhost  RabbitMQ (amqps:// for TLS)
//
// The Redis and RabbitMQ schemes are reserved: until their transports are
// in, Open says so rather than treat them as unknown.
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
