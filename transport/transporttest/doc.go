// Package transporttest is the conformance suite every taskgen transport
// passes. It is the specification of runtime.Transport and runtime.Store:
// new transport behaviour is written down here first, as a failing case,
// and then implemented in each broker package.
//
// A broker package runs it from its tests:
//
//	func TestConformance(t *testing.T) {
//		transporttest.Run(t, func(t *testing.T) runtime.Transport {
//			return redis.New(redis.Config{Client: client, Prefix: uniquePrefix(t)})
//		})
//		transporttest.RunStore(t, func(t *testing.T) runtime.Store { ... })
//	}
//
// The factory returns a fresh transport for each case, isolated from the
// others (a key prefix for Redis, a vhost or queue names for RabbitMQ): the
// cases run in parallel. The suite closes each transport when its case ends,
// so Close must tolerate a second call.
//
// Timing is asserted in one direction only. "Not early" compares the time of
// a delivery against its ETA exactly; "eventually" allows several seconds.
// Nothing asserts that an operation is fast, so the suite holds on slow,
// shared machines and under the race detector.
package transporttest
