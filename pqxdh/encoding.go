package pqxdh

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/mlkem"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// Version is the first byte of every top-level encoding of this package.
const Version = 1

var (
	errTruncated = errors.New("truncated or malformed encoding")
	errTrailing  = errors.New("trailing bytes")
)

func decodeErr(what string, err error) error {
	return fmt.Errorf("pqxdh: decoding %s: %w", what, err)
}

func readVersion(s *cryptobyte.String) error {
	var v uint8
	if !s.ReadUint8(&v) {
		return errTruncated
	}
	if v != Version {
		return fmt.Errorf("unknown version %d", v)
	}
	return nil
}

func readBool(s *cryptobyte.String, out *bool) bool {
	var v uint8
	if !s.ReadUint8(&v) || v > 1 {
		return false
	}
	*out = v == 1
	return true
}

func readX25519Public(s *cryptobyte.String) (*ecdh.PublicKey, bool) {
	var b []byte
	if !s.ReadBytes(&b, X25519KeySize) {
		return nil, false
	}
	k, err := ecdh.X25519().NewPublicKey(b)
	return k, err == nil
}

func readX25519Private(s *cryptobyte.String) (*ecdh.PrivateKey, bool) {
	var b []byte
	if !s.ReadBytes(&b, X25519KeySize) {
		return nil, false
	}
	k, err := ecdh.X25519().NewPrivateKey(b)
	return k, err == nil
}

func readEd25519Public(s *cryptobyte.String) (ed25519.PublicKey, bool) {
	var b []byte
	if !s.ReadBytes(&b, ed25519.PublicKeySize) {
		return nil, false
	}
	return ed25519.PublicKey(append([]byte(nil), b...)), true
}

func readSignature(s *cryptobyte.String) ([]byte, bool) {
	var b []byte
	if !s.ReadBytes(&b, SignatureSize) {
		return nil, false
	}
	return append([]byte(nil), b...), true
}

func readKEMPublic(s *cryptobyte.String) (*mlkem.EncapsulationKey768, bool) {
	var b []byte
	if !s.ReadBytes(&b, KEMPublicKeySize) {
		return nil, false
	}
	k, err := mlkem.NewEncapsulationKey768(b)
	return k, err == nil
}

// checkSig rejects signatures of the wrong length before they are encoded
// as fixed-length fields.
func checkSig(sig []byte) error {
	if len(sig) != SignatureSize {
		return errors.New("pqxdh: invalid signature length")
	}
	return nil
}

// Signed prekey body: uint32 id; opaque public_key[32]; opaque signature[64].
func (p *SignedPrekey) marshal(b *cryptobyte.Builder) error {
	if p.PublicKey == nil {
		return errors.New("pqxdh: signed prekey without public key")
	}
	if err := checkSig(p.Signature); err != nil {
		return err
	}
	b.AddUint32(p.ID)
	b.AddBytes(p.PublicKey.Bytes())
	b.AddBytes(p.Signature)
	return nil
}

func (p *SignedPrekey) unmarshal(s *cryptobyte.String) bool {
	var ok bool
	if !s.ReadUint32(&p.ID) {
		return false
	}
	if p.PublicKey, ok = readX25519Public(s); !ok {
		return false
	}
	p.Signature, ok = readSignature(s)
	return ok
}

// One-time prekey body: uint32 id; opaque public_key[32].
func (p *OneTimePrekey) marshal(b *cryptobyte.Builder) error {
	if p.PublicKey == nil {
		return errors.New("pqxdh: one-time prekey without public key")
	}
	b.AddUint32(p.ID)
	b.AddBytes(p.PublicKey.Bytes())
	return nil
}

func (p *OneTimePrekey) unmarshal(s *cryptobyte.String) bool {
	var ok bool
	if !s.ReadUint32(&p.ID) {
		return false
	}
	p.PublicKey, ok = readX25519Public(s)
	return ok
}

// PQ prekey body: uint32 id; uint8 last_resort; opaque
// encapsulation_key[1184]; opaque signature[64].
func (p *KEMPrekey) marshal(b *cryptobyte.Builder) error {
	if p.EncapsulationKey == nil {
		return errors.New("pqxdh: PQ prekey without encapsulation key")
	}
	if err := checkSig(p.Signature); err != nil {
		return err
	}
	b.AddUint32(p.ID)
	b.AddUint8(boolByte(p.LastResort))
	b.AddBytes(p.EncapsulationKey.Bytes())
	b.AddBytes(p.Signature)
	return nil
}

