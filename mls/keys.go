package mls

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"math/big"
)

var (
	ecdhX25519 = ecdh.X25519()
	ecdhP256   = ecdh.P256()
	ecdhP384   = ecdh.P384()
	ecdhP521   = ecdh.P521()
)

// SignaturePrivateKey is a member's signing key for one cipher suite:
// Ed25519 (suites 1, 3, 0xF001) or ECDSA (suites 2, 5, 7).
type SignaturePrivateKey struct {
	suite CipherSuite
	ed    ed25519.PrivateKey
	ec    *ecdsa.PrivateKey
}

// rand is the source for ECDSA signing nonces. Go's ECDSA is hedged and
// draws from the system source regardless of the reader passed.
func (k *SignaturePrivateKey) rand() io.Reader { return rand.Reader }

// GenerateSignatureKey creates a signing key for cs from the bytes of rand.
func GenerateSignatureKey(cs CipherSuite, rand io.Reader) (*SignaturePrivateKey, error) {
	s, err := getSuite(cs)
	if err != nil {
		return nil, err
	}
	if s.sig == sigEd25519 {
		seed, err := s.randomBytes(rand, ed25519.SeedSize)
		if err != nil {
			return nil, err
		}
		return &SignaturePrivateKey{suite: cs, ed: ed25519.NewKeyFromSeed(seed)}, nil
	}
	// Rejection-sample a scalar in [1, n-1] from the injected reader.
	n := s.curve.Params().N
	size := (n.BitLen() + 7) / 8
	for range 64 {
		b, err := s.randomBytes(rand, size)
		if err != nil {
			return nil, err
		}
		if excess := size*8 - n.BitLen(); excess > 0 {
			b[0] &= 0xff >> excess
		}
		if new(big.Int).SetBytes(b).Cmp(n) >= 0 {
			continue
		}
		k, err := ecdsa.ParseRawPrivateKey(s.curve, b)
		if err != nil {
			continue
		}
		return &SignaturePrivateKey{suite: cs, ec: k}, nil
	}
	return nil, fmt.Errorf("mls: could not generate a signature key")
}

// NewSignaturePrivateKey parses a signing key: the 32-byte seed for Ed25519
// suites, or the big-endian scalar for ECDSA suites.
func NewSignaturePrivateKey(cs CipherSuite, b []byte) (*SignaturePrivateKey, error) {
	s, err := getSuite(cs)
	if err != nil {
		return nil, err
	}
	if s.sig == sigEd25519 {
		if len(b) != ed25519.SeedSize {
			return nil, fmt.Errorf("mls: Ed25519 key must be %d bytes", ed25519.SeedSize)
		}
		return &SignaturePrivateKey{suite: cs, ed: ed25519.NewKeyFromSeed(b)}, nil
	}
	// Some encoders strip leading zero bytes of the scalar; restore them.
	if size := (s.curve.Params().N.BitLen() + 7) / 8; len(b) < size {
		b = append(make([]byte, size-len(b)), b...)
	}
	k, err := ecdsa.ParseRawPrivateKey(s.curve, b)
	if err != nil {
		return nil, fmt.Errorf("mls: invalid ECDSA key: %w", err)
	}
	return &SignaturePrivateKey{suite: cs, ec: k}, nil
}

// Bytes returns the encoding accepted by NewSignaturePrivateKey.
func (k *SignaturePrivateKey) Bytes() []byte {
	if k.ed != nil {
		return cloneBytes(k.ed.Seed())
	}
	b, err := k.ec.Bytes()
	if err != nil {
		panic(err)
	}
	return b
}

// PublicKey returns the raw public key as carried in a LeafNode's
// signature_key: 32 bytes for Ed25519, the uncompressed point for ECDSA.
func (k *SignaturePrivateKey) PublicKey() []byte {
	if k.ed != nil {
		return cloneBytes(k.ed.Public().(ed25519.PublicKey))
	}
	b, err := k.ec.PublicKey.Bytes()
	if err != nil {
		panic(err)
	}
	return b
}

// CipherSuite returns the suite the key belongs to.
func (k *SignaturePrivateKey) CipherSuite() CipherSuite { return k.suite }
