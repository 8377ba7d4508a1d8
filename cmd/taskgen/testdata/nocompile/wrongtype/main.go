package main

import (
	"context"

	"github.com/taskgen/taskgen/runtime"
	"taskgen.test/nocompile/tasks"
)

func main() {
	var c runtime.Enqueuer
	_, _ = tasks.EnqueueSendWelcome(context.Background(), c, "x", "a@example.com")
}
