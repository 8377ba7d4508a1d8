package tasks

import (
	"context"
	"fmt"
	"sync"

	"github.com/taskgen/taskgen/runtime"
)

// Alerts collects the alerts Alert raises; a real program would page
// someone.
var Alerts alertLog

type alertLog struct {
	mu   sync.Mutex
	msgs []string
}

// List returns the alerts raised so far.
func (l *alertLog) List() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.msgs...)
}

// Alert reports a failed workflow step: the error callback of workflows
// (runtime.OnError(sig, AlertStep("#data-eng"))).
//
//taskgen:task queue=alerts retries=10
func Alert(ctx context.Context, f runtime.Failure, channel string) error {
	Alerts.mu.Lock()
	defer Alerts.mu.Unlock()
	Alerts.msgs = append(Alerts.msgs, fmt.Sprintf("%s: %s failed after %d attempt(s): %s", channel, f.Task, f.Attempts, f.Error))
	return nil
}
