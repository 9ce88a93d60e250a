package pqxdh

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/mlkem"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/cryptobyte"
)

// Sizes of the fixed-length fields used by this package.
const (
	// X25519KeySize is the size of an X25519 public or private key.
	X25519KeySize = 32
	// SignatureSize is the size of an Ed25519 prekey signature.
	SignatureSize = ed25519.SignatureSize
	// KEMPublicKeySize is the size of an ML-KEM-768 encapsulation key.
	KEMPublicKeySize = mlkem.EncapsulationKeySize768
	// KEMSeedSize is the size of the seed an ML-KEM-768 decapsulation key is
	// stored as.
	KEMSeedSize = mlkem.SeedSize
	// KEMCiphertextSize is the size of an ML-KEM-768 ciphertext.
	KEMCiphertextSize = mlkem.CiphertextSize768
)

// Key types bound into prekey signatures (see signedMessage).
const (
	keyTypeSignedPrekey = 1 // X25519 signed prekey (SPK)
	keyTypeKEMPrekey    = 2 // ML-KEM-768 prekey (PQSPK or PQOPK)
)

// prekeySignatureLabel separates prekey signatures from every other use of
// a device's Ed25519 signing key.
const prekeySignatureLabel = "WARD_PQXDH_PREKEY_SIGNATURE_V1"

// signedMessage is the message a prekey signature covers. PQXDH (revision 3,
// Section 3.2) signs Encode(SPK) and Encode(PQPK) with XEdDSA under the
// curve identity key. Ward devices sign with a separate Ed25519 key instead,
// so the signed message is explicit about what it binds:
//
//	struct {
//	  opaque label<0..255> = "WARD_PQXDH_PREKEY_SIGNATURE_V1";
//	  uint8  key_type;     // 1 = X25519 signed prekey, 2 = ML-KEM-768 prekey
//	  uint32 id;
//	  uint8  last_resort;  // 0 or 1; always 0 for key_type 1
//	  opaque public_key<0..2^16-1>;
//	}
func signedMessage(keyType uint8, id uint32, lastResort bool, pub []byte) []byte {
	b := cryptobyte.NewBuilder(make([]byte, 0, 1+len(prekeySignatureLabel)+1+4+1+2+len(pub)))
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(prekeySignatureLabel)) })
	b.AddUint8(keyType)
	b.AddUint32(id)
	b.AddUint8(boolByte(lastResort))
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(pub) })
	return b.BytesOrPanic()
}

func boolByte(v bool) uint8 {
	if v {
		return 1
	}
	return 0
}

// IdentityKeyPair is a device's long-term key material as PQXDH uses it:
// the Ed25519 signing key that signs its prekeys and the X25519 identity key
// (IK in the spec) that takes part in DH1 and DH2.
type IdentityKeyPair struct {
	SigningKey  ed25519.PrivateKey
	IdentityKey *ecdh.PrivateKey
}

func (k IdentityKeyPair) check() error {
	if len(k.SigningKey) != ed25519.PrivateKeySize {
		return errors.New("pqxdh: invalid signing key")
	}
	if k.IdentityKey == nil || k.IdentityKey.Curve() != ecdh.X25519() {
		return errors.New("pqxdh: invalid X25519 identity key")
	}
	return nil
}

// SignedPrekey is the public half of a signed prekey (SPK, Section 3.2).
type SignedPrekey struct {
	ID        uint32
	PublicKey *ecdh.PublicKey
	Signature []byte
}

// Verify checks the prekey signature under the device's signing key.
func (p *SignedPrekey) Verify(signingKey ed25519.PublicKey) error {
	if p.PublicKey == nil || len(signingKey) != ed25519.PublicKeySize ||
		!ed25519.Verify(signingKey, signedMessage(keyTypeSignedPrekey, p.ID, false, p.PublicKey.Bytes()), p.Signature) {
		return errors.New("pqxdh: signed prekey signature verification failed")
	}
	return nil
}

// OneTimePrekey is the public half of a one-time X25519 prekey (OPK). As in
// the spec, one-time curve prekeys are not signed: a substituted OPK can
// only make the session fail, never weaken it below the other DH outputs.
type OneTimePrekey struct {
	ID        uint32
	PublicKey *ecdh.PublicKey
}

// KEMPrekey is the public half of a signed ML-KEM-768 prekey: a one-time PQ
// prekey (PQOPK) or, with LastResort set, the last-resort PQ prekey (PQSPK).
type KEMPrekey struct {
	ID               uint32
	LastResort       bool
	EncapsulationKey *mlkem.EncapsulationKey768
	Signature        []byte
}

