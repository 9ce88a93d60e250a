// Package pqxdh implements Signal's PQXDH key agreement (revision 3) with
// X25519, SHA-256 and ML-KEM-768, as Ward uses it to start 1:1 sessions
// between two devices.
//
// A device publishes a Bundle through the directory: its Ed25519 signing
// key, its X25519 identity key, a signed X25519 prekey, optionally a one-time
// X25519 prekey, and one signed ML-KEM-768 prekey (a one-time PQ prekey, or
// the last-resort PQ prekey when the server has none left). Prekeys are made
// with NewSignedPrekey, NewOneTimePrekey and NewKEMPrekey; the private halves
// serialise with MarshalBinary for local storage.
//
// The initiator ("Alice") fetches the bundle and calls InitiatorAgree, which
// verifies every prekey signature before touching any key, and returns the
// 32-byte shared secret SK, the InitialHeader to send with its first
// messages, and the associated data AD. The responder ("Bob") looks up the
// private prekeys named in the header and calls ResponderAgree, which returns
// the same SK and AD and reports which one-time prekeys were consumed: the
// caller MUST delete those (PQXDH Section 3.4) and keep the last-resort PQ
// prekey.
//
// Parameters (PQXDH Section 2.1): curve = X25519, hash = SHA-256,
// info = "WARD_PQXDH_X25519_SHA-256_ML-KEM-768", pqkem = ML-KEM-768
// (FIPS 203, crypto/mlkem).
//
// Deviations from the specification, all deliberate:
//
//   - Prekey signatures. The spec signs prekeys with XEdDSA under the X25519
//     identity key. A Ward device signs with its separate Ed25519 signing key,
//     over a domain-separated message that binds a label, the key type, the
//     prekey id, the last-resort flag and the public key bytes (see the
//     protocol document). Binding the id and flag stops a server from
//     replaying a signed key under another id or presenting a one-time PQ
//     prekey as last-resort.
//   - Associated data. The spec's AD is Encode(IK_A) ‖ Encode(IK_B). A Ward
//     device identity is split across two keys, the X25519 identity key and
//     the Ed25519 signing key that its device list certifies, so AD also
//     carries both signing keys: a session is bound to the signing keys the
//     two parties verified, not only to the DH keys.
//   - The InitialHeader carries the initiator's Ed25519 signing key, needed
//     by the responder to compute AD.
//
// ML-KEM encapsulation draws from the system's secure random source
// (crypto/mlkem offers no way to inject one); every other random value is
// read from the io.Reader the caller passes. Tests that need fully
// reproducible outputs use testing/cryptotest.SetGlobalRandom.
package pqxdh

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
)

// Info is the HKDF info string (PQXDH Section 2.1, "info").
const Info = "WARD_PQXDH_X25519_SHA-256_ML-KEM-768"

// SharedSecretSize is the size of SK.
const SharedSecretSize = 32

// ADSize is the size of the associated data AD returned by the agreement
// functions.
const ADSize = 4 * (1 + 32)

// Encoding prefixes for AD (PQXDH Section 2.1, EncodeEC: a single byte
// naming the curve, then the u-coordinate). 0x05 is the value Signal uses
// for curve25519; 0x06 marks an Ed25519 key.
const (
	encodeX25519  = 0x05
	encodeEd25519 = 0x06
)

// ErrAgreementFailed is returned by the agreement functions for every
// failure that involves secret or peer-supplied key material, without
// detail.
var ErrAgreementFailed = errors.New("pqxdh: key agreement failed")

// associatedData computes AD = EncodeEC(IK_A) ‖ EncodeEC(IK_B) ‖
// EncodeEd(SIG_A) ‖ EncodeEd(SIG_B) (PQXDH Section 3.3, extended).
func associatedData(ikA, ikB *ecdh.PublicKey, sigA, sigB ed25519.PublicKey) []byte {
	ad := make([]byte, 0, ADSize)
	ad = append(ad, encodeX25519)
	ad = append(ad, ikA.Bytes()...)
	ad = append(ad, encodeX25519)
	ad = append(ad, ikB.Bytes()...)
	ad = append(ad, encodeEd25519)
	ad = append(ad, sigA...)
	ad = append(ad, encodeEd25519)
	ad = append(ad, sigB...)
	return ad
}

var zeroDH [32]byte

