package mls

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/hpke"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/cryptobyte"
)

// CipherSuite is an MLS cipher suite identifier (RFC 9420, Section 17.1).
type CipherSuite uint16

// Supported cipher suites.
const (
	// X25519 + AES-128-GCM + SHA-256 + Ed25519 (mandatory to implement).
	MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 CipherSuite = 0x0001
	// P-256 + AES-128-GCM + SHA-256 + ECDSA P-256.
	MLS_128_DHKEMP256_AES128GCM_SHA256_P256 CipherSuite = 0x0002
	// X25519 + ChaCha20-Poly1305 + SHA-256 + Ed25519.
	MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519 CipherSuite = 0x0003
	// P-521 + AES-256-GCM + SHA-512 + ECDSA P-521.
	MLS_256_DHKEMP521_AES256GCM_SHA512_P521 CipherSuite = 0x0005
	// P-384 + AES-256-GCM + SHA-384 + ECDSA P-384.
	MLS_256_DHKEMP384_AES256GCM_SHA384_P384 CipherSuite = 0x0007
	// MLS_128_XWING_AES128GCM_SHA256_Ed25519 is Ward's post-quantum hybrid
	// suite in the private-use range: HPKE KEM MLKEM768-X25519 (X-Wing,
	// 0x647a), HKDF-SHA256, AES-128-GCM, Ed25519. It follows the make-up of
	// draft-ietf-mls-pq-ciphersuites-06; see docs/protocol/mls.md.
	MLS_128_XWING_AES128GCM_SHA256_Ed25519 CipherSuite = 0xF001
)

// ErrUnsupportedCipherSuite is returned for suites this package does not
// implement (4 and 6 need X448/Ed448, which Go lacks). Callers branch on it
// to report such suites as skipped.
var ErrUnsupportedCipherSuite = errors.New("mls: unsupported cipher suite")

type sigScheme int

const (
	sigEd25519 sigScheme = iota
	sigECDSA
)

// suite holds the primitives of one cipher suite.
type suite struct {
	id      CipherSuite
	newHash func() hash.Hash
	hashID  crypto.Hash
	nh      int // hash / KDF output length
	nk, nn  int // AEAD key and nonce lengths
	aeadNew func(key []byte) (cipher.AEAD, error)
	kem     hpke.KEM
	kdf     hpke.KDF
	aead    hpke.AEAD
	sig     sigScheme
	curve   elliptic.Curve // ECDSA only
	// ikmLen is the number of random bytes used to generate an HPKE key
	// pair with DeriveKeyPair.
	ikmLen int
}

func newAESGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

var suites = map[CipherSuite]*suite{}

func init() {
	add := func(s *suite) { suites[s.id] = s }
	add(&suite{id: 1, newHash: sha256.New, hashID: crypto.SHA256, nh: 32, nk: 16, nn: 12, aeadNew: newAESGCM,
		kem: hpke.DHKEM(ecdhX25519), kdf: hpke.HKDFSHA256(), aead: hpke.AES128GCM(), sig: sigEd25519, ikmLen: 32})
	add(&suite{id: 2, newHash: sha256.New, hashID: crypto.SHA256, nh: 32, nk: 16, nn: 12, aeadNew: newAESGCM,
		kem: hpke.DHKEM(ecdhP256), kdf: hpke.HKDFSHA256(), aead: hpke.AES128GCM(), sig: sigECDSA, curve: elliptic.P256(), ikmLen: 32})
	add(&suite{id: 3, newHash: sha256.New, hashID: crypto.SHA256, nh: 32, nk: 32, nn: 12, aeadNew: chacha20poly1305.New,
		kem: hpke.DHKEM(ecdhX25519), kdf: hpke.HKDFSHA256(), aead: hpke.ChaCha20Poly1305(), sig: sigEd25519, ikmLen: 32})
	add(&suite{id: 5, newHash: sha512.New, hashID: crypto.SHA512, nh: 64, nk: 32, nn: 12, aeadNew: newAESGCM,
		kem: hpke.DHKEM(ecdhP521), kdf: hpke.HKDFSHA512(), aead: hpke.AES256GCM(), sig: sigECDSA, curve: elliptic.P521(), ikmLen: 66})
	add(&suite{id: 7, newHash: sha512.New384, hashID: crypto.SHA384, nh: 48, nk: 32, nn: 12, aeadNew: newAESGCM,
		kem: hpke.DHKEM(ecdhP384), kdf: hpke.HKDFSHA384(), aead: hpke.AES256GCM(), sig: sigECDSA, curve: elliptic.P384(), ikmLen: 48})
	add(&suite{id: 0xF001, newHash: sha256.New, hashID: crypto.SHA256, nh: 32, nk: 16, nn: 12, aeadNew: newAESGCM,
		kem: hpke.MLKEM768X25519(), kdf: hpke.HKDFSHA256(), aead: hpke.AES128GCM(), sig: sigEd25519, ikmLen: 32})
}

// Supported reports whether cs is implemented by this package.
func (cs CipherSuite) Supported() bool { return suites[cs] != nil }

