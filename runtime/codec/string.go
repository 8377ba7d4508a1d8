package codec

import (
	"unicode/utf16"
	"unicode/utf8"
)

const hex = "0123456789abcdef"

// htmlSafe reports the ASCII bytes that encoding/json copies into a string
// literal unchanged when it escapes HTML (its default): everything printable
// except the quote, the backslash and the three HTML metacharacters.
var htmlSafe = func() (t [utf8.RuneSelf]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = true
	}
	for _, c := range `"\<>&` {
		t[c] = false
	}
	return t
}()

// appendString appends src as a quoted JSON string literal, escaped exactly
// as encoding/json.Marshal escapes it. It is generic so that strings and
// TextMarshaler output share one implementation without a conversion.
func appendString[S string | []byte](dst []byte, src S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(src); {
		c := src[i]
		if c < utf8.RuneSelf {
			if htmlSafe[c] {
				i++
				continue
			}
			dst = append(dst, src[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				// Other control characters and <, > and &.
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		// Converting at most UTFMax bytes keeps the []byte instantiation
		// from allocating; for strings the conversion is free.
		n := min(len(src)-i, utf8.UTFMax)
		r, size := utf8.DecodeRuneInString(string(src[i : i+n]))
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, src[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			// Valid JSON, but they end lines in JavaScript, so encoding/json
			// escapes them and so do we.
			dst = append(dst, src[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, src[start:]...)
	return append(dst, '"')
}

// str reads the string literal that starts at r.pos (the caller has seen
// the opening quote) and returns its decoded contents. When the literal has
// no escapes and is valid UTF-8 the result aliases the input; otherwise it
// aliases r.buf. Either way it is valid until the next call that reads.
func (r *Reader) str() []byte {
	start := r.pos + 1
	data := r.data
	i := start
	for i < len(data) {
		c := data[i]
		if c < utf8.RuneSelf {
			if c == '"' {
				r.pos = i + 1
				return data[start:i]
			}
			if c == '\\' || c < ' ' {
				break
			}
			i++
			continue
		}
		ru, size := utf8.DecodeRune(data[i:])
		if ru == utf8.RuneError && size == 1 {
			break
		}
		i += size
	}
	return r.strSlow(start, i)
}

// strSlow continues str from data[i] once an escape, a control character,
// invalid UTF-8 or the end of input has been seen, decoding into r.buf the
// way encoding/json does: invalid UTF-8 and unpaired surrogates become
// U+FFFD.
func (r *Reader) strSlow(start, i int) []byte {
	data := r.data
	b := append(r.buf[:0], data[start:i]...)
	for i < len(data) {
		c := data[i]
		switch {
		case c == '"':
			r.pos = i + 1
			r.buf = b
			return b
		case c == '\\':
			if i+1 >= len(data) {
				r.pos = i + 1
				r.fail("expected escape character")
				return nil
			}
			e := data[i+1]
			switch e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				ru := getu4(data[i:])
				if ru < 0 {
					r.pos = i
					r.fail(`expected \u followed by four hex digits`)
					return nil
				}
				i += 6
				if utf16.IsSurrogate(ru) {
					// A high surrogate followed by a low one is a pair;
					// anything else is replaced, and a following escape is
					// decoded on its own, as encoding/json does.
					if dec := utf16.DecodeRune(ru, getu4(data[i:])); dec != utf8.RuneError {
						i += 6
						ru = dec
					} else {
						ru = utf8.RuneError
					}
				}
				b = utf8.AppendRune(b, ru)
				continue
			default:
				r.pos = i + 1
				r.fail("invalid escape character")
				return nil
			}
			i += 2
		case c < ' ':
			r.pos = i
			r.fail("invalid control character in string")
			return nil
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			ru, size := utf8.DecodeRune(data[i:])
			b = utf8.AppendRune(b, ru) // RuneError for invalid input
			i += size
		}
	}
	r.pos = len(data)
	r.fail("unterminated string")
	r.buf = b
	return nil
}

// getu4 decodes \uXXXX from the start of s, or returns -1.
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var ru rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		ru = ru<<4 | rune(c)
	}
	return ru
}

// skipString validates the string literal at r.pos without decoding it.
// Like encoding/json's scanner it accepts invalid UTF-8, which decoding
// later replaces.
func (r *Reader) skipString() {
	data := r.data
	i := r.pos + 1
	for i < len(data) {
		c := data[i]
		switch {
		case c == '"':
			r.pos = i + 1
			return
		case c == '\\':
			if i+1 < len(data) && data[i+1] == 'u' {
				if getu4(data[i:]) < 0 {
					r.pos = i
					r.fail(`expected \u followed by four hex digits`)
					return
				}
				i += 6
				continue
			}
			if i+1 >= len(data) {
				r.pos = i + 1
				r.fail("expected escape character")
				return
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			default:
				r.pos = i + 1
				r.fail("invalid escape character")
				return
			}
		case c < ' ':
			r.pos = i
			r.fail("invalid control character in string")
			return
		default:
			i++
		}
	}
	r.pos = len(data)
	r.fail("unterminated string")
}