func (p *KEMPrekey) unmarshal(s *cryptobyte.String) bool {
	var ok bool
	if !s.ReadUint32(&p.ID) || !readBool(s, &p.LastResort) {
		return false
	}
	if p.EncapsulationKey, ok = readKEMPublic(s); !ok {
		return false
	}
	p.Signature, ok = readSignature(s)
	return ok
}

func marshalTop(f func(b *cryptobyte.Builder) error) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddUint8(Version)
	if err := f(&b); err != nil {
		return nil, err
	}
	return b.Bytes()
}

func parseTop(what string, data []byte, f func(s *cryptobyte.String) bool) error {
	s := cryptobyte.String(data)
	if err := readVersion(&s); err != nil {
		return decodeErr(what, err)
	}
	if !f(&s) {
		return decodeErr(what, errTruncated)
	}
	if !s.Empty() {
		return decodeErr(what, errTrailing)
	}
	return nil
}

// MarshalBinary encodes the signed prekey as uint8 version = 1 followed by
// its body, for upload to the directory.
func (p *SignedPrekey) MarshalBinary() ([]byte, error) { return marshalTop(p.marshal) }

// ParseSignedPrekey decodes a SignedPrekey encoded by MarshalBinary. It does
// not verify the signature.
func ParseSignedPrekey(data []byte) (*SignedPrekey, error) {
	p := new(SignedPrekey)
	if err := parseTop("signed prekey", data, p.unmarshal); err != nil {
		return nil, err
	}
	return p, nil
}

// MarshalBinary encodes the one-time prekey as uint8 version = 1 followed by
// its body, for upload to the directory.
func (p *OneTimePrekey) MarshalBinary() ([]byte, error) { return marshalTop(p.marshal) }

// ParseOneTimePrekey decodes a OneTimePrekey encoded by MarshalBinary.
func ParseOneTimePrekey(data []byte) (*OneTimePrekey, error) {
	p := new(OneTimePrekey)
	if err := parseTop("one-time prekey", data, p.unmarshal); err != nil {
		return nil, err
	}
	return p, nil
}

// MarshalBinary encodes the PQ prekey as uint8 version = 1 followed by its
// body, for upload to the directory.
func (p *KEMPrekey) MarshalBinary() ([]byte, error) { return marshalTop(p.marshal) }

// ParseKEMPrekey decodes a KEMPrekey encoded by MarshalBinary. It does not
// verify the signature.
func ParseKEMPrekey(data []byte) (*KEMPrekey, error) {
	p := new(KEMPrekey)
	if err := parseTop("PQ prekey", data, p.unmarshal); err != nil {
		return nil, err
	}
	return p, nil
}

// MarshalBinary serialises the private prekey for local persistence:
// uint8 version = 1; uint32 id; opaque private_key[32]; opaque signature[64].
func (k *SignedPrekeyPrivate) MarshalBinary() ([]byte, error) {
	return marshalTop(func(b *cryptobyte.Builder) error {
		if k.PrivateKey == nil {
			return errors.New("pqxdh: signed prekey without private key")
		}
		if err := checkSig(k.Signature); err != nil {
			return err
		}
		b.AddUint32(k.ID)
		b.AddBytes(k.PrivateKey.Bytes())
		b.AddBytes(k.Signature)
		return nil
	})
}

