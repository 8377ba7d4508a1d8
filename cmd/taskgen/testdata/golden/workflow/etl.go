// Package etl chains tasks into workflows.
package etl

import (
	"context"
	"strings"
)

// Source names where Extract reads.
type Source struct {
	URL   string `json:"url"`
	Limit int    `json:"limit,omitempty"`
}

// RawData is what Extract returns.
type RawData struct {
	Lines []string `json:"lines"`
}

// CleanData is what Transform returns.
type CleanData struct {
	Lines []string       `json:"lines"`
	Stats map[string]int `json:"stats"`
}

// Extract reads raw data.
//
//taskgen:task queue=etl
func Extract(ctx context.Context, src Source) (RawData, error) {
	return RawData{Lines: []string{src.URL}}, nil
}

// Transform cleans raw data.
//
//taskgen:task queue=etl
func Transform(ctx context.Context, raw RawData, schema string) (CleanData, error) {
	out := CleanData{Stats: map[string]int{"lines": len(raw.Lines)}}
	for _, l := range raw.Lines {
		out.Lines = append(out.Lines, strings.TrimSpace(l))
	}
	return out, nil
}

// Load stores clean data.
//
//taskgen:task queue=etl
func Load(ctx context.Context, data CleanData, dest string) error {
	return nil
}

// Count counts the lines of one source.
//
//taskgen:task
func Count(ctx context.Context, src Source) (int, error) {
	return src.Limit, nil
}

// Sum adds the counts of a chord's header.
//
//taskgen:task
func Sum(ctx context.Context, counts []int) (int, error) {
	total := 0
	for _, c := range counts {
		total += c
	}
	return total, nil
}
