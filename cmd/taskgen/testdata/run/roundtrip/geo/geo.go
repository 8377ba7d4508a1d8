// Package geo is a second package whose types tasks use.
package geo

// Point is a plain struct from another package.
type Point struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// Pair is a generic struct from another package.
type Pair[A, B any] struct {
	First  A `json:"first"`
	Second B `json:"second,omitempty"`
}
