package codec

import (
	"fmt"
	"math"
	"strconv"
)

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// intBits maps a bit size to 1..64; 0 and nonsense mean 64, as in strconv.
func intBits(bits int) int {
	if bits <= 0 || bits > 64 {
		return 64
	}
	return bits
}

// number consumes a number that the caller has seen start with '-' or a
// digit, validating the JSON grammar (no leading zeros, no bare '.', digits
// after 'e'). It reports whether the number is an integer: no fraction and
// no exponent.
func (r *Reader) number() (tok []byte, integer bool) {
	data := r.data
	start := r.pos
	i := start
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && isDigit(data[i]):
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	default:
		r.pos = i
		r.expected("digit")
		return nil, false
	}
	integer = true
	if i < len(data) && data[i] == '.' {
		integer = false
		i++
		if i >= len(data) || !isDigit(data[i]) {
			r.pos = i
			r.expected("digit after decimal point")
			return nil, false
		}
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		integer = false
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || !isDigit(data[i]) {
			r.pos = i
			r.expected("digit in exponent")
			return nil, false
		}
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	}
	r.pos = i
	return data[start:i], integer
}

// numberStart checks that a number (or null) comes next. It consumes a
// null and returns false, so that the caller yields zero.
func (r *Reader) numberStart() bool {
	if r.err != nil {
		return false
	}
	switch c := r.next(); {
	case c == '-' || isDigit(c):
		return true
	case c == 'n':
		r.literal("null")
	default:
		r.expected("number")
	}
	return false
}

// integer consumes an integer and returns its sign and magnitude. A
// fraction or exponent is an error even when the value is whole (1.0, 1e2),
// as when encoding/json decodes into an integer.
func (r *Reader) integer(kind string, bits int) (neg bool, u uint64, tok []byte, ok bool) {
	start := r.pos
	tok, integer := r.number()
	if r.err != nil {
		return false, 0, nil, false
	}
	if !integer {
		r.failAt(start, fmt.Sprintf("cannot decode number %s into %s%d", tok, kind, bits), nil)
		return false, 0, nil, false
	}
	digits := tok
	if tok[0] == '-' {
		neg = true
		digits = tok[1:]
	}
	for _, c := range digits {
		d := uint64(c - '0')
		if u > (math.MaxUint64-d)/10 {
			r.failAt(start, fmt.Sprintf("number %s overflows %s%d", tok, kind, bits), nil)
			return false, 0, nil, false
		}
		u = u*10 + d
	}
	return neg, u, tok, true
}

// Int reads an integer that fits in a signed integer of the given bit size
// (8, 16, 32 or 64; 0 means 64). null yields 0.
func (r *Reader) Int(bits int) int64 {
	if !r.numberStart() {
		return 0
	}
	bits = intBits(bits)
	start := r.pos
	neg, u, tok, ok := r.integer("int", bits)
	if !ok {
		return 0
	}
	limit := uint64(1) << (bits - 1)
	if neg && u > limit || !neg && u >= limit {
		r.failAt(start, fmt.Sprintf("number %s overflows int%d", tok, bits), nil)
		return 0
	}
	if neg {
		return -int64(u) // also right for -1<<63, whose negation wraps to itself
	}
	return int64(u)
}

// Uint reads a non-negative integer that fits in an unsigned integer of the
// given bit size (8, 16, 32 or 64; 0 means 64). null yields 0.
func (r *Reader) Uint(bits int) uint64 {
	if !r.numberStart() {
		return 0
	}
	bits = intBits(bits)
	start := r.pos
	neg, u, tok, ok := r.integer("uint", bits)
	if !ok {
		return 0
	}
	if neg || bits < 64 && u >= 1<<bits {
		r.failAt(start, fmt.Sprintf("number %s overflows uint%d", tok, bits), nil)
		return 0
	}
	return u
}

// Float reads a number as a float64 (bits 64, or 0) or, rounded to the
// nearest float32, as a float32 (bits 32). A number beyond the range of the
// type is an error, as in encoding/json. null yields 0.
func (r *Reader) Float(bits int) float64 {
	if !r.numberStart() {
		return 0
	}
	if bits != 32 {
		bits = 64
	}
	start := r.pos
	tok, _ := r.number()
	if r.err != nil {
		return 0
	}
	f, err := strconv.ParseFloat(string(tok), bits)
	if err != nil {
		r.failAt(start, fmt.Sprintf("number %s overflows float%d", tok, bits), nil)
		return 0
	}
	return f
}