func (cs CipherSuite) String() string { return fmt.Sprintf("0x%04x", uint16(cs)) }

func getSuite(cs CipherSuite) (*suite, error) {
	s := suites[cs]
	if s == nil {
		return nil, fmt.Errorf("%w %v", ErrUnsupportedCipherSuite, cs)
	}
	return s, nil
}

func (s *suite) hash(data []byte) []byte {
	h := s.newHash()
	h.Write(data)
	return h.Sum(nil)
}

func (s *suite) mac(key, data []byte) []byte {
	m := hmac.New(s.newHash, key)
	m.Write(data)
	return m.Sum(nil)
}

func (s *suite) extract(salt, ikm []byte) []byte {
	if ikm == nil {
		ikm = []byte{}
	}
	out, err := hkdf.Extract(s.newHash, ikm, salt)
	if err != nil {
		panic(err) // only on invalid hash parameters
	}
	return out
}

func (s *suite) expand(prk, info []byte, length int) []byte {
	out, err := hkdf.Expand(s.newHash, prk, string(info), length)
	if err != nil {
		panic(err) // length is always within 255*Nh here
	}
	return out
}

// expandWithLabel is ExpandWithLabel (RFC 9420, Section 8):
//
//	struct { uint16 length; opaque label<V>; opaque context<V>; } KDFLabel;
//
// with label = "MLS 1.0 " + Label.
func (s *suite) expandWithLabel(secret []byte, label string, context []byte, length int) []byte {
	var b cryptobyte.Builder
	b.AddUint16(uint16(length))
	addVarint(&b, len("MLS 1.0 ")+len(label))
	b.AddBytes([]byte("MLS 1.0 "))
	b.AddBytes([]byte(label))
	addVarBytes(&b, context)
	return s.expand(secret, b.BytesOrPanic(), length)
}

// deriveSecret is DeriveSecret(Secret, Label) = ExpandWithLabel(Secret,
// Label, "", KDF.Nh).
func (s *suite) deriveSecret(secret []byte, label string) []byte {
	return s.expandWithLabel(secret, label, nil, s.nh)
}

// deriveTreeSecret is DeriveTreeSecret (RFC 9420, Section 9).
func (s *suite) deriveTreeSecret(secret []byte, label string, generation uint32, length int) []byte {
	ctx := []byte{byte(generation >> 24), byte(generation >> 16), byte(generation >> 8), byte(generation)}
	return s.expandWithLabel(secret, label, ctx, length)
}

// refHash is RefHash (RFC 9420, Section 5.2):
//
//	struct { opaque label<V>; opaque value<V>; } RefHashInput;
func (s *suite) refHash(label string, value []byte) []byte {
	var b cryptobyte.Builder
	addVarBytes(&b, []byte(label))
	addVarBytes(&b, value)
	return s.hash(b.BytesOrPanic())
}

func signContent(label string, content []byte) []byte {
	var b cryptobyte.Builder
	addVarint(&b, len("MLS 1.0 ")+len(label))
	b.AddBytes([]byte("MLS 1.0 "))
	b.AddBytes([]byte(label))
	addVarBytes(&b, content)
	return b.BytesOrPanic()
}

// signWithLabel is SignWithLabel (RFC 9420, Section 5.1.2).
func (s *suite) signWithLabel(key *SignaturePrivateKey, label string, content []byte) ([]byte, error) {
	msg := signContent(label, content)
	switch s.sig {
	case sigEd25519:
		if key.ed == nil {
			return nil, errors.New("mls: signature key does not match the cipher suite")
		}
		return ed25519.Sign(key.ed, msg), nil
	default:
		if key.ec == nil || key.ec.Curve != s.curve {
			return nil, errors.New("mls: signature key does not match the cipher suite")
		}
		digest := s.hash(msg)
		return ecdsa.SignASN1(key.rand(), key.ec, digest)
	}
}

// verifyWithLabel is VerifyWithLabel (RFC 9420, Section 5.1.2).
func (s *suite) verifyWithLabel(pub []byte, label string, content, sig []byte) bool {
	msg := signContent(label, content)
	switch s.sig {
	case sigEd25519:
		if len(pub) != ed25519.PublicKeySize {
			return false
		}
		return ed25519.Verify(ed25519.PublicKey(pub), msg, sig)
	default:
		pk, err := ecdsa.ParseUncompressedPublicKey(s.curve, pub)
		if err != nil {
			return false
		}
		return ecdsa.VerifyASN1(pk, s.hash(msg), sig)
	}
}

// hpkeCiphertext is HPKECiphertext (RFC 9420, Section 5.1.3).
type hpkeCiphertext struct {
	kemOutput  []byte
	ciphertext []byte
}

func (c *hpkeCiphertext) marshal(b *cryptobyte.Builder) {
	addVarBytes(b, c.kemOutput)
	addVarBytes(b, c.ciphertext)
}

