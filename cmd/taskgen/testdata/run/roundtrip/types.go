package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"taskgen.test/run/roundtrip/geo"
)

type Kind string

type Level int8

type ID uint32

type Blob []byte

type Names []string

type Matrix [2][3]int

type Scores map[string]float64

type ByLevel map[Level]string

type ByID map[ID][]string

// Celsius marshals itself with a value receiver.
type Celsius float64

func (c Celsius) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(strconv.FormatFloat(float64(c), 'f', -1, 64) + "C")), nil
}

func (c *Celsius) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return err
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "C"), 64)
	*c = Celsius(f)
	return err
}

// Code marshals itself as text with a pointer receiver.
type Code struct {
	Major, Minor int
}

func (c *Code) MarshalText() ([]byte, error) {
	return fmt.Appendf(nil, "%d.%d", c.Major, c.Minor), nil
}

func (c *Code) UnmarshalText(b []byte) error {
	major, minor, ok := strings.Cut(string(b), ".")
	if !ok {
		return errors.New("bad code")
	}
	var err1, err2 error
	c.Major, err1 = strconv.Atoi(major)
	c.Minor, err2 = strconv.Atoi(minor)
	return errors.Join(err1, err2)
}

type Meta struct {
	Created time.Time         `json:"created"`
	TTL     time.Duration     `json:"ttl"`
	Labels  map[string]string `json:"labels,omitempty"`
}

type Base struct {
	ID   int64 `json:"id"`
	Kind Kind  `json:"kind"`
}

type inner struct {
	Note string `json:"note"`
	Kind string // hidden by Base.Kind, which is tagged
}

// Node is recursive.
type Node struct {
	Name     string  `json:"name"`
	Children []*Node `json:"children,omitempty"`
	Next     *Node   `json:"next"`
}

// Page is generic.
type Page[T any] struct {
	Items []T     `json:"items"`
	Next  *string `json:"next"`
}

type Item struct {
	Base
	inner
	Title  string  `json:"title"`
	Price  float64 `json:"price,omitempty"`
	Ratio  float32
	Tags   []string `json:"tags,omitempty"`
	Secret string   `json:"-"`
	hidden int      `json:"-"`
	Addr   netip.Addr
	Raw    json.RawMessage `json:"raw,omitempty"`
	Opt    *int            `json:"opt"`
	PP     **string        `json:",omitempty"`
	Fixed  [3]byte
	Blob   Blob
	When   *time.Time `json:"when,omitempty"`
	Zero   time.Time  `json:"zero,omitzero"`
	ZeroF  float64    `json:"zerof,omitzero"`
	Anon   struct {
		A int    `json:"a"`
		B []bool `json:"b"`
	} `json:"anon"`
	Meta     Meta `json:"meta"`
	Ints     map[int]int
	Uints    map[uint8]bool
	Levels   ByLevel
	IDs      ByID
	Matrix   Matrix
	Big      uint64
	Small    int8
	Temp     Celsius
	Code     Code
	Codes    []Code
	Point    geo.Point
	Pair     geo.Pair[string, *geo.Point]
	Nested   [][]map[string]*Level
	Empty    struct{}
	Names    Names
	IfaceOut string `json:"iface_out,omitempty"`
}
