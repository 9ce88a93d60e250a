package mls

import (
	"bytes"
	"crypto/hpke"
	"errors"
	"fmt"
	"io"
)

// KeyPackageOptions tunes NewKeyPackage. The zero value gives a KeyPackage
// valid for all time with default capabilities.
type KeyPackageOptions struct {
	// NotBefore and NotAfter bound the lifetime in seconds since the Unix
	// epoch (RFC 9420, Section 7.2). Zero NotAfter means 2^64-1.
	NotBefore, NotAfter uint64
	// LeafExtensions are placed in the LeafNode.
	LeafExtensions []Extension
	// Extensions are placed in the KeyPackage itself.
	Extensions []Extension
	// Capabilities overrides the default capabilities (version mls10, the
	// suite, basic and X.509 credentials).
	Capabilities *Capabilities
}

// KeyPackageBundle is a KeyPackage with its private keys: the init key, the
// leaf encryption key and the signing key. Keep it until the KeyPackage is
// consumed by a Welcome, then delete it ("MUST NOT be reused", Section 16.8).
type KeyPackageBundle struct {
	kp       keyPackage
	initPriv hpke.PrivateKey
	encPriv  hpke.PrivateKey
	sigKey   *SignaturePrivateKey
}

func defaultCapabilities(cs CipherSuite) Capabilities {
	return Capabilities{
		Versions:     []uint16{protocolVersionMLS10},
		CipherSuites: []CipherSuite{cs},
		Credentials:  []uint16{CredentialBasic, CredentialX509},
	}
}

// NewKeyPackage creates a KeyPackage (RFC 9420, Section 10) for cred signed
// by sig. Keys are derived from the bytes of rand.
func NewKeyPackage(cs CipherSuite, sig *SignaturePrivateKey, cred Credential, opts KeyPackageOptions, rand io.Reader) (*KeyPackageBundle, error) {
	s, err := getSuite(cs)
	if err != nil {
		return nil, err
	}
	if sig.suite != cs {
		return nil, errors.New("mls: signature key is for another cipher suite")
	}
	initPriv, err := s.generateHPKEKey(rand)
	if err != nil {
		return nil, err
	}
	encPriv, err := s.generateHPKEKey(rand)
	if err != nil {
		return nil, err
	}
	caps := defaultCapabilities(cs)
	if opts.Capabilities != nil {
		caps = *opts.Capabilities
	}
	notAfter := opts.NotAfter
	if notAfter == 0 {
		notAfter = ^uint64(0)
	}
	b := &KeyPackageBundle{initPriv: initPriv, encPriv: encPriv, sigKey: sig}
	b.kp = keyPackage{
		cipherSuite: cs,
		initKey:     initPriv.PublicKey().Bytes(),
		leafNode: leafNode{
			encryptionKey: encPriv.PublicKey().Bytes(),
			signatureKey:  sig.PublicKey(),
			credential:    cred,
			capabilities:  caps,
			source:        leafSourceKeyPackage,
			notBefore:     opts.NotBefore,
			notAfter:      notAfter,
			extensions:    opts.LeafExtensions,
		},
		extensions: opts.Extensions,
	}
	if err := b.kp.leafNode.sign(s, sig, nil, 0); err != nil {
		return nil, err
	}
	if b.kp.signature, err = s.signWithLabel(sig, "KeyPackageTBS", b.kp.tbs()); err != nil {
		return nil, err
	}
	return b, nil
}

// NewKeyPackageBundle rebuilds a bundle from an encoded KeyPackage (bare or
// wrapped in an MLSMessage) and its three private keys in the encodings of
// the test vectors (HPKE SerializePrivateKey; signature key as accepted by
// NewSignaturePrivateKey). It checks that the keys match the KeyPackage.
func NewKeyPackageBundle(keyPackage, initPriv, encPriv, sigPriv []byte) (*KeyPackageBundle, error) {
	kp, err := parseKeyPackage(keyPackage)
	if err != nil {
		return nil, err
	}
	s, err := getSuite(kp.cipherSuite)
	if err != nil {
		return nil, err
	}
	b := &KeyPackageBundle{kp: *kp}
	if b.initPriv, err = parseHPKEPrivate(s, initPriv); err != nil {
		return nil, err
	}
	if b.encPriv, err = parseHPKEPrivate(s, encPriv); err != nil {
		return nil, err
	}
	if b.sigKey, err = NewSignaturePrivateKey(kp.cipherSuite, sigPriv); err != nil {
		return nil, err
	}
	if !bytes.Equal(b.initPriv.PublicKey().Bytes(), kp.initKey) ||
		!bytes.Equal(b.encPriv.PublicKey().Bytes(), kp.leafNode.encryptionKey) ||
		!bytes.Equal(b.sigKey.PublicKey(), kp.leafNode.signatureKey) {
		return nil, errors.New("mls: private keys do not match the KeyPackage")
	}
	return b, nil
}

