package vrf

import (
	"crypto/sha512"
	"errors"

	"filippo.io/edwards25519"
)

// Parameters of ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381, Section 5.5).
const (
	// suiteString is the suite_string of ECVRF-EDWARDS25519-SHA512-TAI.
	suiteString = 0x03
	// ptLen is the length of an encoded point (fLen).
	ptLen = 32
	// cLen is the length of the challenge c.
	cLen = 16
	// qLen is the length of an encoded scalar.
	qLen = 32
)

// Domain separators of RFC 9381, Sections 5.2, 5.4.1.1 and 5.4.3.
const (
	encodeToCurveFront       = 0x01
	encodeToCurveBack        = 0x00
	challengeGenerationFront = 0x02
	challengeGenerationBack  = 0x00
	proofToHashFront         = 0x03
	proofToHashBack          = 0x00
)

// maxCtr bounds the try-and-increment loop: ctr_string = int_to_string(ctr,
// 1) has one octet, so ctr runs from 0 to 255.
const maxCtr = 255

// encodeToCurve is ECVRF_encode_to_curve_try_and_increment (RFC 9381, Section
// 5.4.1.1) for this suite. For ctr = 0, 1, ...:
//
//	hash_string = SHA-512(suite_string || 0x01 || encode_to_curve_salt ||
//	                      alpha_string || int_to_string(ctr, 1) || 0x00)
//	H = string_to_point(hash_string[0:32]), then H = cofactor * H
//
// until H is a point other than the identity. It sets h to H and hString to
// point_to_string(H) and returns the ctr that succeeded. The number of
// attempts depends on salt and alpha (about two on average); it fails only
// if all 256 values of the one-octet ctr fail, which has probability about
// 2^-256.
func encodeToCurve(h *edwards25519.Point, hString *[ptLen]byte, salt, alpha []byte) (int, error) {
	d := sha512.New()
	var sum [sha512.Size]byte
	var p edwards25519.Point
	for ctr := 0; ctr <= maxCtr; ctr++ {
		d.Reset()
		d.Write([]byte{suiteString, encodeToCurveFront})
		d.Write(salt)
		d.Write(alpha)
		d.Write([]byte{byte(ctr), encodeToCurveBack})
		d.Sum(sum[:0])
		// interpret_hash_value_as_a_point(s) = string_to_point(s[0]...s[31])
		// (Section 5.5).
		if stringToPoint(&p, sum[:ptLen]) != nil {
			continue
		}
		h.MultByCofactor(&p)
		if h.Equal(edwards25519.NewIdentityPoint()) == 1 {
			continue
		}
		copy(hString[:], h.Bytes())
		return ctr, nil
	}
	return 0, errors.New("encode_to_curve found no point in 256 attempts")
}

// challengeGeneration is ECVRF_challenge_generation (RFC 9381, Section 5.4.3)
// over the encoded points P1..P5 = Y, H, Gamma, U, V:
//
//	c_string = SHA-512(suite_string || 0x02 || P1 || ... || P5 || 0x00)
//
// It returns truncated_c_string, the first cLen octets; c is that string read
// as a little-endian integer.
func challengeGeneration(p1, p2, p3, p4, p5 []byte) [cLen]byte {
	var buf [2 + 5*ptLen + 1]byte
	buf[0] = suiteString
	buf[1] = challengeGenerationFront
	off := 2
	for _, p := range [][]byte{p1, p2, p3, p4, p5} {
		off += copy(buf[off:off+ptLen], p)
	}
	buf[off] = challengeGenerationBack
	sum := sha512.Sum512(buf[:])
	return [cLen]byte(sum[:cLen])
}

// challengeScalar returns c = string_to_int(truncated_c_string) as a scalar.
// c < 2^128 < L, so the encoding is always canonical.
func challengeScalar(cString *[cLen]byte) *edwards25519.Scalar {
	var b [qLen]byte
	copy(b[:], cString[:])
	c, err := edwards25519.NewScalar().SetCanonicalBytes(b[:])
	if err != nil {
		panic("vrf: " + err.Error()) // unreachable: c < 2^128 < L
	}
	return c
}

