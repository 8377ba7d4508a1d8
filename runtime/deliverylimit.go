package runtime

import (
	"fmt"
	"maps"
	"strconv"
)

// defaultDeliveryLimit is WorkerConfig.DeliveryLimit's default, as the
// RabbitMQ transport's own.
const defaultDeliveryLimit = 10

// returnedHeader counts the times workers handed a task back, or deferred
// it, without running it to an outcome: those deliveries are neither a
// handler failure nor a crash.
const returnedHeader = "taskgen.returned"

// returnedBody is the body a task handed back goes back with: its
// envelope with one more return counted. env is the decoded envelope, or
// nil to decode d's body; an undecodable body goes back as it is (nil).
func returnedBody(d *Delivery, env *Envelope) []byte {
	if env == nil {
		var err error
		if env, err = DecodeEnvelope(d.Body); err != nil {
			return nil
		}
	}
	e := *env
	if e.PayloadRef != "" {
		e.Payload = nil // it stays in the store
	}
	e.Headers = maps.Clone(e.Headers)
	if e.Headers == nil {
		e.Headers = make(map[string]string, 1)
	}
	e.Headers[returnedHeader] = strconv.Itoa(returns(env) + 1)
	return e.Marshal()
}

func returns(env *Envelope) int {
	s, ok := env.Headers[returnedHeader]
	if !ok {
		return 0
	}
	n, _ := strconv.Atoi(s)
	return max(n, 0)
}

// crashes is how many earlier deliveries of d ended without an outcome or
// a hand-back: the worker died, or lost its lease. Each handler failure
// counts in env.Attempt, each hand-back in returnedHeader; the rest of the
// deliveries before this one are crashes. A crash does not use up the
// task's retries.
func crashes(d *Delivery, env *Envelope) int {
	return max(d.Deliveries-1-env.Attempt-returns(env), 0)
}

// overDeliveryLimit dead-letters a task that crashed its workers
// DeliveryLimit times (a poison message), and reports whether it did.
func (w *Worker) overDeliveryLimit(d *Delivery, env *Envelope) bool {
	n := crashes(d, env)
	if w.cfg.DeliveryLimit < 0 || n < w.cfg.DeliveryLimit {
		if n > 0 {
			w.log.Warn("taskgen: task redelivered after its worker died or lost its lease; not counted as a failure",
				"task", env.Task, "id", env.ID, "queue", env.Queue, "crashes", n, "delivery_limit", w.cfg.DeliveryLimit)
		}
		return false
	}
	w.deadLetter(d, env, ReasonDeliveryLimit, fmt.Errorf("abandoned %d times, the delivery limit: each time its worker died or lost its lease before settling it", n))
	return true
}
