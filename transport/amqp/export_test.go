package amqp

// BrokerNames returns the queues and exchanges t has declared, so that
// tests can delete them.
func (t *Transport) BrokerNames() (queues, exchanges []string) {
	t.topo.mu.Lock()
	defer t.topo.mu.Unlock()
	for q := range t.topo.seen {
		qs, xs := t.Objects(q)
		queues = append(queues, qs...)
		exchanges = append(exchanges, xs...)
	}
	if len(t.topo.seen) > 0 {
		exchanges = append(exchanges, t.layout("").deadExchange())
	}
	return queues, exchanges
}