// Verify checks the prekey signature under the device's signing key. The
// signature binds the last-resort flag, so a server cannot present a
// one-time key as last-resort or the reverse.
func (p *KEMPrekey) Verify(signingKey ed25519.PublicKey) error {
	if p.EncapsulationKey == nil || len(signingKey) != ed25519.PublicKeySize ||
		!ed25519.Verify(signingKey, signedMessage(keyTypeKEMPrekey, p.ID, p.LastResort, p.EncapsulationKey.Bytes()), p.Signature) {
		return errors.New("pqxdh: PQ prekey signature verification failed")
	}
	return nil
}

// SignedPrekeyPrivate is a signed prekey pair kept by its owner.
type SignedPrekeyPrivate struct {
	ID         uint32
	PrivateKey *ecdh.PrivateKey
	Signature  []byte
}

// OneTimePrekeyPrivate is a one-time X25519 prekey pair kept by its owner.
type OneTimePrekeyPrivate struct {
	ID         uint32
	PrivateKey *ecdh.PrivateKey
}

// KEMPrekeyPrivate is a signed ML-KEM-768 prekey kept by its owner.
type KEMPrekeyPrivate struct {
	ID               uint32
	LastResort       bool
	DecapsulationKey *mlkem.DecapsulationKey768
	Signature        []byte
}

func readSeed(rand io.Reader, n int) ([]byte, error) {
	seed := make([]byte, n)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return nil, fmt.Errorf("pqxdh: reading randomness: %w", err)
	}
	return seed, nil
}

func newX25519(rand io.Reader) (*ecdh.PrivateKey, error) {
	// crypto/ecdh ignores its rand argument since Go 1.26, so the seed is
	// read from the injected reader and the key derived from it.
	seed, err := readSeed(rand, X25519KeySize)
	if err != nil {
		return nil, err
	}
	k, err := ecdh.X25519().NewPrivateKey(seed)
	clear(seed)
	if err != nil {
		return nil, fmt.Errorf("pqxdh: %w", err)
	}
	return k, nil
}

// NewSignedPrekey generates a signed X25519 prekey with the given id and
// signs it with signingKey. Randomness is read from rand.
func NewSignedPrekey(rand io.Reader, signingKey ed25519.PrivateKey, id uint32) (*SignedPrekeyPrivate, error) {
	if len(signingKey) != ed25519.PrivateKeySize {
		return nil, errors.New("pqxdh: invalid signing key")
	}
	k, err := newX25519(rand)
	if err != nil {
		return nil, err
	}
	sig := ed25519.Sign(signingKey, signedMessage(keyTypeSignedPrekey, id, false, k.PublicKey().Bytes()))
	return &SignedPrekeyPrivate{ID: id, PrivateKey: k, Signature: sig}, nil
}

// NewOneTimePrekey generates a one-time X25519 prekey with the given id.
func NewOneTimePrekey(rand io.Reader, id uint32) (*OneTimePrekeyPrivate, error) {
	k, err := newX25519(rand)
	if err != nil {
		return nil, err
	}
	return &OneTimePrekeyPrivate{ID: id, PrivateKey: k}, nil
}

// NewKEMPrekey generates a signed ML-KEM-768 prekey with the given id. Set
// lastResort for the last-resort PQ prekey, which the owner keeps after
// use; one-time PQ prekeys are deleted once consumed.
func NewKEMPrekey(rand io.Reader, signingKey ed25519.PrivateKey, id uint32, lastResort bool) (*KEMPrekeyPrivate, error) {
	if len(signingKey) != ed25519.PrivateKeySize {
		return nil, errors.New("pqxdh: invalid signing key")
	}
	seed, err := readSeed(rand, KEMSeedSize)
	if err != nil {
		return nil, err
	}
	dk, err := mlkem.NewDecapsulationKey768(seed)
	clear(seed)
	if err != nil {
		return nil, fmt.Errorf("pqxdh: %w", err)
	}
	sig := ed25519.Sign(signingKey, signedMessage(keyTypeKEMPrekey, id, lastResort, dk.EncapsulationKey().Bytes()))
	return &KEMPrekeyPrivate{ID: id, LastResort: lastResort, DecapsulationKey: dk, Signature: sig}, nil
}

// Public returns the public half to publish.
func (k *SignedPrekeyPrivate) Public() *SignedPrekey {
	return &SignedPrekey{ID: k.ID, PublicKey: k.PrivateKey.PublicKey(), Signature: k.Signature}
}

// Public returns the public half to publish.
func (k *OneTimePrekeyPrivate) Public() *OneTimePrekey {
	return &OneTimePrekey{ID: k.ID, PublicKey: k.PrivateKey.PublicKey()}
}

// Public returns the public half to publish.
func (k *KEMPrekeyPrivate) Public() *KEMPrekey {
	return &KEMPrekey{ID: k.ID, LastResort: k.LastResort, EncapsulationKey: k.DecapsulationKey.EncapsulationKey(), Signature: k.Signature}
}
