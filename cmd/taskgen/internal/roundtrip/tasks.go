package roundtrip

import (
	"context"
	"encoding/json"
	"net/netip"
	"time"
)

// Record is one row of an ETL batch.
type Record struct {
	ID       int64             `json:"id"`
	Source   string            `json:"source"`
	Seen     time.Time         `json:"seen"`
	Fields   map[string]string `json:"fields"`
	Values   []float64         `json:"values"`
	Tags     []string          `json:"tags,omitempty"`
	Owner    *Contact          `json:"owner,omitempty"`
	Checksum []byte            `json:"checksum"`
	Retries  uint8             `json:"retries"`
	Valid    bool              `json:"valid"`
}

// Contact is who a mail goes to.
type Contact struct {
	Name   string   `json:"name"`
	Email  string   `json:"email"`
	Phones []string `json:"phones,omitempty"`
}

// Address is where an order ships.
type Address struct {
	Street  string `json:"street"`
	City    string `json:"city"`
	Country string `json:"country"`
	Zip     string `json:"zip,omitempty"`
}

// Line is one line of an order.
type Line struct {
	SKU      string  `json:"sku"`
	Quantity int32   `json:"quantity"`
	Price    float64 `json:"price"`
}

// Order is what a receipt describes.
type Order struct {
	ID     string         `json:"id"`
	Lines  []Line         `json:"lines"`
	Total  float64        `json:"total"`
	Placed time.Time      `json:"placed"`
	Meta   map[string]int `json:"meta"`
	ShipTo Address        `json:"ship_to"`
}

// Level is a named integer, also a map key.
type Level int16

// Tree is recursive.
type Tree struct {
	Name  string  `json:"name"`
	Kids  []Tree  `json:"kids,omitempty"`
	Left  *Tree   `json:"left"`
	Score float32 `json:"score"`
}

// Ingest stores a batch of records.
//
//taskgen:task queue=etl
func Ingest(ctx context.Context, batch []Record, source string, dedupe bool) (int, error) {
	return len(batch), nil
}

// SendReceipt mails the receipt of an order.
//
//taskgen:task queue=emails
func SendReceipt(ctx context.Context, to Contact, order Order, cc []string, sendAt *time.Time) error {
	return nil
}

// Mixed takes the kinds the other tasks do not.
//
//taskgen:task
func Mixed(ctx context.Context, ints map[int]int8, levels map[Level]uint, arr [3]uint16, nested [][]string,
	ptr **int, f32 float32, level Level, d time.Duration, tree *Tree, addr netip.Addr, raw json.RawMessage,
	u64 uint64, anon struct {
		A string `json:"a,omitempty"`
		B *bool  `json:"b"`
	}) error {
	return nil
}
