package codec

// skip validates and consumes one value of any kind. depth is the number of
// objects and arrays already open around it, so that nesting is limited in
// total, as encoding/json limits it.
func (r *Reader) skip(depth int) {
	switch c := r.next(); c {
	case '{':
		if depth >= maxDepth {
			r.fail("exceeded max depth of 10000")
			return
		}
		r.pos++
		c = r.next()
		if c == '}' {
			r.pos++
			return
		}
		for {
			if c != '"' {
				r.expected("string")
				return
			}
			r.skipString()
			if r.err != nil {
				return
			}
			if r.next() != ':' {
				r.expected("':'")
				return
			}
			r.pos++
			r.skip(depth + 1)
			if r.err != nil {
				return
			}
			switch r.next() {
			case '}':
				r.pos++
				return
			case ',':
				r.pos++
				c = r.next()
			default:
				r.expected("',' or '}'")
				return
			}
		}
	case '[':
		if depth >= maxDepth {
			r.fail("exceeded max depth of 10000")
			return
		}
		r.pos++
		if r.next() == ']' {
			r.pos++
			return
		}
		for {
			r.skip(depth + 1)
			if r.err != nil {
				return
			}
			switch r.next() {
			case ']':
				r.pos++
				return
			case ',':
				r.pos++
			default:
				r.expected("',' or ']'")
				return
			}
		}
	case '"':
		r.skipString()
	case 't':
		r.literal("true")
	case 'f':
		r.literal("false")
	case 'n':
		r.literal("null")
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		r.number()
	default:
		r.expected("value")
	}
}
