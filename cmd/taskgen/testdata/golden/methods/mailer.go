// Package mailer has method tasks, whose dependencies live on the receiver.
package mailer

import (
	"context"
	"fmt"
	"io"
)

// Mailer sends mail through its writer.
type Mailer struct {
	Out  io.Writer
	From string
}

// SendReceipt emails the receipt of an order.
//
//taskgen:task queue=emails retries=5
func (m *Mailer) SendReceipt(ctx context.Context, orderID string, total float64) error {
	_, err := fmt.Fprintf(m.Out, "from %s: order %s: %.2f\n", m.From, orderID, total)
	return err
}

// Preview renders a receipt without sending it.
//
//taskgen:task name=mail.preview
func (m Mailer) Preview(ctx context.Context, orderID string) (string, error) {
	return "order " + orderID, nil
}

// Counter counts, with a value receiver.
type Counter struct{ Step int }

// Next adds the step.
//
//taskgen:task
func (c Counter) Next(ctx context.Context, n int) (int, error) {
	return n + c.Step, nil
}

// Helper is not a task.
func Helper() {}
