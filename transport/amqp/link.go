package amqp

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/taskgen/taskgen/runtime"
)

// Reconnect backoff bounds.
const (
	reconnectMin = 50 * time.Millisecond
	reconnectMax = 5 * time.Second
)

// link is one AMQP connection that is dialled again, with backoff, when it
// breaks. The transport has two: publishing on one and consuming on the
// other, so that a broker that blocks publishers (a memory or disk alarm)
// never holds up acks.
type link struct {
	name string
	dial func() (*amqp.Connection, error)
	log  *slog.Logger
	done <-chan struct{}
	// onUp runs on each reconnect, in the supervisor, before the new
	// connection is handed out.
	onUp func()

	mu        sync.Mutex
	conn      *amqp.Connection // nil while down
	gen       uint64           // counts connections
	up        chan struct{}    // closed while conn is set
	blocked   bool
	unblocked chan struct{} // closed while the broker is not blocking this connection
}

func newLink(name string, dial func() (*amqp.Connection, error), log *slog.Logger, done <-chan struct{}) *link {
	l := &link{name: name, dial: dial, log: log, done: done, up: make(chan struct{}), unblocked: make(chan struct{})}
	close(l.unblocked)
	return l
}

// connect dials the first connection; its error is the caller's to report.
func (l *link) connect() error {
	conn, err := l.dial()
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.conn, l.gen = conn, 1
	close(l.up)
	l.mu.Unlock()
	return nil
}

// current returns the live connection and its generation, waiting for a
// reconnect while there is none.
func (l *link) current(ctx context.Context) (*amqp.Connection, uint64, error) {
	for {
		l.mu.Lock()
		conn, gen, up := l.conn, l.gen, l.up
		if conn != nil && conn.IsClosed() {
			l.markDownLocked(conn)
			conn, up = nil, l.up
		}
		l.mu.Unlock()
		if conn != nil {
			return conn, gen, nil
		}
		select {
		case <-up:
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-l.done:
			return nil, 0, runtime.ErrClosed
		}
	}
}

// markDownLocked forgets conn, if it is still the current connection.
func (l *link) markDownLocked(conn *amqp.Connection) {
	if l.conn != conn {
		return
	}
	l.conn = nil
	l.up = make(chan struct{})
	if l.blocked {
		l.blocked = false
		close(l.unblocked)
	}
}

// waitUnblocked returns once the broker accepts publishes on this
// connection, or ctx is done.
func (l *link) waitUnblocked(ctx context.Context) error {
	l.mu.Lock()
	ch := l.unblocked
	l.mu.Unlock()
	select {
	case <-ch:
		return nil
	default:
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-l.done:
		return runtime.ErrClosed
	}
}

func (l *link) setBlocked(conn *amqp.Connection, b amqp.Blocking) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != conn || b.Active == l.blocked {
		return
	}
	l.blocked = b.Active
	if b.Active {
		l.unblocked = make(chan struct{})
		l.log.Warn("taskgen: amqp: the broker blocks publishing; enqueues wait", "connection", l.name, "reason", b.Reason)
	} else {
		close(l.unblocked)
		l.log.Info("taskgen: amqp: the broker accepts publishing again", "connection", l.name)
	}
}

// supervise watches the connection and dials it again when it breaks,
// until done; then it closes the connection.
func (l *link) supervise() {
	backoff := reconnectMin
	for {
		l.mu.Lock()
		conn := l.conn
		l.mu.Unlock()
		closed := conn.NotifyClose(make(chan *amqp.Error, 1))
		blocks := conn.NotifyBlocked(make(chan amqp.Blocking, 4))
	watch:
		for {
			select {
			case <-l.done:
				_ = conn.Close()
				return
			case b, ok := <-blocks:
				if !ok {
					blocks = nil
					continue
				}
				l.setBlocked(conn, b)
			case err := <-closed:
				if err != nil {
					l.log.Warn("taskgen: amqp: connection lost; reconnecting", "connection", l.name, "err", err)
				} else {
					l.log.Warn("taskgen: amqp: connection closed; reconnecting", "connection", l.name)
				}
				break watch
			}
		}
		l.mu.Lock()
		l.markDownLocked(conn)
		l.mu.Unlock()

		for {
			// Full jitter, so that many processes do not redial together.
			wait := reconnectMin + rand.N(backoff)
			t := time.NewTimer(wait)
			select {
			case <-l.done:
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(2*backoff, reconnectMax)
			next, err := l.dial()
			if err != nil {
				l.log.Warn("taskgen: amqp: reconnect failed", "connection", l.name, "err", err, "retry_within", backoff)
				continue
			}
			select {
			case <-l.done:
				_ = next.Close()
				return
			default:
			}
			conn = next
			break
		}
		backoff = reconnectMin
		l.log.Info("taskgen: amqp: reconnected", "connection", l.name)
		if l.onUp != nil {
			l.onUp()
		}
		l.mu.Lock()
		l.conn = conn
		l.gen++
		close(l.up)
		l.mu.Unlock()
	}
}