// decodeProof is ECVRF_decode_proof (RFC 9381, Section 5.4.4) for a proof of
// ProofSize bytes: it sets gamma = string_to_point(pi[0:32]) and s =
// string_to_int(pi[48:80]); c is pi[32:48] as it stands. It fails if Gamma is
// not the canonical encoding of a curve point or if s >= q ("if s >= q,
// output INVALID and stop").
func decodeProof(gamma *edwards25519.Point, s *edwards25519.Scalar, pi []byte) error {
	if len(pi) != ProofSize {
		return errors.New("proof has the wrong length")
	}
	if err := stringToPoint(gamma, pi[:ptLen]); err != nil {
		return errors.New("proof: Gamma is not a valid point")
	}
	if _, err := s.SetCanonicalBytes(pi[ptLen+cLen:]); err != nil {
		return errors.New("proof: s is not less than the group order")
	}
	return nil
}

// gammaToHash is ECVRF_proof_to_hash (RFC 9381, Section 5.2) from a decoded
// Gamma:
//
//	beta_string = SHA-512(suite_string || 0x03 ||
//	                      point_to_string(cofactor * Gamma) || 0x00)
func gammaToHash(gamma *edwards25519.Point) [OutputSize]byte {
	var g edwards25519.Point
	g.MultByCofactor(gamma)
	var buf [2 + ptLen + 1]byte
	buf[0] = suiteString
	buf[1] = proofToHashFront
	copy(buf[2:], g.Bytes())
	buf[2+ptLen] = proofToHashBack
	return sha512.Sum512(buf[:])
}

// stringToPoint is string_to_point for this suite: the decoding of RFC 8032,
// Section 5.1.3, which "MUST output INVALID if the octet string does not
// decode to a point on the curve E" (RFC 9381, Section 5.5). RFC 8032's
// decoding fails on a y coordinate >= p (step 1) and on x = 0 with the sign
// bit set (step 4); edwards25519's SetBytes accepts both, so they are
// rejected here first. What remains is exactly the set of canonical
// encodings: those equal to point_to_string of the point they decode to.
func stringToPoint(p *edwards25519.Point, b []byte) error {
	if len(b) != ptLen {
		return errors.New("point encoding has the wrong length")
	}
	if !isCanonicalY(b) {
		return errors.New("non-canonical point encoding")
	}
	if isNegativeZeroX(b) {
		return errors.New("non-canonical point encoding")
	}
	if _, err := p.SetBytes(b); err != nil {
		return errors.New("invalid point encoding")
	}
	return nil
}

// isCanonicalY reports whether the y coordinate of an encoded point (the
// encoding with its top bit, the sign of x, cleared) is below p = 2^255 - 19.
// The values y >= p are 2^255 - 19 .. 2^255 - 1: bytes 1 to 30 are 0xff, the
// low 7 bits of byte 31 are 0x7f, and byte 0 is at least 0xed.
func isCanonicalY(b []byte) bool {
	if b[31]&0x7f != 0x7f {
		return true
	}
	for _, c := range b[1:31] {
		if c != 0xff {
			return true
		}
	}
	return b[0] < 0xed
}

// isNegativeZeroX reports whether an encoding with a canonical y has the sign
// bit set while x = 0. x = 0 only for y = 1 and y = p - 1 (the identity and
// the point of order 2), whose only canonical encodings have the sign bit
// clear.
func isNegativeZeroX(b []byte) bool {
	if b[31]&0x80 == 0 {
		return false
	}
	// y = 1: 01 00 .. 00; y = p - 1: ec ff .. ff 7f (sign bit cleared).
	one, minusOne := b[0] == 0x01, b[0] == 0xec
	for _, c := range b[1:31] {
		one = one && c == 0x00
		minusOne = minusOne && c == 0xff
	}
	one = one && b[31]&0x7f == 0x00
	minusOne = minusOne && b[31]&0x7f == 0x7f
	return one || minusOne
}

// isSmallOrder reports whether cofactor*p is the identity: p is one of the
// eight points of order 1, 2, 4 or 8 (RFC 9381, Section 5.4.5, step 3).
func isSmallOrder(p *edwards25519.Point) bool {
	var q edwards25519.Point
	q.MultByCofactor(p)
	return q.Equal(edwards25519.NewIdentityPoint()) == 1
}
