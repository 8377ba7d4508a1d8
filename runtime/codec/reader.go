package codec

import (
	"encoding"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// maxDepth is encoding/json's nesting limit, so that both accept the same
// documents. It also bounds the recursion of generated decoders for
// recursive types, which would otherwise follow hostile input down until
// the stack ran out.
const maxDepth = 10000

// A Reader decodes one JSON document, pulled value by value by generated
// code. Create one with [NewReader], which returns it by value so that it
// stays on the caller's stack, and pass its address to helpers.
//
// The first error sticks: every later method returns a zero value (false,
// 0, "", nil), so loops over NextField and NextElem end, and [Reader.End]
// returns the error.
type Reader struct {
	data []byte
	pos  int
	err  error
	// depth counts the objects and arrays opened by BeginObject and
	// BeginArray and not yet closed by NextField or NextElem.
	depth int
	// first is true right after BeginObject or BeginArray, when the next
	// member or element needs no comma before it. NextField and NextElem
	// clear it, and since a container can only close after the value that
	// follows a member or element, one flag serves any depth of nesting.
	first bool
	// buf holds decoded strings that had escapes or invalid UTF-8, reused
	// across calls.
	buf []byte
}

// NewReader returns a Reader for data. The Reader does not copy data, and
// results documented as aliasing it are valid only while data is unchanged.
func NewReader(data []byte) Reader {
	return Reader{data: data}
}

// Reset makes r read data from the start, clearing any error and keeping
// its scratch buffer.
func (r *Reader) Reset(data []byte) {
	*r = Reader{data: data, buf: r.buf[:0]}
}

// End checks that only whitespace follows the value read and returns the
// first error met, if any.
func (r *Reader) End() error {
	if r.err != nil {
		return r.err
	}
	if r.next(); r.pos < len(r.data) {
		r.expected("end of input")
	} else if r.depth > 0 {
		r.fail("unexpected end of input inside an object or array")
	}
	return r.err
}

// fail records an error at the current offset unless one is recorded.
func (r *Reader) fail(msg string) {
	if r.err == nil {
		r.err = fmt.Errorf("codec: offset %d: %s", r.pos, msg)
	}
}

// failAt records an error at offset off, wrapping err if it is not nil.
func (r *Reader) failAt(off int, msg string, err error) {
	if r.err != nil {
		return
	}
	if err != nil {
		r.err = fmt.Errorf("codec: offset %d: %s: %w", off, msg, err)
	} else {
		r.err = fmt.Errorf("codec: offset %d: %s", off, msg)
	}
}

// expected records that what was expected at the current offset.
func (r *Reader) expected(what string) {
	r.fail("expected " + what + ", found " + r.found())
}

// found describes the byte at the current offset for error messages.
func (r *Reader) found() string {
	if r.pos >= len(r.data) {
		return "end of input"
	}
	c := r.data[r.pos]
	if ' ' <= c && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

// next skips whitespace and returns the byte at the new offset without
// consuming it, or 0 at the end of input.
func (r *Reader) next() byte {
	for r.pos < len(r.data) {
		switch c := r.data[r.pos]; c {
		case ' ', '\t', '\n', '\r':
			r.pos++
		default:
			return c
		}
	}
	return 0
}

// literal consumes lit (true, false or null) at the current offset.
func (r *Reader) literal(lit string) bool {
	end := r.pos + len(lit)
	if end <= len(r.data) && string(r.data[r.pos:end]) == lit {
		r.pos = end
		return true
	}
	for i := 0; i < len(lit) && r.pos < len(r.data) && r.data[r.pos] == lit[i]; i++ {
		r.pos++
	}
	r.fail("invalid literal, expected " + lit + ", found " + r.found())
	return false
}

// BeginObject consumes '{' and returns true, or consumes null and returns
// false. Anything else is an error. After true, loop with NextField.
func (r *Reader) BeginObject() bool {
	return r.begin('{')
}

// BeginArray consumes '[' and returns true, or consumes null and returns
// false. Anything else is an error. After true, loop with NextElem.
func (r *Reader) BeginArray() bool {
	return r.begin('[')
}

func (r *Reader) begin(open byte) bool {
	if r.err != nil {
		return false
	}
	switch r.next() {
	case open:
		if r.depth >= maxDepth {
			r.fail("exceeded max depth of " + strconv.Itoa(maxDepth))
			return false
		}
		r.pos++
		r.depth++
		r.first = true
		return true
	case 'n':
		r.literal("null")
		return false
	}
	r.expected(strconv.QuoteRune(rune(open)))
	return false
}

// NextField reports whether another member of the current object follows,
// consuming the comma before it. When the object ends it consumes '}' and
// returns false. After true, read the name with Key (or KeyInt, KeyUint)
// and then exactly one value.
func (r *Reader) NextField() bool {
	if !r.more('}') {
		return false
	}
	if r.next() != '"' {
		if r.first {
			r.expected("string or '}'")
		} else {
			r.expected("string")
		}
		return false
	}
	r.first = false
	return true
}

// NextElem reports whether another element of the current array follows,
// consuming the comma before it. When the array ends it consumes ']' and
// returns false. After true, read exactly one value.
func (r *Reader) NextElem() bool {
	if !r.more(']') {
		return false
	}
	switch r.next() {
	case ',', ']', 0:
		if r.first {
			r.expected("value or ']'")
		} else {
			r.expected("value")
		}
		return false
	}
	r.first = false
	return true
}

// more handles what NextField and NextElem share: the closing bracket and
// the comma. It returns true with the offset at the next member or element.
func (r *Reader) more(closing byte) bool {
	if r.err != nil {
		return false
	}
	if r.depth == 0 {
		r.fail("NextField or NextElem called outside an object or array")
		return false
	}
	c := r.next()
	if c == closing {
		r.pos++
		r.depth--
		r.first = false
		return false
	}
	if r.first {
		return true
	}
	if c != ',' {
		r.expected("',' or " + strconv.QuoteRune(rune(closing)))
		return false
	}
	r.pos++
	return true
}

// Key reads an object member name and the colon after it, returning the
// decoded name. The result may alias the input or the Reader's scratch
// buffer: it is valid until the next call on r.
func (r *Reader) Key() []byte {
	if r.err != nil {
		return nil
	}
	if r.next() != '"' {
		r.expected("string")
		return nil
	}
	k := r.str()
	if r.err != nil {
		return nil
	}
	if r.next() != ':' {
		r.expected("':'")
		return nil
	}
	r.pos++
	return k
}

// KeyInt reads an object member name as a decimal integer that fits in a
// signed integer of the given bit size (0 means 64), as encoding/json does
// for maps with integer keys.
func (r *Reader) KeyInt(bits int) int64 {
	start := r.pos
	if r.err == nil {
		r.next()
		start = r.pos
	}
	k := r.Key()
	if r.err != nil {
		return 0
	}
	bits = intBits(bits)
	n, err := strconv.ParseInt(string(k), 10, 64)
	if err != nil || bits < 64 && (n < -1<<(bits-1) || n >= 1<<(bits-1)) {
		r.failAt(start, fmt.Sprintf("object key %q is not an int%d", k, bits), nil)
		return 0
	}
	return n
}

// KeyUint reads an object member name as a decimal integer that fits in an
// unsigned integer of the given bit size (0 means 64).
func (r *Reader) KeyUint(bits int) uint64 {
	start := r.pos
	if r.err == nil {
		r.next()
		start = r.pos
	}
	k := r.Key()
	if r.err != nil {
		return 0
	}
	bits = intBits(bits)
	n, err := strconv.ParseUint(string(k), 10, 64)
	if err != nil || bits < 64 && n >= 1<<bits {
		r.failAt(start, fmt.Sprintf("object key %q is not a uint%d", k, bits), nil)
		return 0
	}
	return n
}

// IsNull consumes a null and returns true if one comes next; otherwise it
// consumes nothing and returns false.
func (r *Reader) IsNull() bool {
	if r.err != nil || r.next() != 'n' {
		return false
	}
	return r.literal("null")
}

// Bool reads true or false; null yields false.
func (r *Reader) Bool() bool {
	if r.err != nil {
		return false
	}
	switch r.next() {
	case 't':
		return r.literal("true")
	case 'f':
		r.literal("false")
	case 'n':
		r.literal("null")
	default:
		r.expected("boolean")
	}
	return false
}

// String reads a string; null yields "". Escapes, surrogate pairs and
// invalid UTF-8 are decoded as encoding/json decodes them.
func (r *Reader) String() string {
	if r.err != nil {
		return ""
	}
	switch r.next() {
	case '"':
		return string(r.str())
	case 'n':
		r.literal("null")
	default:
		r.expected("string")
	}
	return ""
}

// Bytes64 reads a standard base64 string into a new slice, as encoding/json
// decodes a []byte (so line breaks inside the text are ignored); null yields
// nil. Like encoding/json it also accepts an array of numbers 0 to 255.
func (r *Reader) Bytes64() []byte {
	if r.err != nil {
		return nil
	}
	switch r.next() {
	case '"':
		start := r.pos
		s := r.str()
		if r.err != nil {
			return nil
		}
		b := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
		n, err := base64.StdEncoding.Decode(b, s)
		if err != nil {
			r.failAt(start, "invalid base64 string", err)
			return nil
		}
		return b[:n]
	case '[':
		b := []byte{}
		r.BeginArray()
		for r.NextElem() {
			b = append(b, byte(r.Uint(8)))
		}
		if r.err != nil {
			return nil
		}
		return b
	case 'n':
		r.literal("null")
	default:
		r.expected("base64 string")
	}
	return nil
}

// Time reads a time as time.Time.UnmarshalJSON does: an RFC 3339 string,
// taken as it stands in the input without unescaping. null yields the zero
// time.
func (r *Reader) Time() time.Time {
	if r.err != nil {
		return time.Time{}
	}
	switch r.next() {
	case '"':
		start := r.pos
		r.skipString()
		if r.err != nil {
			return time.Time{}
		}
		var t time.Time
		if err := t.UnmarshalJSON(r.data[start:r.pos]); err != nil {
			r.failAt(start, "invalid time", err)
			return time.Time{}
		}
		return t
	case 'n':
		r.literal("null")
	default:
		r.expected("time string")
	}
	return time.Time{}
}

// Unmarshaler passes the next value, null included, to u.UnmarshalJSON as
// encoding/json does. The bytes alias the input: u must copy what it keeps.
func (r *Reader) Unmarshaler(u json.Unmarshaler) {
	if r.err != nil {
		return
	}
	r.next()
	start := r.pos
	raw := r.Raw()
	if r.err != nil {
		return
	}
	if u == nil {
		r.failAt(start, "nil json.Unmarshaler", nil)
		return
	}
	if err := u.UnmarshalJSON(raw); err != nil {
		r.failAt(start, fmt.Sprintf("calling UnmarshalJSON for type %T", u), err)
	}
}

// TextUnmarshaler passes the decoded contents of the next string to
// u.UnmarshalText. Like encoding/json it leaves u alone for null and
// rejects other values. The bytes may alias the input: u must copy what it
// keeps.
func (r *Reader) TextUnmarshaler(u encoding.TextUnmarshaler) {
	if r.err != nil {
		return
	}
	switch r.next() {
	case '"':
		start := r.pos
		s := r.str()
		if r.err != nil {
			return
		}
		if u == nil {
			r.failAt(start, "nil encoding.TextUnmarshaler", nil)
			return
		}
		if err := u.UnmarshalText(s); err != nil {
			r.failAt(start, fmt.Sprintf("calling UnmarshalText for type %T", u), err)
		}
	case 'n':
		r.literal("null")
	default:
		r.expected("string")
	}
}

// Raw validates the next value and returns its bytes as they stand in the
// input, aliasing it.
func (r *Reader) Raw() []byte {
	if r.err != nil {
		return nil
	}
	r.next()
	start := r.pos
	r.skip(r.depth)
	if r.err != nil {
		return nil
	}
	return r.data[start:r.pos]
}

// Skip validates and discards the next value, such as a member that the
// decoding type does not have.
func (r *Reader) Skip() {
	if r.err != nil {
		return
	}
	r.skip(r.depth)
}
