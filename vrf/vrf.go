package vrf

import (
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"

	"filippo.io/edwards25519"
)

// Sizes of the encodings of this suite (RFC 9381, Section 5.5).
const (
	// SeedSize is the length of a private key seed (SK in RFC 9381).
	SeedSize = 32
	// PublicKeySize is the length of an encoded public key (PK_string).
	PublicKeySize = ptLen
	// ProofSize is the length of a proof (pi_string): ptLen + cLen + qLen.
	ProofSize = ptLen + cLen + qLen
	// OutputSize is the length of a VRF output (beta_string): hLen.
	OutputSize = sha512.Size
)

// PublicKey is a validated ECVRF public key Y. The zero value is not a key:
// its methods report failure or return zero bytes. Obtain one from
// [ParsePublicKey] or [PrivateKey.Public].
type PublicKey struct {
	// enc is PK_string, the canonical encoding of y. The all-zero string
	// encodes a point of order 4, which is never a valid key, so enc is
	// all zeros exactly for the zero PublicKey.
	enc [PublicKeySize]byte
	y   edwards25519.Point
}

// ParsePublicKey decodes and validates a 32-byte public key. It implements
// ECVRF_validate_key (RFC 9381, Section 5.4.5): string_to_point must succeed
// and "if cofactor*Y is the identity element of the elliptic curve group,
// output INVALID". string_to_point is the strict decoding of RFC 8032,
// Section 5.1.3, so non-canonical encodings are rejected too (edwards25519
// SetBytes alone would accept them). Every point of small order, and each of
// its encodings, is therefore refused.
func ParsePublicKey(b []byte) (PublicKey, error) {
	if len(b) != PublicKeySize {
		return PublicKey{}, fmt.Errorf("vrf: public key must be %d bytes, got %d", PublicKeySize, len(b))
	}
	var k PublicKey
	if err := stringToPoint(&k.y, b); err != nil {
		return PublicKey{}, fmt.Errorf("vrf: public key: %w", err)
	}
	if isSmallOrder(&k.y) {
		return PublicKey{}, errors.New("vrf: public key is a point of small order")
	}
	copy(k.enc[:], b)
	return k, nil
}

// Bytes returns the 32-byte encoding of the key (PK_string), or nil for the
// zero PublicKey.
func (k PublicKey) Bytes() []byte {
	if k.isZero() {
		return nil
	}
	return append([]byte(nil), k.enc[:]...)
}

// Equal reports whether k and o are the same key.
func (k PublicKey) Equal(o PublicKey) bool { return k.enc == o.enc }

func (k PublicKey) isZero() bool { return k.enc == [PublicKeySize]byte{} }

// PrivateKey is an ECVRF private key: a 32-byte seed and the values RFC 8032,
// Section 5.1.5 derives from it. Create one with [GenerateKey] or
// [NewPrivateKeyFromSeed]; the zero value is not a key. It is safe for
// concurrent use.
type PrivateKey struct {
	seed [SeedSize]byte
	// x is the secret scalar: SHA-512(seed)[0:32], clamped, reduced mod L.
	// Reducing does not change x*P for P in the prime-order subgroup, which
	// is where B and every H lie.
	x edwards25519.Scalar
	// prefix is truncated_hashed_sk_string, SHA-512(seed)[32:64], the key of
	// the nonce (RFC 9381, Section 5.4.2.2, step 2).
	prefix [32]byte
	pub    PublicKey
}

// GenerateKey reads a 32-byte seed from rand and returns the key derived from
// it. Deriving the key ourselves from bytes read here is what makes the
// injected reader effective.
func GenerateKey(rand io.Reader) (*PrivateKey, error) {
	var seed [SeedSize]byte
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, fmt.Errorf("vrf: reading seed: %w", err)
	}
	return newPrivateKey(&seed), nil
}

// NewPrivateKeyFromSeed returns the key derived from a 32-byte seed (SK in
// RFC 9381) as RFC 8032, Section 5.1.5 specifies. The seed is secret; keep it
// as the key's storage form.
func NewPrivateKeyFromSeed(seed []byte) (*PrivateKey, error) {
	if len(seed) != SeedSize {
		return nil, fmt.Errorf("vrf: seed must be %d bytes, got %d", SeedSize, len(seed))
	}
	return newPrivateKey((*[SeedSize]byte)(seed)), nil
}