// dh computes DH(priv, pub) and appends it to km. An all-zero output means
// a low-order public key and aborts the agreement; crypto/ecdh already
// rejects it, and the explicit check keeps the invariant local.
func dh(km []byte, priv *ecdh.PrivateKey, pub *ecdh.PublicKey) ([]byte, error) {
	out, err := priv.ECDH(pub)
	if err != nil || len(out) != 32 || subtle.ConstantTimeCompare(out, zeroDH[:]) == 1 {
		return nil, ErrAgreementFailed
	}
	km = append(km, out...)
	clear(out)
	return km, nil
}

// kdf is KDF(KM) of PQXDH Section 2.2: HKDF-SHA-256 with input key
// material F ‖ KM, where F is 32 0xFF bytes, a zero-filled 32-byte salt and
// info = Info, producing 32 bytes.
func kdf(km []byte) ([]byte, error) {
	var salt [sha256.Size]byte
	sk, err := hkdf.Key(sha256.New, km, salt[:], Info, SharedSecretSize)
	if err != nil {
		return nil, fmt.Errorf("pqxdh: %w", err)
	}
	return sk, nil
}

// newKM returns a buffer holding F with room for four DH outputs and SS.
func newKM() []byte {
	km := make([]byte, 32, 32*6)
	for i := range km {
		km[i] = 0xFF
	}
	return km
}

// InitiatorAgree runs the initiator's side of PQXDH (Section 3.3) against a
// bundle fetched from the directory. It verifies both prekey signatures
// before any secret is computed ("Alice verifies the prekey signatures and
// aborts the protocol if verification fails"), generates EK_A from rand,
// computes
//
//	DH1 = DH(IK_A, SPK_B)  DH2 = DH(EK_A, IK_B)  DH3 = DH(EK_A, SPK_B)
//	DH4 = DH(EK_A, OPK_B)  (if the bundle has a one-time prekey)
//	(CT, SS) = PQKEM-ENC(PQPK_B)
//	SK = KDF(DH1 ‖ DH2 ‖ DH3 ‖ DH4 ‖ SS)
//
// and returns SK, the header to send and AD. The caller must check that the
// bundle's signing and identity keys belong to the intended device (its
// verified device list) before calling.
func InitiatorAgree(rand io.Reader, self IdentityKeyPair, bundle *Bundle) (sharedSecret []byte, header *InitialHeader, ad []byte, err error) {
	if err := self.check(); err != nil {
		return nil, nil, nil, err
	}
	if bundle == nil {
		return nil, nil, nil, errors.New("pqxdh: nil bundle")
	}
	// Section 3.3: verify EVERY signature before any secret is used.
	if err := bundle.Verify(); err != nil {
		return nil, nil, nil, err
	}
	ek, err := newX25519(rand)
	if err != nil {
		return nil, nil, nil, err
	}
	km := newKM()
	if km, err = dh(km, self.IdentityKey, bundle.SignedPrekey.PublicKey); err != nil {
		return nil, nil, nil, err
	}
	if km, err = dh(km, ek, bundle.IdentityKey); err != nil {
		return nil, nil, nil, err
	}
	if km, err = dh(km, ek, bundle.SignedPrekey.PublicKey); err != nil {
		return nil, nil, nil, err
	}
	h := &InitialHeader{
		SigningKey:     self.SigningKey.Public().(ed25519.PublicKey),
		IdentityKey:    self.IdentityKey.PublicKey(),
		EphemeralKey:   ek.PublicKey(),
		SignedPrekeyID: bundle.SignedPrekey.ID,
		KEMPrekeyID:    bundle.KEMPrekey.ID,
	}
	if opk := bundle.OneTimePrekey; opk != nil {
		if opk.PublicKey == nil {
			return nil, nil, nil, errors.New("pqxdh: one-time prekey without public key")
		}
		if km, err = dh(km, ek, opk.PublicKey); err != nil {
			return nil, nil, nil, err
		}
		h.HasOneTimePrekey = true
		h.OneTimePrekeyID = opk.ID
	}
	ss, ct := bundle.KEMPrekey.EncapsulationKey.Encapsulate()
	km = append(km, ss...)
	clear(ss)
	h.KEMCiphertext = ct
	sk, err := kdf(km)
	clear(km) // Section 3.3: delete the DH outputs and SS.
	if err != nil {
		return nil, nil, nil, err
	}
	ad = associatedData(h.IdentityKey, bundle.IdentityKey, h.SigningKey, bundle.SigningKey)
	return sk, h, ad, nil
}

