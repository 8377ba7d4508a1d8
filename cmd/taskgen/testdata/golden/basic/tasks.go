// Package tasks has plain-function tasks.
package tasks

import (
	"context"
	"errors"
)

// RawData is what Extract returns.
type RawData struct {
	ID   int64    `json:"id"`
	Rows []string `json:"rows"`
}

// CleanData is what Transform returns.
type CleanData struct {
	Rows  []string `json:"rows"`
	Count int      `json:"count"`
}

// SendWelcome emails a new user.
//
//taskgen:task queue=emails retries=5 timeout=30s
func SendWelcome(ctx context.Context, userID int64, email string) error {
	if email == "" {
		return errors.New("no email")
	}
	return nil
}

// Transform cleans raw data.
//
//taskgen:task queue=etl priority=7 backoff=2s..1h rate=10/s concurrency=4 expires=1h unique=90s
func Transform(ctx context.Context, raw RawData, schema string) (CleanData, error) {
	return CleanData{Rows: raw.Rows, Count: len(raw.Rows)}, nil
}

// Ping takes no arguments.
//
//taskgen:task name=health.ping
func Ping(ctx context.Context) (string, error) {
	return "pong", nil
}
