// Package shapes uses every kind of type a task can take.
package shapes

import (
	"context"
	"encoding/json"
	"net/netip"
	"time"

	"taskgen.test/golden/types/geo"
)

// Status is a named string.
type Status string

// Level is a named integer, used as a map key too.
type Level int16

// Base is embedded in Record; its fields are promoted.
type Base struct {
	ID      int64     `json:"id"`
	Created time.Time `json:"created"`
}

// audit is an unexported embedded struct; its exported fields are promoted.
type audit struct {
	By string `json:"by"`
}

// Record has fields of every kind.
type Record struct {
	Base
	audit
	Name     string              `json:"name"`
	Status   Status              `json:"status,omitempty"`
	Score    float64             `json:"score"`
	Ratio    float32             `json:"ratio"`
	Flags    uint8               `json:"flags"`
	Active   bool                `json:"active"`
	Tags     []string            `json:"tags,omitempty"`
	Window   [2]int32            `json:"window"`
	Labels   map[string]string   `json:"labels"`
	ByLevel  map[Level][]float64 `json:"by_level"`
	Counts   map[uint16]int      `json:"counts"`
	Blob     []byte              `json:"blob"`
	TTL      time.Duration       `json:"ttl"`
	Deadline *time.Time          `json:"deadline,omitempty"`
	Seen     time.Time           `json:"seen,omitzero"`
	Parent   *Record             `json:"parent"`
	Addr     netip.Addr          `json:"addr"`
	Extra    json.RawMessage     `json:"extra,omitempty"`
	Where    geo.Point           `json:"where"`
	Route    []geo.Pair[string, geo.Point]
	Inline   struct {
		A int `json:"a"`
	} `json:"inline"`
	Cache    map[string]any `json:"-"`
	internal int            `json:"-"`
}

// Tree is recursive through a slice.
type Tree struct {
	Value    int     `json:"value"`
	Children []*Tree `json:"children,omitempty"`
}

// Page is generic.
type Page[T any] struct {
	Items []T   `json:"items"`
	Total int64 `json:"total"`
}

// Store saves a record.
//
//taskgen:task
func Store(ctx context.Context, rec Record, tree *Tree, page Page[Record], ids []uint64) (Page[Status], error) {
	return Page[Status]{Items: []Status{"ok"}, Total: 1}, nil
}
