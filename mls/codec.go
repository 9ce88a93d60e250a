package mls

import (
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// RFC 9420, Section 2.1.2: variable-size vector length headers. The length
// is a QUIC-style varint of 1, 2 or 4 bytes whose two top bits give the
// size. "The encoded value MUST use the smallest number of bits required to
// represent the value. When decoding, values using more bits than necessary
// MUST be treated as malformed." Vectors starting with prefix 0b11 "are
// invalid and MUST be rejected".

// maxVarint is the largest length a variable-size header can carry.
const maxVarint = 1<<30 - 1

// readVarint reads a minimal §2.1.2 varint.
func readVarint(s *cryptobyte.String) (uint32, bool) {
	var b0 uint8
	if !s.ReadUint8(&b0) {
		return 0, false
	}
	prefix := b0 >> 6
	v := uint32(b0 & 0x3f)
	switch prefix {
	case 0:
		return v, true
	case 1:
		var b1 uint8
		if !s.ReadUint8(&b1) {
			return 0, false
		}
		v = v<<8 | uint32(b1)
		return v, v >= 64
	case 2:
		var rest [3]byte
		if !s.CopyBytes(rest[:]) {
			return 0, false
		}
		v = v<<24 | uint32(rest[0])<<16 | uint32(rest[1])<<8 | uint32(rest[2])
		return v, v >= 16384
	default:
		return 0, false
	}
}

// addVarint appends the minimal §2.1.2 encoding of n.
func addVarint(b *cryptobyte.Builder, n int) {
	switch {
	case n < 0 || n > maxVarint:
		b.SetError(fmt.Errorf("mls: vector of %d bytes is too long", n))
	case n < 64:
		b.AddUint8(uint8(n))
	case n < 16384:
		b.AddUint16(uint16(n) | 0x4000)
	default:
		b.AddUint32(uint32(n) | 0x80000000)
	}
}

// readVarBytes reads an opaque<V> value. The result aliases the input.
func readVarBytes(s *cryptobyte.String, out *[]byte) bool {
	n, ok := readVarint(s)
	if !ok {
		return false
	}
	return s.ReadBytes(out, int(n))
}

// readVarVector reads the body of a vector<V> into a sub-string.
func readVarVector(s *cryptobyte.String, out *cryptobyte.String) bool {
	var b []byte
	if !readVarBytes(s, &b) {
		return false
	}
	*out = cryptobyte.String(b)
	return true
}

// addVarBytes appends an opaque<V> value.
func addVarBytes(b *cryptobyte.Builder, v []byte) {
	addVarint(b, len(v))
	b.AddBytes(v)
}

// addVarVector appends a vector<V> whose body is written by f.
func addVarVector(b *cryptobyte.Builder, f func(b *cryptobyte.Builder)) {
	var c cryptobyte.Builder
	f(&c)
	body, err := c.Bytes()
	if err != nil {
		b.SetError(err)
		return
	}
	addVarBytes(b, body)
}

// readOptional reads the presence byte of an optional<T>.
func readOptional(s *cryptobyte.String, present *bool) bool {
	var p uint8
	if !s.ReadUint8(&p) || p > 1 {
		return false
	}
	*present = p == 1
	return true
}

func addOptional(b *cryptobyte.Builder, present bool) {
	if present {
		b.AddUint8(1)
	} else {
		b.AddUint8(0)
	}
}

// marshaler is implemented by every wire structure.
type marshaler interface {
	marshal(b *cryptobyte.Builder)
}

// encode returns the wire encoding of v.
func encode(v marshaler) []byte {
	var b cryptobyte.Builder
	v.marshal(&b)
	out, err := b.Bytes()
	if err != nil {
		// Only over-long vectors (> 2^30 bytes) can fail; they cannot be
		// built from decoded input.
		panic(err)
	}
	return out
}

// encodeErr returns the wire encoding of v or an error.
func encodeErr(v marshaler) ([]byte, error) {
	var b cryptobyte.Builder
	v.marshal(&b)
	return b.Bytes()
}

// decodeAll runs read over data and requires that it consumes every byte.
func decodeAll(data []byte, what string, read func(s *cryptobyte.String) bool) error {
	s := cryptobyte.String(data)
	if !read(&s) {
		return fmt.Errorf("mls: malformed %s", what)
	}
	if !s.Empty() {
		return fmt.Errorf("mls: trailing bytes after %s", what)
	}
	return nil
}

// cloneBytes copies b so decoded values do not alias caller buffers.
func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}