func newPrivateKey(seed *[SeedSize]byte) *PrivateKey {
	k := &PrivateKey{seed: *seed}
	// RFC 8032, Section 5.1.5: h = SHA-512(seed); s = clamp(h[0:32]);
	// A = [s]B. RFC 9381, Section 5.4.2.2 uses h[32:64] for the nonce.
	h := sha512.Sum512(seed[:])
	if _, err := k.x.SetBytesWithClamping(h[:32]); err != nil {
		panic("vrf: " + err.Error()) // unreachable: the input is 32 bytes
	}
	copy(k.prefix[:], h[32:])
	k.pub.y.ScalarBaseMult(&k.x)
	copy(k.pub.enc[:], k.pub.y.Bytes())
	// Y = x*B with x = 2^254 + 8*t (t < 2^251) is never a point of small
	// order: x is not a multiple of L, and B has order L.
	return k
}

// Seed returns a copy of the 32-byte seed from which the key derives.
func (k *PrivateKey) Seed() []byte { return append([]byte(nil), k.seed[:]...) }

// Public returns the public key Y = x*B.
func (k *PrivateKey) Public() PublicKey { return k.pub }

// Equal reports whether k and o are the same key, in constant time.
func (k *PrivateKey) Equal(o *PrivateKey) bool {
	return subtle.ConstantTimeCompare(k.seed[:], o.seed[:]) == 1
}

// Prove computes the proof pi and the output beta of the VRF at alpha:
// ECVRF_prove and ECVRF_proof_to_hash (RFC 9381, Sections 5.1 and 5.2). It is
// deterministic. The scalar multiplications by the secret x and the nonce k
// run in constant time.
func (k *PrivateKey) Prove(alpha []byte) (proof [ProofSize]byte, beta [OutputSize]byte) {
	// Step 1: x and Y are derived with the key.
	// Steps 2-3: H = ECVRF_encode_to_curve(PK_string, alpha_string);
	// h_string = point_to_string(H).
	var h edwards25519.Point
	var hString [ptLen]byte
	if _, err := encodeToCurve(&h, &hString, k.pub.enc[:], alpha); err != nil {
		// Every attempt succeeds with probability about 1/2, independently:
		// 256 failures in a row have probability about 2^-256.
		panic("vrf: " + err.Error())
	}
	// Step 4: Gamma = x*H, in constant time.
	var gamma edwards25519.Point
	gamma.ScalarMult(&k.x, &h)
	gammaString := gamma.Bytes()
	// Step 5: k = ECVRF_nonce_generation(SK, h_string).
	nonce := k.nonce(hString[:])
	// Step 6: c = ECVRF_challenge_generation(Y, H, Gamma, k*B, k*H).
	var u, v edwards25519.Point
	u.ScalarBaseMult(nonce)
	v.ScalarMult(nonce, &h)
	cString := challengeGeneration(k.pub.enc[:], hString[:], gammaString, u.Bytes(), v.Bytes())
	c := challengeScalar(&cString)
	// Step 7: s = (k + c*x) mod q.
	var s edwards25519.Scalar
	s.MultiplyAdd(c, &k.x, nonce)
	// Step 8: pi_string = point_to_string(Gamma) || int_to_string(c, cLen)
	// || int_to_string(s, qLen).
	copy(proof[:ptLen], gammaString)
	copy(proof[ptLen:ptLen+cLen], cString[:])
	copy(proof[ptLen+cLen:], s.Bytes())
	return proof, gammaToHash(&gamma)
}

// nonce is ECVRF_nonce_generation_RFC8032 (RFC 9381, Section 5.4.2.2):
// k = string_to_int(SHA-512(truncated_hashed_sk_string || h_string)) mod q.
func (k *PrivateKey) nonce(hString []byte) *edwards25519.Scalar {
	kString := nonceString(&k.prefix, hString)
	n, err := edwards25519.NewScalar().SetUniformBytes(kString[:])
	if err != nil {
		panic("vrf: " + err.Error()) // unreachable: the input is 64 bytes
	}
	return n
}