// ResponderPrekeys are the responder's private prekeys named by an
// InitialHeader, as the caller looked them up in its store.
// OneTimePrekey is nil when the header names none.
type ResponderPrekeys struct {
	SignedPrekey  *SignedPrekeyPrivate
	OneTimePrekey *OneTimePrekeyPrivate
	KEMPrekey     *KEMPrekeyPrivate
}

// Consumed names the one-time prekeys an agreement used. The caller MUST
// delete them from its store once it has durably stored the new session
// (PQXDH Section 3.4: "Bob deletes any one-time prekey private key that was
// used"). A last-resort PQ prekey is never reported.
type Consumed struct {
	OneTimePrekey    bool
	OneTimePrekeyID  uint32
	OneTimeKEMPrekey bool
	KEMPrekeyID      uint32
}

// ResponderAgree runs the responder's side of PQXDH (Section 3.4): it
// checks that keys are the prekeys the header names, repeats the DH
// computations with the private keys, decapsulates CT, and derives SK and
// AD exactly as the initiator did. Trust in the header's identity keys is
// the caller's business: they MUST be the initiator device's keys from its
// verified device list. On success the caller deletes the prekeys reported
// in Consumed.
func ResponderAgree(self IdentityKeyPair, keys ResponderPrekeys, header *InitialHeader) (sharedSecret, ad []byte, consumed Consumed, err error) {
	if err := self.check(); err != nil {
		return nil, nil, Consumed{}, err
	}
	if header == nil || header.IdentityKey == nil || header.EphemeralKey == nil ||
		len(header.SigningKey) != ed25519.PublicKeySize || len(header.KEMCiphertext) != KEMCiphertextSize {
		return nil, nil, Consumed{}, errors.New("pqxdh: incomplete initial header")
	}
	spk, kem := keys.SignedPrekey, keys.KEMPrekey
	if spk == nil || spk.PrivateKey == nil || spk.ID != header.SignedPrekeyID {
		return nil, nil, Consumed{}, errors.New("pqxdh: signed prekey does not match header")
	}
	if kem == nil || kem.DecapsulationKey == nil || kem.ID != header.KEMPrekeyID {
		return nil, nil, Consumed{}, errors.New("pqxdh: PQ prekey does not match header")
	}
	opk := keys.OneTimePrekey
	if header.HasOneTimePrekey != (opk != nil) || (opk != nil && (opk.PrivateKey == nil || opk.ID != header.OneTimePrekeyID)) {
		return nil, nil, Consumed{}, errors.New("pqxdh: one-time prekey does not match header")
	}
	// A reflected header (our own identity) is refused: a session with
	// oneself is never intended.
	if bytes.Equal(header.IdentityKey.Bytes(), self.IdentityKey.PublicKey().Bytes()) {
		return nil, nil, Consumed{}, ErrAgreementFailed
	}

	km := newKM()
	if km, err = dh(km, spk.PrivateKey, header.IdentityKey); err != nil { // DH1
		return nil, nil, Consumed{}, err
	}
	if km, err = dh(km, self.IdentityKey, header.EphemeralKey); err != nil { // DH2
		return nil, nil, Consumed{}, err
	}
	if km, err = dh(km, spk.PrivateKey, header.EphemeralKey); err != nil { // DH3
		return nil, nil, Consumed{}, err
	}
	if opk != nil {
		if km, err = dh(km, opk.PrivateKey, header.EphemeralKey); err != nil { // DH4
			return nil, nil, Consumed{}, err
		}
	}
	ss, err := kem.DecapsulationKey.Decapsulate(header.KEMCiphertext)
	if err != nil {
		return nil, nil, Consumed{}, ErrAgreementFailed
	}
	km = append(km, ss...)
	clear(ss)
	sk, err := kdf(km)
	clear(km)
	if err != nil {
		return nil, nil, Consumed{}, err
	}
	ad = associatedData(header.IdentityKey, self.IdentityKey.PublicKey(), header.SigningKey, self.SigningKey.Public().(ed25519.PublicKey))
	if opk != nil {
		consumed.OneTimePrekey, consumed.OneTimePrekeyID = true, opk.ID
	}
	if !kem.LastResort {
		consumed.OneTimeKEMPrekey, consumed.KEMPrekeyID = true, kem.ID
	}
	return sk, ad, consumed, nil
}
