package mls

import (
	"crypto/hpke"

	"golang.org/x/crypto/cryptobyte"
)

// ProtocolVersion mls10 (RFC 9420, Section 6).
const protocolVersionMLS10 uint16 = 1

// Extension is a typed extension (RFC 9420, Section 13):
//
//	struct { ExtensionType extension_type; opaque extension_data<V>; } Extension;
type Extension struct {
	Type uint16
	Data []byte
}

// Extension types used by this package (RFC 9420, Section 17.3).
const (
	ExtensionApplicationID        uint16 = 1
	ExtensionRatchetTree          uint16 = 2
	ExtensionRequiredCapabilities uint16 = 3
	ExtensionExternalPub          uint16 = 4
	ExtensionExternalSenders      uint16 = 5
)

func marshalExtensions(b *cryptobyte.Builder, exts []Extension) {
	addVarVector(b, func(b *cryptobyte.Builder) {
		for _, e := range exts {
			b.AddUint16(e.Type)
			addVarBytes(b, e.Data)
		}
	})
}

// readExtensions reads an Extension vector. RFC 9420, Section 13: a list
// "MUST NOT" contain two extensions of the same type.
func readExtensions(s *cryptobyte.String, out *[]Extension) bool {
	var v cryptobyte.String
	if !readVarVector(s, &v) {
		return false
	}
	var exts []Extension
	for !v.Empty() {
		var e Extension
		if !v.ReadUint16(&e.Type) || !readVarBytes(&v, &e.Data) {
			return false
		}
		for _, x := range exts {
			if x.Type == e.Type {
				return false
			}
		}
		exts = append(exts, e)
	}
	*out = exts
	return true
}

func findExtension(exts []Extension, t uint16) ([]byte, bool) {
	for _, e := range exts {
		if e.Type == t {
			return e.Data, true
		}
	}
	return nil, false
}

// groupContext is GroupContext (RFC 9420, Section 8.1).
type groupContext struct {
	cipherSuite             CipherSuite
	groupID                 []byte
	epoch                   uint64
	treeHash                []byte
	confirmedTranscriptHash []byte
	extensions              []Extension
}

func (g *groupContext) marshal(b *cryptobyte.Builder) {
	b.AddUint16(protocolVersionMLS10)
	b.AddUint16(uint16(g.cipherSuite))
	addVarBytes(b, g.groupID)
	b.AddUint64(g.epoch)
	addVarBytes(b, g.treeHash)
	addVarBytes(b, g.confirmedTranscriptHash)
	marshalExtensions(b, g.extensions)
}

func (g *groupContext) unmarshal(s *cryptobyte.String) bool {
	var v, cs uint16
	if !s.ReadUint16(&v) || v != protocolVersionMLS10 || !s.ReadUint16(&cs) {
		return false
	}
	g.cipherSuite = CipherSuite(cs)
	return readVarBytes(s, &g.groupID) && s.ReadUint64(&g.epoch) &&
		readVarBytes(s, &g.treeHash) && readVarBytes(s, &g.confirmedTranscriptHash) &&
		readExtensions(s, &g.extensions)
}

// epochSecrets are the secrets derived from epoch_secret (RFC 9420,
// Section 8, Table 4).
type epochSecrets struct {
	joinerSecret       []byte
	welcomeSecret      []byte
	epochSecret        []byte
	senderDataSecret   []byte
	encryptionSecret   []byte
	exporterSecret     []byte
	externalSecret     []byte
	confirmationKey    []byte
	membershipKey      []byte
	resumptionPSK      []byte
	epochAuthenticator []byte
	initSecret         []byte
}

// joinerSecret computes joiner_secret = ExpandWithLabel(
// KDF.Extract(init_secret, commit_secret), "joiner", GroupContext, Nh).
func (s *suite) joinerSecret(initSecret, commitSecret, gc []byte) []byte {
	if commitSecret == nil {
		commitSecret = make([]byte, s.nh)
	}
	return s.expandWithLabel(s.extract(initSecret, commitSecret), "joiner", gc, s.nh)
}

// deriveEpochSecrets runs the key schedule from joiner_secret onwards
// (RFC 9420, Section 8).
func (s *suite) deriveEpochSecrets(joinerSecret, pskSecret, gc []byte) *epochSecrets {
	if pskSecret == nil {
		pskSecret = make([]byte, s.nh)
	}
	member := s.extract(joinerSecret, pskSecret)
	e := s.epochSecretsFrom(s.expandWithLabel(member, "epoch", gc, s.nh))
	e.joinerSecret = joinerSecret
	e.welcomeSecret = s.deriveSecret(member, "welcome")
	return e
}