// nonceString is step 3 of RFC 9381, Section 5.4.2.2: k_string.
func nonceString(prefix *[32]byte, hString []byte) [sha512.Size]byte {
	var buf [32 + ptLen]byte
	copy(buf[:32], prefix[:])
	copy(buf[32:], hString)
	return sha512.Sum512(buf[:])
}

// Verify checks that proof is a valid proof of the VRF output at alpha under
// k and returns that output: ECVRF_verify (RFC 9381, Section 5.3) with
// validate_key already done by ParsePublicKey. Any failure, whether a
// malformed proof or a proof that does not verify, returns a non-nil error
// and a zero output; the error says nothing beyond "failed".
//
// Verify handles public values only and uses variable-time arithmetic.
func (k PublicKey) Verify(alpha, proof []byte) ([OutputSize]byte, error) {
	if k.isZero() {
		return [OutputSize]byte{}, errors.New("vrf: verify with the zero public key")
	}
	if len(proof) != ProofSize {
		return [OutputSize]byte{}, fmt.Errorf("vrf: proof must be %d bytes, got %d", ProofSize, len(proof))
	}
	// Steps 4-6: (Gamma, c, s) = ECVRF_decode_proof(pi_string).
	var gamma edwards25519.Point
	var s edwards25519.Scalar
	if err := decodeProof(&gamma, &s, proof); err != nil {
		return [OutputSize]byte{}, errVerify
	}
	cString := (*[cLen]byte)(proof[ptLen : ptLen+cLen])
	// Step 7: H = ECVRF_encode_to_curve(encode_to_curve_salt, alpha_string),
	// with encode_to_curve_salt = PK_string (Section 5.5).
	var h edwards25519.Point
	var hString [ptLen]byte
	if _, err := encodeToCurve(&h, &hString, k.enc[:], alpha); err != nil {
		return [OutputSize]byte{}, errVerify
	}
	// Steps 8-9: U = s*B - c*Y; V = s*H - c*Gamma. Public values only, so
	// variable time is fine.
	var negC edwards25519.Scalar
	negC.Negate(challengeScalar(cString))
	var u, v edwards25519.Point
	u.VarTimeDoubleScalarBaseMult(&negC, &k.y, &s)
	v.VarTimeMultiScalarMult([]*edwards25519.Scalar{&s, &negC}, []*edwards25519.Point{&h, &gamma})
	// Step 10: c' = ECVRF_challenge_generation(Y, H, Gamma, U, V). Gamma's
	// encoding is canonical (decodeProof checked), so the proof's bytes are
	// point_to_string(Gamma).
	cPrime := challengeGeneration(k.enc[:], hString[:], proof[:ptLen], u.Bytes(), v.Bytes())
	// Step 11: if c and c' are equal, output ("VALID",
	// ECVRF_proof_to_hash(pi_string)).
	if subtle.ConstantTimeCompare(cString[:], cPrime[:]) != 1 {
		return [OutputSize]byte{}, errVerify
	}
	return gammaToHash(&gamma), nil
}

// errVerify is the single error of a proof that does not verify.
var errVerify = errors.New("vrf: verification failed")

// ProofToHash returns the VRF output beta of a proof: ECVRF_proof_to_hash
// (RFC 9381, Section 5.2). It checks only that the proof decodes (Section
// 5.4.4), not that it is valid. As the RFC warns, run it only on a proof
// that came from Prove or that Verify accepted; Verify already returns the
// same output.
func ProofToHash(proof []byte) ([OutputSize]byte, error) {
	if len(proof) != ProofSize {
		return [OutputSize]byte{}, fmt.Errorf("vrf: proof must be %d bytes, got %d", ProofSize, len(proof))
	}
	var gamma edwards25519.Point
	var s edwards25519.Scalar
	if err := decodeProof(&gamma, &s, proof); err != nil {
		return [OutputSize]byte{}, fmt.Errorf("vrf: %w", err)
	}
	return gammaToHash(&gamma), nil
}
