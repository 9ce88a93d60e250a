package identity

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/cryptobyte"
)

// DeviceID identifies a device within an account. 0 is invalid; 1 is the
// primary device, which holds the AIK.
type DeviceID uint32

// PrimaryDevice is the DeviceID of the primary device.
const PrimaryDevice DeviceID = 1

// Key sizes of a device.
const (
	DeviceSigningKeySize  = ed25519.PublicKeySize // Ed25519 public signing key
	DeviceIdentityKeySize = 32                    // X25519 public identity key
)

// DevicePublicKeys are the public keys of one device: an Ed25519 signing key
// and an X25519 identity key (DESIGN.md, Section 2).
type DevicePublicKeys struct {
	// SigningKey is the device's Ed25519 public key. It signs challenges
	// (SignChallenge) and the device's prekeys.
	SigningKey ed25519.PublicKey
	// IdentityKey is the device's X25519 identity key, used by PQXDH.
	IdentityKey *ecdh.PublicKey
}

// Validate checks that both keys are present, have the right lengths and are
// not small-order points.
func (p DevicePublicKeys) Validate() error {
	if err := p.validate(); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	return nil
}

// validate is Validate with errors that lack the package prefix, for
// callers that add their own.
func (p DevicePublicKeys) validate() error {
	if len(p.SigningKey) != DeviceSigningKeySize {
		return fmt.Errorf("device signing key must be %d bytes, got %d", DeviceSigningKeySize, len(p.SigningKey))
	}
	if isWeakEd25519(p.SigningKey) {
		return errors.New("device signing key is a small-order point")
	}
	if p.IdentityKey == nil {
		return errors.New("missing device identity key")
	}
	if p.IdentityKey.Curve() != ecdh.X25519() {
		return errors.New("device identity key is not an X25519 key")
	}
	if isWeakX25519(p.IdentityKey.Bytes()) {
		return errors.New("device identity key is a small-order point")
	}
	return nil
}

// Equal reports whether p and o hold the same keys.
func (p DevicePublicKeys) Equal(o DevicePublicKeys) bool {
	if !bytes.Equal(p.SigningKey, o.SigningKey) {
		return false
	}
	if p.IdentityKey == nil || o.IdentityKey == nil {
		return p.IdentityKey == nil && o.IdentityKey == nil
	}
	return p.IdentityKey.Equal(o.IdentityKey)
}

// addTo appends signing_key[32] || identity_key[32].
func (p DevicePublicKeys) addTo(b *cryptobyte.Builder) {
	b.AddBytes(p.SigningKey)
	b.AddBytes(p.IdentityKey.Bytes())
}

// readDevicePublicKeys reads signing_key[32] || identity_key[32] and
// validates them. Its errors lack the package prefix.
func readDevicePublicKeys(s *cryptobyte.String) (DevicePublicKeys, error) {
	var sk, ik []byte
	if !s.ReadBytes(&sk, DeviceSigningKeySize) || !s.ReadBytes(&ik, DeviceIdentityKeySize) {
		return DevicePublicKeys{}, errTruncated
	}
	pub, err := ecdh.X25519().NewPublicKey(ik)
	if err != nil {
		return DevicePublicKeys{}, fmt.Errorf("device identity key: %w", err)
	}
	p := DevicePublicKeys{SigningKey: bytes.Clone(sk), IdentityKey: pub}
	if err := p.validate(); err != nil {
		return DevicePublicKeys{}, err
	}
	return p, nil
}

// errTruncated is wrapped by callers that add the package prefix.
var errTruncated = errors.New("truncated")

// DeviceKeys are the private keys of one device. The X25519 key is kept
// parsed so that hot paths (PQXDH) do not rebuild it.
type DeviceKeys struct {
	signing  ed25519.PrivateKey
	identity *ecdh.PrivateKey
}

// GenerateDeviceKeys reads a 32-byte Ed25519 seed and then a 32-byte X25519
// private key from rand, and derives the device keys from them.
func GenerateDeviceKeys(rand io.Reader) (*DeviceKeys, error) {
	var seed [ed25519.SeedSize + 32]byte
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, fmt.Errorf("identity: reading device key seeds: %w", err)
	}
	return newDeviceKeys(seed[:ed25519.SeedSize], seed[ed25519.SeedSize:])
}

func newDeviceKeys(signingSeed, identity []byte) (*DeviceKeys, error) {
	ik, err := ecdh.X25519().NewPrivateKey(identity)
	if err != nil {
		return nil, fmt.Errorf("identity: device identity key: %w", err)
	}
	k := &DeviceKeys{signing: ed25519.NewKeyFromSeed(signingSeed), identity: ik}
	// A clamped X25519 scalar never yields a small-order public key, and an
	// Ed25519 public key derived from a seed has prime order; this check
	// keeps the invariant that Public always validates.
	if err := k.Public().Validate(); err != nil {
		return nil, err
	}
	return k, nil
}

// Public returns the device's public keys.
func (k *DeviceKeys) Public() DevicePublicKeys {
	return DevicePublicKeys{
		SigningKey:  k.signing.Public().(ed25519.PublicKey),
		IdentityKey: k.identity.PublicKey(),
	}
}

// SigningKey returns the device's Ed25519 private key, for packages that
// sign with it under their own context strings (such as signed prekeys).
func (k *DeviceKeys) SigningKey() ed25519.PrivateKey { return k.signing }

// IdentityKey returns the device's parsed X25519 private identity key.
func (k *DeviceKeys) IdentityKey() *ecdh.PrivateKey { return k.identity }

// deviceKeysVersion is the version byte of the DeviceKeys encoding.
const deviceKeysVersion = 1

// MarshalBinary encodes the device keys for local storage: version (1),
// the 32-byte Ed25519 seed and the 32-byte X25519 private key. The result is
// secret.
func (k *DeviceKeys) MarshalBinary() ([]byte, error) {
	var b cryptobyte.Builder
	b.AddUint8(deviceKeysVersion)
	b.AddBytes(k.signing.Seed())
	b.AddBytes(k.identity.Bytes())
	return b.Bytes()
}

// ParseDeviceKeys decodes the output of DeviceKeys.MarshalBinary.
func ParseDeviceKeys(data []byte) (*DeviceKeys, error) {
	s := cryptobyte.String(data)
	var version uint8
	var seed, ik []byte
	if !s.ReadUint8(&version) {
		return nil, errors.New("identity: device keys: truncated")
	}
	if version != deviceKeysVersion {
		return nil, fmt.Errorf("identity: device keys: unknown version %d", version)
	}
	if !s.ReadBytes(&seed, ed25519.SeedSize) || !s.ReadBytes(&ik, 32) {
		return nil, errors.New("identity: device keys: truncated")
	}
	if !s.Empty() {
		return nil, errors.New("identity: device keys: trailing bytes")
	}
	return newDeviceKeys(seed, ik)
}

// SignChallenge signs a server's authentication challenge with the device
// signing key (DESIGN.md, Section 3, "Auth": devices authenticate by signing
// a server challenge with their device key). The signature is Ed25519ctx
// with the context ContextChallenge, so it can never be confused with any
// other signature of the device.
func (k *DeviceKeys) SignChallenge(challenge []byte) []byte {
	return sign(k.signing, ContextChallenge, challenge)
}

// VerifyChallenge checks a signature made by SignChallenge under the device
// signing key pub. Its error says only that verification failed.
func VerifyChallenge(pub ed25519.PublicKey, challenge, sig []byte) error {
	if isWeakEd25519(pub) || !verify(pub, ContextChallenge, challenge, sig) {
		return errors.New("identity: challenge signature verification failed")
	}
	return nil
}
