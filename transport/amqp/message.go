package amqp

import (
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/taskgen/taskgen/runtime"
)

// Headers the transport sets on a message, next to the AMQP properties
// message-id (the task ID) and priority. Absent means zero.
const (
	// hdrETA is the time the message becomes deliverable, Unix ns.
	hdrETA = "x-taskgen-eta"
	// hdrDeliveries counts the deliveries before this copy was published.
	hdrDeliveries = "x-taskgen-deliveries"
	// hdrAbandoned counts those of them that ended without a settle: a
	// lapsed lease, or a consumer that died. DeliveryLimit applies to it.
	hdrAbandoned = "x-taskgen-abandoned"
	// hdrDeliveryCount is set by quorum queues: how many times this copy
	// went back to the queue unsettled.
	hdrDeliveryCount = "x-delivery-count"
	// hdrGuard is the token of the publish that claimed the task's ID in
	// the store (guardKey), carried by every copy of the message, so that
	// settling a copy frees that claim and no later one.
	hdrGuard = "x-taskgen-guard"
)

// message is a task message as the transport moves it.
type message struct {
	id       string
	queue    string
	priority int
	eta      time.Time
	body     []byte
	// deliveries and abandoned count what happened before this delivery.
	deliveries int
	abandoned  int
	// guard is the token of the ID's claim in the store; empty without a
	// store, or from a version that set none.
	guard string
}

// publishing is m as AMQP sends it: persistent, with its routing facts in
// properties and headers.
func (m *message) publishing() amqp.Publishing {
	p := amqp.Publishing{
		MessageId:    m.id,
		Priority:     uint8(min(max(m.priority, 0), runtime.MaxPriority)),
		DeliveryMode: amqp.Persistent,
		Body:         m.body,
	}
	if !m.eta.IsZero() || m.deliveries > 0 || m.abandoned > 0 || m.guard != "" {
		p.Headers = make(amqp.Table, 4)
		if !m.eta.IsZero() {
			p.Headers[hdrETA] = m.eta.UnixNano()
		}
		if m.deliveries > 0 {
			p.Headers[hdrDeliveries] = int64(m.deliveries)
		}
		if m.abandoned > 0 {
			p.Headers[hdrAbandoned] = int64(m.abandoned)
		}
		if m.guard != "" {
			p.Headers[hdrGuard] = m.guard
		}
	}
	return p
}

// decodeMessage reads a delivery from one of queue's work queues. A
// quorum queue's x-delivery-count adds to both counts: those deliveries
// went back unsettled. Redelivered reports a classic queue's redelivery,
// whose count the broker does not keep.
func decodeMessage(d *amqp.Delivery, queue string) (m message, redelivered bool) {
	m = message{
		id:       d.MessageId,
		queue:    queue,
		priority: min(int(d.Priority), runtime.MaxPriority),
		body:     d.Body,
	}
	if ns := headerInt(d.Headers, hdrETA); ns != 0 {
		m.eta = time.Unix(0, ns)
	}
	m.deliveries = int(headerInt(d.Headers, hdrDeliveries))
	m.abandoned = int(headerInt(d.Headers, hdrAbandoned))
	m.guard = headerString(d.Headers, hdrGuard)
	if n, ok := d.Headers[hdrDeliveryCount]; ok {
		c := int(toInt64(n))
		m.deliveries += c
		m.abandoned += c
		return m, false
	}
	return m, d.Redelivered
}

func headerInt(h amqp.Table, key string) int64 {
	if h == nil {
		return 0
	}
	return toInt64(h[key])
}

// toInt64 reads the integer types a broker or another client may have used.
func toInt64(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int32:
		return int64(x)
	case int16:
		return int64(x)
	case int8:
		return int64(x)
	case int:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case float64:
		return int64(x)
	}
	return 0
}

func headerString(h amqp.Table, key string) string {
	if s, ok := h[key].(string); ok {
		return s
	}
	return ""
}
