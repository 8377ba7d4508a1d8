// Package tcpproxy is a TCP proxy for tests that cut a client's
// connections to a broker, as a network partition or a broker outage
// would, and restore them.
package tcpproxy

import (
	"io"
	"net"
	"sync"
)

// Proxy forwards TCP connections to a broker until it is cut: then it drops
// every connection it carries and refuses new ones, as a network partition
// would, until Restore. Frozen, it keeps the connections but forwards
// nothing, as a broker that stopped answering would, until Thaw.
type Proxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu     sync.Mutex
	up     bool
	frozen bool
	thawed *sync.Cond // on mu
	conns  map[net.Conn]struct{}
	cuts   int
}

// New listens on a free loopback port and forwards to target.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, up: true, conns: make(map[net.Conn]struct{})}
	p.thawed = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Close stops the proxy and drops its connections.
func (p *Proxy) Close() {
	p.ln.Close()
	p.Cut()
	p.wg.Wait()
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		up := p.up
		p.mu.Unlock()
		if !up {
			c.Close()
			continue
		}
		b, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		if !p.track(c, b) {
			continue
		}
		for _, pair := range [][2]net.Conn{{c, b}, {b, c}} {
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				_, _ = io.Copy(pair[0], thawReader{p, pair[1]})
				pair[0].Close()
				pair[1].Close()
				p.mu.Lock()
				delete(p.conns, pair[0])
				delete(p.conns, pair[1])
				p.mu.Unlock()
			}()
		}
	}
}

// track records a forwarded pair, unless the proxy was cut meanwhile.
func (p *Proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.up {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

// thawReader reads from r, holding what it read while p is frozen.
type thawReader struct {
	p *Proxy
	r io.Reader
}

func (t thawReader) Read(b []byte) (int, error) {
	n, err := t.r.Read(b)
	t.p.mu.Lock()
	for t.p.frozen && t.p.up {
		t.p.thawed.Wait()
	}
	t.p.mu.Unlock()
	return n, err
}

// Freeze stops forwarding, in both directions, without dropping the
// connections.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	p.frozen = true
	p.mu.Unlock()
}

// Thaw forwards again what Freeze held, and what follows.
func (p *Proxy) Thaw() {
	p.mu.Lock()
	p.frozen = false
	p.thawed.Broadcast()
	p.mu.Unlock()
}

// Cut drops every forwarded connection and refuses new ones.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.thawed.Broadcast() // a held read ends: its connections close
	p.up = false
	p.cuts++
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// Restore accepts connections again, and forwards them (a cut ends a
// freeze).
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.up, p.frozen = true, false
	p.mu.Unlock()
}

// Conns is how many connections (both sides) the proxy carries.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}
