package redis

import (
	"context"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/taskgen/taskgen/runtime"
)

// notifier wakes blocked Fetch and WaitRecord calls without polling. One
// Pub/Sub connection per transport carries the notices of every channel the
// transport watches: a queue's channel when a message becomes ready in an
// empty queue, a delayed message becomes the earliest, or a lease becomes
// the earliest; a record's channel when the record turns terminal.
//
// A notice bumps the channel's generation and wakes every local waiter of
// the channel. A caller reads the generations before it looks at Redis and
// sleeps only if none changed meanwhile, so a notice that arrives between
// the look and the sleep is never lost. A subscription is confirmed before
// its first look, and a resubscription after a reconnect counts as a
// notice, since notices may have been missed while the connection was down.
type notifier struct {
	client goredis.UniversalClient
	origin string // notices ending in ":"+origin came from this transport
	done   <-chan struct{}

	mu      sync.Mutex
	closed  bool
	ps      *goredis.PubSub // nil until the first watch
	loop    chan struct{}   // closed when the reading goroutine returns
	chans   map[string]*watched
	pending map[string]int // SUBSCRIBE replies still expected, by channel
}

// watched is one subscribed channel.
type watched struct {
	gen       uint64
	confirmed chan struct{} // closed by the SUBSCRIBE reply
	isConfirm bool
	waiters   map[*waiter]struct{}
	refs      int  // WaitRecord calls using it
	permanent bool // a queue's channel, kept for the transport's life
}

type waiter struct{ ch chan struct{} }

func newNotifier(client goredis.UniversalClient, origin string, done <-chan struct{}) *notifier {
	return &notifier{
		client:  client,
		origin:  origin,
		done:    done,
		chans:   make(map[string]*watched),
		pending: make(map[string]int),
	}
}

// watch subscribes to channels, if not yet, and returns once every one of
// them is confirmed. Queue channels stay subscribed; a record channel is
// released with unwatch.
func (n *notifier) watch(ctx context.Context, channels []string, permanent bool) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return runtime.ErrClosed
	}
	if n.ps == nil {
		n.ps = n.client.Subscribe(context.WithoutCancel(ctx))
		n.loop = make(chan struct{})
		go n.read(n.ps.ChannelWithSubscriptions(goredis.WithChannelSize(1024)))
	}
	var fresh []string
	waits := make([]chan struct{}, 0, len(channels))
	for _, c := range channels {
		w := n.chans[c]
		if w == nil {
			w = &watched{confirmed: make(chan struct{}), waiters: make(map[*waiter]struct{})}
			n.chans[c] = w
			n.pending[c]++
			fresh = append(fresh, c)
		}
		if permanent {
			w.permanent = true
		} else {
			w.refs++
		}
		waits = append(waits, w.confirmed)
	}
	if len(fresh) > 0 {
		// Under mu, so that a SUBSCRIBE and an UNSUBSCRIBE of the same
		// channel reach Redis in the order the bookkeeping assumes. A
		// write error needs no handling: the PubSub reconnects and
		// resubscribes by itself, and the reply confirms the channel.
		_ = n.ps.Subscribe(context.WithoutCancel(ctx), fresh...)
	}
	n.mu.Unlock()
	for _, ch := range waits {
		select {
		case <-ch:
		case <-ctx.Done():
			if !permanent {
				n.unwatch(channels)
			}
			return ctx.Err()
		case <-n.done:
			return runtime.ErrClosed
		}
	}
	return nil
}

// unwatch releases record channels taken by watch.
func (n *notifier) unwatch(channels []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var gone []string
	for _, c := range channels {
		w := n.chans[c]
		if w == nil || w.permanent {
			continue
		}
		if w.refs--; w.refs <= 0 && len(w.waiters) == 0 {
			delete(n.chans, c)
			gone = append(gone, c)
		}
	}
	if len(gone) > 0 && n.ps != nil {
		_ = n.ps.Unsubscribe(context.Background(), gone...)
	}
}

// gens returns the channels' generations; pass them to wait.
func (n *notifier) gens(channels []string, into []uint64) []uint64 {
	into = into[:0]
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range channels {
		var g uint64
		if w := n.chans[c]; w != nil {
			g = w.gen
		}
		into = append(into, g)
	}
	return into
}

// wait blocks until a notice on one of channels, the timeout (when
// positive), ctx or Close. It returns at once when a generation differs
// from gens.
func (n *notifier) wait(ctx context.Context, channels []string, gens []uint64, timeout time.Duration) error {
	w := &waiter{ch: make(chan struct{}, 1)}
	n.mu.Lock()
	for i, c := range channels {
		st := n.chans[c]
		if st == nil || st.gen != gens[i] {
			n.mu.Unlock()
			return nil
		}
	}
	for _, c := range channels {
		n.chans[c].waiters[w] = struct{}{}
	}
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		for _, c := range channels {
			if st := n.chans[c]; st != nil {
				delete(st.waiters, w)
			}
		}
		n.mu.Unlock()
	}()

	var timer <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-w.ch:
		return nil
	case <-timer:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return runtime.ErrClosed
	}
}

// kick wakes the local waiters of channel, as a notice would.
func (n *notifier) kick(channel string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if w := n.chans[channel]; w != nil {
		n.wakeLocked(w)
	}
}

func (n *notifier) wakeLocked(st *watched) {
	st.gen++
	for w := range st.waiters {
		select {
		case w.ch <- struct{}{}:
		default:
		}
	}
}

// read dispatches what the Pub/Sub connection receives until it closes.
func (n *notifier) read(msgs <-chan any) {
	defer close(n.loop)
	for m := range msgs {
		switch m := m.(type) {
		case *goredis.Message:
			if strings.HasSuffix(m.Payload, ":"+n.origin) {
				continue // this transport woke its own waiters already
			}
			n.mu.Lock()
			if st := n.chans[m.Channel]; st != nil {
				n.wakeLocked(st)
			}
			n.mu.Unlock()
		case *goredis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			n.mu.Lock()
			if n.pending[m.Channel] > 0 {
				if n.pending[m.Channel]--; n.pending[m.Channel] == 0 {
					delete(n.pending, m.Channel)
				}
			}
			if st := n.chans[m.Channel]; st != nil {
				if !st.isConfirm && n.pending[m.Channel] == 0 {
					st.isConfirm = true
					close(st.confirmed)
				} else if st.isConfirm {
					// A resubscription after a reconnect: notices may
					// have been lost, so everyone looks again.
					n.wakeLocked(st)
				}
			}
			n.mu.Unlock()
		}
	}
}

// close stops the Pub/Sub connection and its reading goroutine.
func (n *notifier) close() error {
	n.mu.Lock()
	n.closed = true
	ps, loop := n.ps, n.loop
	n.ps = nil
	n.mu.Unlock()
	if ps == nil {
		return nil
	}
	err := ps.Close()
	<-loop
	return err
}