func (c *hpkeCiphertext) unmarshal(s *cryptobyte.String) bool {
	return readVarBytes(s, &c.kemOutput) && readVarBytes(s, &c.ciphertext)
}

func encryptContext(label string, context []byte) []byte {
	return signContent(label, context) // same shape: label<V> = "MLS 1.0 "+Label, context<V>
}

// encryptWithLabel is EncryptWithLabel (RFC 9420, Section 5.1.3). HPKE
// encapsulation in crypto/hpke draws from the system's secure random source;
// it cannot be injected.
func (s *suite) encryptWithLabel(pub []byte, label string, context, plaintext []byte) (hpkeCiphertext, error) {
	pk, err := s.kem.NewPublicKey(pub)
	if err != nil {
		return hpkeCiphertext{}, fmt.Errorf("mls: invalid HPKE public key: %w", err)
	}
	return s.encryptWithLabelKey(pk, label, context, plaintext)
}

func (s *suite) encryptWithLabelKey(pk hpke.PublicKey, label string, context, plaintext []byte) (hpkeCiphertext, error) {
	enc, snd, err := hpke.NewSender(pk, s.kdf, s.aead, encryptContext(label, context))
	if err != nil {
		return hpkeCiphertext{}, fmt.Errorf("mls: HPKE encryption failed: %w", err)
	}
	ct, err := snd.Seal(nil, plaintext)
	if err != nil {
		return hpkeCiphertext{}, fmt.Errorf("mls: HPKE encryption failed: %w", err)
	}
	return hpkeCiphertext{kemOutput: enc, ciphertext: ct}, nil
}

var errDecrypt = errors.New("mls: decryption failed")

// decryptWithLabel is DecryptWithLabel (RFC 9420, Section 5.1.3).
func (s *suite) decryptWithLabel(priv hpke.PrivateKey, label string, context []byte, ct hpkeCiphertext) ([]byte, error) {
	r, err := hpke.NewRecipient(ct.kemOutput, priv, s.kdf, s.aead, encryptContext(label, context))
	if err != nil {
		return nil, errDecrypt
	}
	pt, err := r.Open(nil, ct.ciphertext)
	if err != nil {
		return nil, errDecrypt
	}
	return pt, nil
}

// deriveKeyPair is the KEM's DeriveKeyPair (RFC 9180, Section 7.1.3, and
// draft-ietf-hpke-pq for X-Wing), used by RFC 9420 for path secrets and
// external_pub.
func (s *suite) deriveKeyPair(ikm []byte) (hpke.PrivateKey, error) {
	return s.kem.DeriveKeyPair(ikm)
}

// generateHPKEKey draws ikm from rand and derives a key pair, so that key
// generation honours the injected randomness.
func (s *suite) generateHPKEKey(rand io.Reader) (hpke.PrivateKey, error) {
	ikm := make([]byte, s.ikmLen)
	if _, err := io.ReadFull(rand, ikm); err != nil {
		return nil, fmt.Errorf("mls: reading randomness: %w", err)
	}
	return s.kem.DeriveKeyPair(ikm)
}

func (s *suite) randomBytes(rand io.Reader, n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(rand, b); err != nil {
		return nil, fmt.Errorf("mls: reading randomness: %w", err)
	}
	return b, nil
}

func (s *suite) newAEAD(key []byte) (cipher.AEAD, error) { return s.aeadNew(key) }

// labeledExpander computes ExpandWithLabel for several labels under one
// secret with a single keyed HMAC. For outputs of at most Nh bytes,
// HKDF-Expand(PRK, info, L) is the first L bytes of HMAC(PRK, info || 0x01)
// (RFC 5869, Section 2.3); every MLS expansion on the message path (AEAD
// keys and nonces, ratchet secrets) is that short, so reusing the keyed
// HMAC saves the key setup of crypto/hkdf on every call.
// TestLabeledExpander checks it against crypto/hkdf.
type labeledExpander struct {
	s   *suite
	mac hash.Hash
	buf []byte
}

func (s *suite) newExpander(secret []byte) *labeledExpander {
	return &labeledExpander{s: s, mac: hmac.New(s.newHash, secret), buf: make([]byte, 0, 128)}
}

func (e *labeledExpander) expand(label string, context []byte, length int) []byte {
	if length > e.s.nh {
		panic("mls: labeledExpander output too long")
	}
	b := cryptobyte.NewBuilder(e.buf[:0])
	b.AddUint16(uint16(length))
	addVarint(b, len("MLS 1.0 ")+len(label))
	b.AddBytes([]byte("MLS 1.0 "))
	b.AddBytes([]byte(label))
	addVarBytes(b, context)
	b.AddUint8(1)
	info := b.BytesOrPanic()
	e.mac.Reset()
	e.mac.Write(info)
	return e.mac.Sum(nil)[:length]
}

func (e *labeledExpander) treeSecret(label string, generation uint32, length int) []byte {
	ctx := [4]byte{byte(generation >> 24), byte(generation >> 16), byte(generation >> 8), byte(generation)}
	return e.expand(label, ctx[:], length)
}
