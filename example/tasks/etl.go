package tasks

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Source names a dataset to extract.
type Source struct {
	Name  string    `json:"name"`
	Since time.Time `json:"since"`
}

// RawData is what Extract returns: rows as they came.
type RawData struct {
	Source    string     `json:"source"`
	Rows      [][]string `json:"rows"`
	FetchedAt time.Time  `json:"fetched_at"`
}

// CleanData is what Transform returns: typed, deduplicated records.
type CleanData struct {
	Schema  string           `json:"schema"`
	Records []Record         `json:"records"`
	Dropped int              `json:"dropped,omitempty"`
	Stats   map[string]int64 `json:"stats"`
}

// Record is one clean row.
type Record struct {
	Key   string   `json:"key"`
	Value int64    `json:"value"`
	Tags  []string `json:"tags,omitempty"`
}

// LoadReport is what Load returns.
type LoadReport struct {
	Destination string        `json:"destination"`
	Loaded      int           `json:"loaded"`
	Took        time.Duration `json:"took"`
}

// Extract reads a source.
//
//taskgen:task queue=etl timeout=5m
func Extract(ctx context.Context, src Source) (RawData, error) {
	rows := [][]string{{"b", "2", "x"}, {"a", "1"}, {"b", "2", "x"}, {"c", "3", "y,z"}, {"bad"}}
	return RawData{Source: src.Name, Rows: rows, FetchedAt: src.Since.Add(time.Hour)}, nil
}

// Transform types and deduplicates raw rows.
//
//taskgen:task queue=etl retries=2 backoff=100ms..2s
func Transform(ctx context.Context, raw RawData, schema string) (CleanData, error) {
	out := CleanData{Schema: schema, Stats: map[string]int64{}}
	seen := map[string]bool{}
	for _, row := range raw.Rows {
		if len(row) < 2 || seen[row[0]] {
			out.Dropped++
			continue
		}
		seen[row[0]] = true
		var v int64
		if _, err := fmt.Sscan(row[1], &v); err != nil {
			out.Dropped++
			continue
		}
		r := Record{Key: row[0], Value: v}
		if len(row) > 2 {
			r.Tags = strings.Split(row[2], ",")
		}
		out.Records = append(out.Records, r)
		out.Stats["sum"] += v
	}
	sort.Slice(out.Records, func(i, j int) bool { return out.Records[i].Key < out.Records[j].Key })
	out.Stats["records"] = int64(len(out.Records))
	return out, nil
}

// Load writes clean records to a destination.
//
//taskgen:task queue=etl
func Load(ctx context.Context, data CleanData, dest string) (LoadReport, error) {
	start := time.Now()
	if dest == "" {
		return LoadReport{}, fmt.Errorf("no destination for %d records", len(data.Records))
	}
	return LoadReport{Destination: dest, Loaded: len(data.Records), Took: time.Since(start).Round(time.Second)}, nil
}