func parseHPKEPrivate(s *suite, b []byte) (hpke.PrivateKey, error) {
	// Big-endian scalars may have lost leading zeros (P-521).
	if s.sig == sigECDSA {
		if size := (s.curve.Params().N.BitLen() + 7) / 8; len(b) < size {
			b = append(make([]byte, size-len(b)), b...)
		}
	}
	k, err := s.kem.NewPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("mls: invalid HPKE private key: %w", err)
	}
	return k, nil
}

// parseKeyPackage accepts a KeyPackage or an MLSMessage carrying one.
func parseKeyPackage(data []byte) (*keyPackage, error) {
	if m, err := decodeMLSMessage(data); err == nil {
		if m.keyPackage == nil {
			return nil, errors.New("mls: message is not a KeyPackage")
		}
		return m.keyPackage, nil
	}
	kp := new(keyPackage)
	if err := decodeAll(data, "KeyPackage", kp.unmarshal); err != nil {
		return nil, err
	}
	return kp, nil
}

// KeyPackage returns the KeyPackage as an MLSMessage, ready to publish.
func (b *KeyPackageBundle) KeyPackage() []byte {
	return encode(&mlsMessage{wireFormat: wireFormatKeyPackage, keyPackage: &b.kp})
}

// Ref returns the KeyPackageRef (RFC 9420, Section 5.2).
func (b *KeyPackageBundle) Ref() []byte {
	s, _ := getSuite(b.kp.cipherSuite)
	return b.kp.ref(s)
}

// CipherSuite returns the KeyPackage's suite.
func (b *KeyPackageBundle) CipherSuite() CipherSuite { return b.kp.cipherSuite }

// KeyPackageInfo describes a validated KeyPackage.
type KeyPackageInfo struct {
	CipherSuite  CipherSuite
	Credential   Credential
	SignatureKey []byte
	NotBefore    uint64
	NotAfter     uint64
	Ref          []byte
}

// ValidateKeyPackage decodes and validates a KeyPackage (RFC 9420, Section
// 10.1): signatures, suite, init key distinct from the leaf key, leaf
// source, lifetime at now (seconds; 0 skips the check) and the credential
// through validate (nil accepts any).
func ValidateKeyPackage(data []byte, now uint64, validate CredentialValidator) (*KeyPackageInfo, error) {
	kp, err := parseKeyPackage(data)
	if err != nil {
		return nil, err
	}
	s, err := getSuite(kp.cipherSuite)
	if err != nil {
		return nil, err
	}
	if err := validateKeyPackage(s, kp, now, validate); err != nil {
		return nil, err
	}
	return &KeyPackageInfo{CipherSuite: kp.cipherSuite, Credential: kp.leafNode.credential,
		SignatureKey: kp.leafNode.signatureKey, NotBefore: kp.leafNode.notBefore, NotAfter: kp.leafNode.notAfter, Ref: kp.ref(s)}, nil
}

func validateKeyPackage(s *suite, kp *keyPackage, now uint64, validate CredentialValidator) error {
	if kp.cipherSuite != s.id {
		return errors.New("mls: KeyPackage cipher suite does not match the group")
	}
	if !s.verifyWithLabel(kp.leafNode.signatureKey, "KeyPackageTBS", kp.tbs(), kp.signature) {
		return errors.New("mls: invalid KeyPackage signature")
	}
	if kp.leafNode.source != leafSourceKeyPackage {
		return errors.New("mls: KeyPackage leaf node source is not key_package")
	}
	// "The value for init_key MUST be a public key that is distinct from
	// the encryption_key field" (Section 10.1).
	if bytes.Equal(kp.initKey, kp.leafNode.encryptionKey) {
		return errors.New("mls: KeyPackage init key equals its encryption key")
	}
	if _, err := s.kem.NewPublicKey(kp.initKey); err != nil {
		return errors.New("mls: invalid KeyPackage init key")
	}
	if !kp.leafNode.verify(s, nil, 0) {
		return errors.New("mls: invalid KeyPackage leaf node signature")
	}
	if now != 0 && (now < kp.leafNode.notBefore || now > kp.leafNode.notAfter) {
		return errors.New("mls: KeyPackage is outside its lifetime")
	}
	return validateCredential(validate, s.id, &kp.leafNode)
}

// CredentialValidator decides whether a credential, bound to a signature
// key, is acceptable (RFC 9420, Section 5.3.1). Ward checks it against the
// account's signed device list. It is called for every leaf the group
// learns about: the tree on join, Add and Update proposals, commit paths.
type CredentialValidator func(cs CipherSuite, cred Credential, signatureKey []byte) error

func validateCredential(v CredentialValidator, cs CipherSuite, ln *leafNode) error {
	if v == nil {
		return nil
	}
	if err := v(cs, ln.credential, ln.signatureKey); err != nil {
		return fmt.Errorf("mls: credential rejected: %w", err)
	}
	return nil
}