// ParseSignedPrekeyPrivate decodes a SignedPrekeyPrivate serialised by
// MarshalBinary.
func ParseSignedPrekeyPrivate(data []byte) (*SignedPrekeyPrivate, error) {
	k := new(SignedPrekeyPrivate)
	err := parseTop("signed prekey private key", data, func(s *cryptobyte.String) bool {
		var ok bool
		if !s.ReadUint32(&k.ID) {
			return false
		}
		if k.PrivateKey, ok = readX25519Private(s); !ok {
			return false
		}
		k.Signature, ok = readSignature(s)
		return ok
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// MarshalBinary serialises the private prekey for local persistence:
// uint8 version = 1; uint32 id; opaque private_key[32].
func (k *OneTimePrekeyPrivate) MarshalBinary() ([]byte, error) {
	return marshalTop(func(b *cryptobyte.Builder) error {
		if k.PrivateKey == nil {
			return errors.New("pqxdh: one-time prekey without private key")
		}
		b.AddUint32(k.ID)
		b.AddBytes(k.PrivateKey.Bytes())
		return nil
	})
}

// ParseOneTimePrekeyPrivate decodes a OneTimePrekeyPrivate serialised by
// MarshalBinary.
func ParseOneTimePrekeyPrivate(data []byte) (*OneTimePrekeyPrivate, error) {
	k := new(OneTimePrekeyPrivate)
	err := parseTop("one-time prekey private key", data, func(s *cryptobyte.String) bool {
		var ok bool
		if !s.ReadUint32(&k.ID) {
			return false
		}
		k.PrivateKey, ok = readX25519Private(s)
		return ok
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// MarshalBinary serialises the private prekey for local persistence:
// uint8 version = 1; uint32 id; uint8 last_resort; opaque seed[64] (the
// FIPS 203 "d ‖ z" seed); opaque signature[64].
func (k *KEMPrekeyPrivate) MarshalBinary() ([]byte, error) {
	return marshalTop(func(b *cryptobyte.Builder) error {
		if k.DecapsulationKey == nil {
			return errors.New("pqxdh: PQ prekey without decapsulation key")
		}
		if err := checkSig(k.Signature); err != nil {
			return err
		}
		b.AddUint32(k.ID)
		b.AddUint8(boolByte(k.LastResort))
		b.AddBytes(k.DecapsulationKey.Bytes())
		b.AddBytes(k.Signature)
		return nil
	})
}

// ParseKEMPrekeyPrivate decodes a KEMPrekeyPrivate serialised by
// MarshalBinary.
func ParseKEMPrekeyPrivate(data []byte) (*KEMPrekeyPrivate, error) {
	k := new(KEMPrekeyPrivate)
	err := parseTop("PQ prekey private key", data, func(s *cryptobyte.String) bool {
		var seed []byte
		if !s.ReadUint32(&k.ID) || !readBool(s, &k.LastResort) || !s.ReadBytes(&seed, KEMSeedSize) {
			return false
		}
		dk, err := mlkem.NewDecapsulationKey768(seed)
		if err != nil {
			return false
		}
		k.DecapsulationKey = dk
		var ok bool
		k.Signature, ok = readSignature(s)
		return ok
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// Bundle is a device's prekey bundle as fetched from the directory
// (PQXDH Section 3.2): its Ed25519 signing key, its X25519 identity key IK_B,
// a signed prekey SPK_B, optionally a one-time prekey OPK_B, and one signed
// PQ prekey PQPK_B (one-time if the server had one, else last-resort).
type Bundle struct {
	SigningKey    ed25519.PublicKey
	IdentityKey   *ecdh.PublicKey
	SignedPrekey  SignedPrekey
	OneTimePrekey *OneTimePrekey // nil if the server had none left
	KEMPrekey     KEMPrekey
}

// Verify verifies both prekey signatures under b.SigningKey. The initiator
// calls it (InitiatorAgree does) before using any key in the bundle.
func (b *Bundle) Verify() error {
	if len(b.SigningKey) != ed25519.PublicKeySize || b.IdentityKey == nil {
		return errors.New("pqxdh: incomplete bundle")
	}
	if err := b.SignedPrekey.Verify(b.SigningKey); err != nil {
		return err
	}
	return b.KEMPrekey.Verify(b.SigningKey)
}

// MarshalBinary encodes the bundle:
//
//	struct {
//	  uint8  version = 1;
//	  opaque signing_key[32];     // Ed25519
//	  opaque identity_key[32];    // X25519 IK_B
//	  SignedPrekeyBody signed_prekey;
//	  uint8  has_one_time_prekey; // 0 or 1
//	  OneTimePrekeyBody one_time_prekey; // present iff has_one_time_prekey
//	  KEMPrekeyBody pq_prekey;
//	}
func (b *Bundle) MarshalBinary() ([]byte, error) {
	return marshalTop(func(cb *cryptobyte.Builder) error {
		if len(b.SigningKey) != ed25519.PublicKeySize || b.IdentityKey == nil {
			return errors.New("pqxdh: incomplete bundle")
		}
		cb.AddBytes(b.SigningKey)
		cb.AddBytes(b.IdentityKey.Bytes())
		if err := b.SignedPrekey.marshal(cb); err != nil {
			return err
		}
		cb.AddUint8(boolByte(b.OneTimePrekey != nil))
		if b.OneTimePrekey != nil {
			if err := b.OneTimePrekey.marshal(cb); err != nil {
				return err
			}
		}
		return b.KEMPrekey.marshal(cb)
	})
}

// ParseBundle decodes a Bundle encoded by MarshalBinary. It checks encodings
// only; signatures are verified by Bundle.Verify and InitiatorAgree.
func ParseBundle(data []byte) (*Bundle, error) {
	b := new(Bundle)
	err := parseTop("bundle", data, func(s *cryptobyte.String) bool {
		var ok, hasOTP bool
		if b.SigningKey, ok = readEd25519Public(s); !ok {
			return false
		}
		if b.IdentityKey, ok = readX25519Public(s); !ok {
			return false
		}
		if !b.SignedPrekey.unmarshal(s) || !readBool(s, &hasOTP) {
			return false
		}
		if hasOTP {
			b.OneTimePrekey = new(OneTimePrekey)
			if !b.OneTimePrekey.unmarshal(s) {
				return false
			}
		}
		return b.KEMPrekey.unmarshal(s)
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// InitialHeader is what the initiator sends with its first messages
// (PQXDH Section 3.3): its identity keys, its ephemeral key EK_A, the ids of
// the prekeys it used and the ML-KEM ciphertext CT.
//
// SigningKey extends the spec's header: the responder needs the initiator's
// Ed25519 key to compute AD. Callers MUST check both identity keys against
// the initiator's device as listed in its verified device list.
type InitialHeader struct {
	SigningKey       ed25519.PublicKey
	IdentityKey      *ecdh.PublicKey
	EphemeralKey     *ecdh.PublicKey
	SignedPrekeyID   uint32
	HasOneTimePrekey bool
	OneTimePrekeyID  uint32 // meaningful only if HasOneTimePrekey
	KEMPrekeyID      uint32
	KEMCiphertext    []byte
}

// MarshalBinary encodes the header:
//
//	struct {
//	  uint8  version = 1;
//	  opaque signing_key[32];     // Ed25519, initiator device
//	  opaque identity_key[32];    // X25519 IK_A
//	  opaque ephemeral_key[32];   // X25519 EK_A
//	  uint32 signed_prekey_id;
//	  uint8  has_one_time_prekey; // 0 or 1
//	  uint32 one_time_prekey_id;  // present iff has_one_time_prekey
//	  uint32 pq_prekey_id;
//	  opaque kem_ciphertext[1088];
//	}
func (h *InitialHeader) MarshalBinary() ([]byte, error) {
	return marshalTop(func(b *cryptobyte.Builder) error {
		if len(h.SigningKey) != ed25519.PublicKeySize || h.IdentityKey == nil || h.EphemeralKey == nil {
			return errors.New("pqxdh: incomplete initial header")
		}
		if len(h.KEMCiphertext) != KEMCiphertextSize {
			return errors.New("pqxdh: invalid KEM ciphertext length")
		}
		b.AddBytes(h.SigningKey)
		b.AddBytes(h.IdentityKey.Bytes())
		b.AddBytes(h.EphemeralKey.Bytes())
		b.AddUint32(h.SignedPrekeyID)
		b.AddUint8(boolByte(h.HasOneTimePrekey))
		if h.HasOneTimePrekey {
			b.AddUint32(h.OneTimePrekeyID)
		}
		b.AddUint32(h.KEMPrekeyID)
		b.AddBytes(h.KEMCiphertext)
		return nil
	})
}

// ParseInitialHeader decodes an InitialHeader encoded by MarshalBinary.
func ParseInitialHeader(data []byte) (*InitialHeader, error) {
	h := new(InitialHeader)
	if err := parseTop("initial header", data, h.unmarshal); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *InitialHeader) unmarshal(s *cryptobyte.String) bool {
	var ok bool
	if h.SigningKey, ok = readEd25519Public(s); !ok {
		return false
	}
	if h.IdentityKey, ok = readX25519Public(s); !ok {
		return false
	}
	if h.EphemeralKey, ok = readX25519Public(s); !ok {
		return false
	}
	if !s.ReadUint32(&h.SignedPrekeyID) || !readBool(s, &h.HasOneTimePrekey) {
		return false
	}
	if h.HasOneTimePrekey && !s.ReadUint32(&h.OneTimePrekeyID) {
		return false
	}
	var ct []byte
	if !s.ReadUint32(&h.KEMPrekeyID) || !s.ReadBytes(&ct, KEMCiphertextSize) {
		return false
	}
	h.KEMCiphertext = append([]byte(nil), ct...)
	return true
}
