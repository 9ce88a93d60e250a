package identity

import (
	"crypto/ed25519"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/cryptobyte"
)

// AccountIDSize is the length of an AccountID in bytes.
const AccountIDSize = 16

// AccountID identifies an account. The client chooses it at random at
// registration; it does not depend on any key, so the AIK can rotate while
// the account keeps its ID. The zero AccountID is invalid.
type AccountID [AccountIDSize]byte

// NewAccountID reads a random AccountID from rand.
func NewAccountID(rand io.Reader) (AccountID, error) {
	var id AccountID
	if _, err := io.ReadFull(rand, id[:]); err != nil {
		return AccountID{}, fmt.Errorf("identity: reading account ID: %w", err)
	}
	if id.IsZero() {
		return AccountID{}, errors.New("identity: random source returned zeros")
	}
	return id, nil
}

// ParseAccountID parses the canonical text form of an AccountID: exactly 32
// lowercase hexadecimal digits.
func ParseAccountID(s string) (AccountID, error) {
	var id AccountID
	if len(s) != 2*AccountIDSize {
		return AccountID{}, fmt.Errorf("identity: account ID must be %d hex digits, got %d characters", 2*AccountIDSize, len(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return AccountID{}, errors.New("identity: account ID must be lowercase hex")
		}
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return AccountID{}, fmt.Errorf("identity: account ID: %w", err)
	}
	if id.IsZero() {
		return AccountID{}, errors.New("identity: zero account ID")
	}
	return id, nil
}

// String returns the canonical text form: 32 lowercase hexadecimal digits.
func (id AccountID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is the zero (invalid) AccountID.
func (id AccountID) IsZero() bool { return id == AccountID{} }

// MarshalText implements encoding.TextMarshaler with the form of String.
func (id AccountID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseAccountID.
func (id *AccountID) UnmarshalText(b []byte) error {
	v, err := ParseAccountID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// AccountPublicKeySize is the length of an encoded AccountPublicKey.
const AccountPublicKeySize = ed25519.PublicKeySize

// AccountPublicKey is the public half of an Account Identity Key (AIK), an
// Ed25519 public key. The zero value means "no key"; every non-zero value was
// checked by ParseAccountPublicKey or came from an AccountKey, so it is never
// a small-order point.
type AccountPublicKey struct {
	k [AccountPublicKeySize]byte
}

// ParseAccountPublicKey checks and wraps an encoded Ed25519 public key. It
// rejects wrong lengths and the encodings of small-order points (for which
// signatures can be forged without the private key).
func ParseAccountPublicKey(b []byte) (AccountPublicKey, error) {
	k, err := parseAccountPublicKey(b)
	if err != nil {
		return AccountPublicKey{}, fmt.Errorf("identity: %w", err)
	}
	return k, nil
}

// parseAccountPublicKey is ParseAccountPublicKey with errors that lack the
// package prefix.
func parseAccountPublicKey(b []byte) (AccountPublicKey, error) {
	if len(b) != AccountPublicKeySize {
		return AccountPublicKey{}, fmt.Errorf("account public key must be %d bytes, got %d", AccountPublicKeySize, len(b))
	}
	if isWeakEd25519(b) {
		return AccountPublicKey{}, errors.New("account public key is a small-order point")
	}
	var k AccountPublicKey
	copy(k.k[:], b)
	return k, nil
}

// Bytes returns the 32-byte encoding of the key.
func (k AccountPublicKey) Bytes() []byte { return append([]byte(nil), k.k[:]...) }

// IsZero reports whether k is the zero value (no key).
func (k AccountPublicKey) IsZero() bool { return k == AccountPublicKey{} }

// Equal reports whether k and o are the same key.
func (k AccountPublicKey) Equal(o AccountPublicKey) bool { return k == o }

// String returns the key in lowercase hex.
func (k AccountPublicKey) String() string { return hex.EncodeToString(k.k[:]) }

func (k AccountPublicKey) ed25519() ed25519.PublicKey { return ed25519.PublicKey(k.k[:]) }

// AccountKey is the private Account Identity Key (AIK), an Ed25519 key held
// by the primary device. It signs device lists and rotation statements.
type AccountKey struct {
	priv ed25519.PrivateKey
	pub  AccountPublicKey
}

// GenerateAccountKey reads a 32-byte Ed25519 seed from rand and derives an
// AccountKey from it (RFC 8032, Section 5.1.5).
func GenerateAccountKey(rand io.Reader) (*AccountKey, error) {
	var seed [ed25519.SeedSize]byte
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, fmt.Errorf("identity: reading account key seed: %w", err)
	}
	return newAccountKey(seed[:])
}

func newAccountKey(seed []byte) (*AccountKey, error) {
	priv := ed25519.NewKeyFromSeed(seed)
	pub, err := ParseAccountPublicKey(priv.Public().(ed25519.PublicKey))
	if err != nil {
		// Unreachable for a real Ed25519 key: A = [s]B has prime order.
		return nil, err
	}
	return &AccountKey{priv: priv, pub: pub}, nil
}

// Public returns the public AIK.
func (k *AccountKey) Public() AccountPublicKey { return k.pub }

// accountKeyVersion is the version byte of the AccountKey encoding.
const accountKeyVersion = 1

// MarshalBinary encodes the key for local storage: version (1) followed by
// the 32-byte Ed25519 seed. The result is secret.
func (k *AccountKey) MarshalBinary() ([]byte, error) {
	var b cryptobyte.Builder
	b.AddUint8(accountKeyVersion)
	b.AddBytes(k.priv.Seed())
	return b.Bytes()
}

// ParseAccountKey decodes the output of AccountKey.MarshalBinary.
func ParseAccountKey(data []byte) (*AccountKey, error) {
	s := cryptobyte.String(data)
	var version uint8
	var seed []byte
	if !s.ReadUint8(&version) {
		return nil, errors.New("identity: account key: truncated")
	}
	if version != accountKeyVersion {
		return nil, fmt.Errorf("identity: account key: unknown version %d", version)
	}
	if !s.ReadBytes(&seed, ed25519.SeedSize) {
		return nil, errors.New("identity: account key: truncated")
	}
	if !s.Empty() {
		return nil, errors.New("identity: account key: trailing bytes")
	}
	return newAccountKey(seed)
}

// sign makes an Ed25519ctx signature (RFC 8032, Section 5.1) with the given
// context string.
func sign(priv ed25519.PrivateKey, context string, msg []byte) []byte {
	sig, err := priv.Sign(nil, msg, &ed25519.Options{Context: context})
	if err != nil {
		// Only possible for a context longer than 255 bytes; ours are
		// constants well below that.
		panic("identity: " + err.Error())
	}
	return sig
}

// verify checks an Ed25519ctx signature with the given context string.
func verify(pub ed25519.PublicKey, context string, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	return ed25519.VerifyWithOptions(pub, msg, sig, &ed25519.Options{Context: context}) == nil
}

// weakEd25519 lists the encodings, with the sign bit (bit 255) cleared, of
// the eight points of order dividing 8 on edwards25519, including the
// non-canonical encodings p and p+1 of y = 0 and y = 1. An Ed25519 public
// key with one of these encodings admits signatures forged without the
// private key, so every key this package accepts is checked against it. Only
// y values below 2^255 exist in an encoding, and the two order-8 y values are
// below 2^255-p, so no other non-canonical encoding of a torsion point
// exists: the list is complete.
var weakEd25519 = [][32]byte{
	// y = 0 (order 4)
	{},
	// y = 1: the identity (order 1)
	{0x01},
	// order 8
	{0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
		0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05},
	// order 8
	{0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
		0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a},
	// y = p-1 (order 2)
	{0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
	// y = p, non-canonical 0 (order 4)
	{0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
	// y = p+1, non-canonical 1 (order 1)
	{0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
}

// weakX25519 lists the Curve25519 u-coordinates, with bit 255 cleared (RFC
// 7748, Section 5: implementations MUST mask it), of the points of small
// order on the curve and its twist, including the non-canonical encodings p
// and p+1 of 0 and 1. X25519 with such a point gives a result independent of
// the private key. As for weakEd25519, the list is complete.
var weakX25519 = [][32]byte{
	// 0: the point (0, 0) (order 2)
	{},
	// 1 (order 4)
	{0x01},
	// order 8
	{0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
		0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00},
	// order 8
	{0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef, 0x5b,
		0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57},
	// p-1 (order 2, on the twist)
	{0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
	// p, non-canonical 0
	{0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
	// p+1, non-canonical 1
	{0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
}

func isWeak(list [][32]byte, b []byte) bool {
	if len(b) != 32 {
		return true
	}
	var k [32]byte
	copy(k[:], b)
	k[31] &= 0x7f
	weak := 0
	for i := range list {
		weak |= subtle.ConstantTimeCompare(k[:], list[i][:])
	}
	return weak == 1
}

// isWeakEd25519 reports whether b is not a usable Ed25519 public key
// encoding: wrong length or a small-order point.
func isWeakEd25519(b []byte) bool { return isWeak(weakEd25519, b) }

// isWeakX25519 reports whether b is not a usable X25519 public key: wrong
// length or a small-order point.
func isWeakX25519(b []byte) bool { return isWeak(weakX25519, b) }
