// Package tasks declares the tasks that the programs beside it misuse.
package tasks

import "context"

// Source names where Extract reads.
type Source struct {
	URL string `json:"url"`
}

// RawData is what Extract returns.
type RawData struct {
	Lines []string `json:"lines"`
}

// CleanData is what Transform returns.
type CleanData struct {
	Lines []string `json:"lines"`
}

//taskgen:task
func SendWelcome(ctx context.Context, userID int64, email string) error { return nil }

//taskgen:task
func Extract(ctx context.Context, src Source) (RawData, error) { return RawData{}, nil }

//taskgen:task
func Transform(ctx context.Context, raw RawData, schema string) (CleanData, error) {
	return CleanData{Lines: raw.Lines}, nil
}

//taskgen:task
func Load(ctx context.Context, data CleanData, dest string) error { return nil }

//taskgen:task
func Count(ctx context.Context, src Source) (int, error) { return 1, nil }

//taskgen:task
func Sum(ctx context.Context, counts []int) (int, error) { return 0, nil }
