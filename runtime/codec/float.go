package codec

import (
	"math"
	"strconv"
)

// appendFloat formats f the way encoding/json does, which in turn follows
// ES6 number-to-string conversion so that other JSON producers agree: the
// shortest representation that round-trips at the given bit size, in 'f'
// form unless the magnitude is below 1e-6 or at least 1e21, and exponents
// without zero padding (1e-07 becomes 1e-7). The caller rejects NaN and
// infinities.
func appendFloat(b []byte, f float64, bits int) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		// A float32 must be compared as a float32 or values just below the
		// cutoffs would round across them.
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) ||
			bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' {
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
