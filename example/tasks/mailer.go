package tasks

import (
	"context"
	"fmt"
	"strings"
	"sync"
)

// Outbox is where a Mailer delivers mail. A real program would hold an SMTP
// client; the demo keeps the messages in memory.
type Outbox struct {
	mu   sync.Mutex
	sent []string
}

// Deliver records a message.
func (o *Outbox) Deliver(to, subject string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent = append(o.sent, to+": "+subject)
}

// Sent returns the delivered messages.
func (o *Outbox) Sent() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.sent...)
}

// Mailer sends email. Its dependencies live on the receiver, so the worker
// registers one Mailer value (RegisterMailer) and every task shares it.
type Mailer struct {
	Outbox *Outbox
	From   string
}

// SendWelcome emails a new user.
//
//taskgen:task queue=emails retries=5 timeout=30s
func (m *Mailer) SendWelcome(ctx context.Context, userID int64, email string) error {
	if !strings.Contains(email, "@") {
		return fmt.Errorf("user %d: invalid address %q", userID, email)
	}
	m.Outbox.Deliver(email, fmt.Sprintf("Welcome, user %d (from %s)", userID, m.From))
	return nil
}

// SendReceipt emails the receipt of an order.
//
//taskgen:task queue=emails priority=7
func (m *Mailer) SendReceipt(ctx context.Context, order Order) error {
	m.Outbox.Deliver(order.Email, fmt.Sprintf("Receipt for order %s: %d items, %.2f %s",
		order.ID, len(order.Lines), order.Total(), order.Currency))
	return nil
}

// Order is a customer's order.
type Order struct {
	ID       string      `json:"id"`
	Email    string      `json:"email"`
	Currency string      `json:"currency"`
	Lines    []OrderLine `json:"lines"`
}

// OrderLine is one product of an order.
type OrderLine struct {
	SKU      string  `json:"sku"`
	Quantity int     `json:"qty"`
	Price    float64 `json:"price"`
}

// Total is the order's amount.
func (o Order) Total() float64 {
	var t float64
	for _, l := range o.Lines {
		t += float64(l.Quantity) * l.Price
	}
	return t
}