// epochSecretsFrom derives the secrets of Table 4 from epoch_secret.
func (s *suite) epochSecretsFrom(epochSecret []byte) *epochSecrets {
	e := &epochSecrets{epochSecret: epochSecret}
	e.senderDataSecret = s.deriveSecret(e.epochSecret, "sender data")
	e.encryptionSecret = s.deriveSecret(e.epochSecret, "encryption")
	e.exporterSecret = s.deriveSecret(e.epochSecret, "exporter")
	e.externalSecret = s.deriveSecret(e.epochSecret, "external")
	e.confirmationKey = s.deriveSecret(e.epochSecret, "confirm")
	e.membershipKey = s.deriveSecret(e.epochSecret, "membership")
	e.resumptionPSK = s.deriveSecret(e.epochSecret, "resumption")
	e.epochAuthenticator = s.deriveSecret(e.epochSecret, "authentication")
	e.initSecret = s.deriveSecret(e.epochSecret, "init")
	return e
}

// welcomeKeyNonce derives the GroupInfo encryption key and nonce from
// welcome_secret (RFC 9420, Section 12.4.3.1).
func (s *suite) welcomeKeyNonce(welcomeSecret []byte) (key, nonce []byte) {
	return s.expandWithLabel(welcomeSecret, "key", nil, s.nk),
		s.expandWithLabel(welcomeSecret, "nonce", nil, s.nn)
}

// welcomeSecretFromJoiner derives welcome_secret for a joiner who has
// joiner_secret and psk_secret (RFC 9420, Section 8).
func (s *suite) welcomeSecretFromJoiner(joinerSecret, pskSecret []byte) []byte {
	if pskSecret == nil {
		pskSecret = make([]byte, s.nh)
	}
	return s.deriveSecret(s.extract(joinerSecret, pskSecret), "welcome")
}

// exporter is MLS-Exporter (RFC 9420, Section 8.5).
func (s *suite) exporter(exporterSecret []byte, label string, context []byte, length int) []byte {
	return s.expandWithLabel(s.deriveSecret(exporterSecret, label), "exported", s.hash(context), length)
}

// externalKey derives the external HPKE key pair from external_secret
// (RFC 9420, Section 8.3).
func (s *suite) externalKey(externalSecret []byte) (hpke.PrivateKey, error) {
	return s.deriveKeyPair(externalSecret)
}

// PSK types and resumption usages (RFC 9420, Section 8.4).
const (
	pskTypeExternal   uint8 = 1
	pskTypeResumption uint8 = 2

	resumptionApplication uint8 = 1
	resumptionReinit      uint8 = 2
	resumptionBranch      uint8 = 3
)

// preSharedKeyID is PreSharedKeyID; it identifies a PSK (RFC 9420, Section 8.4).
type preSharedKeyID struct {
	PSKType uint8 // 1 external, 2 resumption
	// External PSKs.
	PSKID []byte
	// Resumption PSKs.
	Usage      uint8
	PSKGroupID []byte
	PSKEpoch   uint64
	// PSKNonce is fresh random bytes of length Nh.
	PSKNonce []byte
}

func (p *preSharedKeyID) marshal(b *cryptobyte.Builder) {
	b.AddUint8(p.PSKType)
	switch p.PSKType {
	case pskTypeExternal:
		addVarBytes(b, p.PSKID)
	case pskTypeResumption:
		b.AddUint8(p.Usage)
		addVarBytes(b, p.PSKGroupID)
		b.AddUint64(p.PSKEpoch)
	}
	addVarBytes(b, p.PSKNonce)
}

func (p *preSharedKeyID) unmarshal(s *cryptobyte.String) bool {
	if !s.ReadUint8(&p.PSKType) {
		return false
	}
	switch p.PSKType {
	case pskTypeExternal:
		if !readVarBytes(s, &p.PSKID) {
			return false
		}
	case pskTypeResumption:
		if !s.ReadUint8(&p.Usage) || p.Usage < 1 || p.Usage > 3 || !readVarBytes(s, &p.PSKGroupID) || !s.ReadUint64(&p.PSKEpoch) {
			return false
		}
	default:
		return false
	}
	return readVarBytes(s, &p.PSKNonce)
}

// pskSecret computes psk_secret from the PSKs in order (RFC 9420,
// Section 8.4):
//
//	psk_extracted_[i] = KDF.Extract(0, psk_[i])
//	psk_input_[i] = ExpandWithLabel(psk_extracted_[i], "derived psk", PSKLabel, KDF.Nh)
//	psk_secret_[i] = KDF.Extract(psk_input_[i], psk_secret_[i-1])
func (s *suite) pskSecret(ids []preSharedKeyID, psks [][]byte) []byte {
	zero := make([]byte, s.nh)
	secret := zero
	for i := range ids {
		var b cryptobyte.Builder
		ids[i].marshal(&b)
		b.AddUint16(uint16(i))
		b.AddUint16(uint16(len(ids)))
		extracted := s.extract(zero, psks[i])
		input := s.expandWithLabel(extracted, "derived psk", b.BytesOrPanic(), s.nh)
		secret = s.extract(input, secret)
	}
	return secret
}
