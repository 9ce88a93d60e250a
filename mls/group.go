package mls

import (
	"bytes"
	"crypto/hpke"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
)

// Config holds what a Group needs from the application. It is not part of
// the serialized state: pass it again to UnmarshalGroup.
type Config struct {
	// Rand is the randomness source; nil means crypto/rand. HPKE
	// encapsulation (crypto/hpke) and ECDSA signing always draw from the
	// system source as the standard library allows no injection there.
	Rand io.Reader
	// ValidateCredential is called for every leaf the group learns about.
	// Nil accepts every credential (tests only).
	ValidateCredential CredentialValidator
	// ExternalPSK looks up an external pre-shared key by id (Section 8.4).
	ExternalPSK func(id []byte) ([]byte, bool)
	// ResumptionPSK looks up the resumption PSK of another group (or of an
	// epoch this group no longer keeps), for reinit and branch joins.
	// Group.ResumptionPSK serves it from an existing group.
	ResumptionPSK func(groupID []byte, epoch uint64) ([]byte, bool)
	// Now returns the current time in seconds since the Unix epoch, for
	// lifetime checks of KeyPackages being added. Nil skips the check.
	Now func() uint64
	// PastEpochs is how many ended epochs still accept application
	// messages (messages that raced a commit). 0, the default, deletes an
	// epoch's keys as soon as it ends (best forward secrecy).
	PastEpochs int
	// PaddingBlock pads PrivateMessage plaintexts to a multiple of this
	// many bytes (0: no padding).
	PaddingBlock int
}

func (c *Config) rand() io.Reader {
	if c.Rand != nil {
		return c.Rand
	}
	return rand.Reader
}

func (c *Config) now() uint64 {
	if c.Now == nil {
		return 0
	}
	return c.Now()
}

// Member is one member of the group's roster.
type Member struct {
	Index         uint32
	Credential    Credential
	SignatureKey  []byte
	EncryptionKey []byte
}

// Group is one member's state of an MLS group. It is not safe for
// concurrent use. Persist it with MarshalBinary after every change.
type Group struct {
	cfg Config
	s   *suite
	epochKeys

	tree   *ratchetTree
	self   leafIndex
	sigKey *SignaturePrivateKey
	// privKeys holds the HPKE private keys of tree nodes this member knows
	// (its leaf and some of its direct path).
	privKeys map[nodeIndex]hpke.PrivateKey

	interimTranscriptHash []byte
	confirmationTag       []byte
	initSecret            []byte
	exporterSecret        []byte
	externalSecret        []byte
	confirmationKey       []byte
	resumptionPSK         []byte
	epochAuthenticator    []byte

	// resumptionPSKs of recent epochs, for resumption PSK proposals.
	resumptionPSKs map[uint64][]byte

	proposals      []cachedProposal
	pendingUpdates map[string]hpke.PrivateKey // own Update proposals, by encryption key
	pending        *pendingCommit

	past []*pastEpoch // oldest first, at most cfg.PastEpochs

	reinit  *reInit // set when a ReInit was committed: the group is closed
	removed bool    // set when this member was removed
}

// maxResumptionPSKs is how many past epochs' resumption PSKs are kept.
const maxResumptionPSKs = 8

type cachedProposal struct {
	ref    []byte
	p      *proposal
	sender sender
}

// CipherSuite returns the group's suite.
func (g *Group) CipherSuite() CipherSuite { return g.s.id }

// GroupID returns the group id.
func (g *Group) GroupID() []byte { return cloneBytes(g.gc.groupID) }

// Epoch returns the current epoch number.
func (g *Group) Epoch() uint64 { return g.gc.epoch }

// OwnLeafIndex returns this member's leaf index.
func (g *Group) OwnLeafIndex() uint32 { return uint32(g.self) }

// EpochAuthenticator returns the epoch_authenticator of the current epoch
// (RFC 9420, Section 8.7); members compare it out of band.
func (g *Group) EpochAuthenticator() []byte { return cloneBytes(g.epochAuthenticator) }

// Export is MLS-Exporter(label, context, length) (RFC 9420, Section 8.5).
func (g *Group) Export(label string, context []byte, length int) ([]byte, error) {
	if length < 0 || length > 255*g.s.nh {
		return nil, errors.New("mls: invalid exporter length")
	}
	return g.s.exporter(g.exporterSecret, label, context, length), nil
}

// ResumptionPSK returns the resumption PSK of a recent epoch of this group,
// to serve Config.ResumptionPSK of a reinitialized or branched group.
func (g *Group) ResumptionPSK(epoch uint64) ([]byte, bool) {
	v, ok := g.resumptionPSKs[epoch]
	return cloneBytes(v), ok
}

// Extensions returns the GroupContext extensions.
func (g *Group) Extensions() []Extension { return append([]Extension(nil), g.gc.extensions...) }

// Active reports whether the group can still be used to send: false once
// this member was removed or a ReInit was committed.
func (g *Group) Active() bool { return !g.removed && g.reinit == nil }

// Members lists the current members in leaf order.
func (g *Group) Members() []Member {
	var out []Member
	for i := uint32(0); i < g.tree.nLeaves(); i++ {
		if ln := g.tree.leaf(leafIndex(i)); ln != nil {
			out = append(out, memberOf(leafIndex(i), ln))
		}
	}
	return out
}

func memberOf(l leafIndex, ln *leafNode) Member {
	return Member{Index: uint32(l), Credential: ln.credential, SignatureKey: ln.signatureKey, EncryptionKey: ln.encryptionKey}
}

// RatchetTree returns the ratchet_tree extension body for out-of-band
// distribution to joiners.
func (g *Group) RatchetTree() []byte { return encode(g.tree) }

// NewGroup creates a one-member group (RFC 9420, Section 11) with the given
// id (use 16+ random bytes) and GroupContext extensions.
func NewGroup(cs CipherSuite, groupID []byte, sig *SignaturePrivateKey, cred Credential, extensions []Extension, cfg Config) (*Group, error) {
	s, err := getSuite(cs)
	if err != nil {
		return nil, err
	}
	if sig.suite != cs {
		return nil, errors.New("mls: signature key is for another cipher suite")
	}
	encPriv, err := s.generateHPKEKey(cfg.rand())
	if err != nil {
		return nil, err
	}
	ln := &leafNode{
		encryptionKey: encPriv.PublicKey().Bytes(),
		signatureKey:  sig.PublicKey(),
		credential:    cred,
		capabilities:  defaultCapabilities(cs),
		source:        leafSourceKeyPackage,
		notAfter:      ^uint64(0),
	}
	// A creator's leaf carries a key_package source, like a KeyPackage.
	if err := ln.sign(s, sig, nil, 0); err != nil {
		return nil, err
	}
	if err := validateCredential(cfg.ValidateCredential, cs, ln); err != nil {
		return nil, err
	}
	g := &Group{cfg: cfg, s: s, sigKey: sig, privKeys: map[nodeIndex]hpke.PrivateKey{0: encPriv},
		resumptionPSKs: map[uint64][]byte{}, pendingUpdates: map[string]hpke.PrivateKey{}}
	g.tree = newRatchetTree(s, 1)
	g.tree.setNode(0, node{leaf: ln})
	g.gc = groupContext{cipherSuite: cs, groupID: cloneBytes(groupID), epoch: 0, treeHash: g.tree.rootHash(),
		confirmedTranscriptHash: []byte{}, extensions: extensions}
	// "Epoch secret: A fresh random value of size KDF.Nh" (Section 11).
	epochSecret, err := s.randomBytes(cfg.rand(), s.nh)
	if err != nil {
		return nil, err
	}
	es := s.epochSecretsFrom(epochSecret)
	g.installEpoch(es, encode(&g.gc))
	// The confirmation tag of epoch 0 is over the empty transcript.
	g.confirmationTag = s.mac(es.confirmationKey, g.gc.confirmedTranscriptHash)
	g.interimTranscriptHash = s.interimTranscriptHash(g.gc.confirmedTranscriptHash, g.confirmationTag)
	return g, nil
}

// installEpoch sets the per-epoch secrets from es for the current g.gc.
func (g *Group) installEpoch(es *epochSecrets, gcBytes []byte) {
	g.gcBytes = gcBytes
	g.epochKeys.s = g.s
	g.senderDataSecret = es.senderDataSecret
	g.sdExpander = nil
	g.membershipKey = es.membershipKey
	g.secretTree = newSecretTree(g.s, es.encryptionSecret, g.tree.nLeaves())
	g.initSecret = es.initSecret
	g.exporterSecret = es.exporterSecret
	g.externalSecret = es.externalSecret
	g.confirmationKey = es.confirmationKey
	g.resumptionPSK = es.resumptionPSK
	g.epochAuthenticator = es.epochAuthenticator
	g.resumptionPSKs[g.gc.epoch] = es.resumptionPSK
	for e := range g.resumptionPSKs {
		if e+maxResumptionPSKs <= g.gc.epoch {
			delete(g.resumptionPSKs, e)
		}
	}
}

// purgeKeys drops private keys whose node no longer carries the matching
// public key (the node was blanked or replaced).
func (g *Group) purgeKeys() {
	for x, k := range g.privKeys {
		var pub []byte
		if int(x) < len(g.tree.nodes) {
			n := &g.tree.nodes[x]
			if n.leaf != nil {
				pub = n.leaf.encryptionKey
			} else if n.parent != nil {
				pub = n.parent.encryptionKey
			}
		}
		if pub == nil || !bytes.Equal(pub, k.PublicKey().Bytes()) {
			delete(g.privKeys, x)
		}
	}
}

func (g *Group) requireActive() error {
	if g.removed {
		return errors.New("mls: this member was removed from the group")
	}
	if g.reinit != nil {
		return errors.New("mls: the group was reinitialized; use the new group")
	}
	return nil
}

func (g *Group) signatureKeyOf(snd sender) ([]byte, error) {
	switch snd.typ {
	case senderMember:
		ln := g.tree.leaf(leafIndex(snd.index))
		if ln == nil {
			return nil, fmt.Errorf("mls: sender leaf %d is blank", snd.index)
		}
		return ln.signatureKey, nil
	case senderExternal:
		es, err := g.externalSenders()
		if err != nil {
			return nil, err
		}
		if int(snd.index) >= len(es) {
			return nil, errors.New("mls: unknown external sender")
		}
		return es[snd.index].signatureKey, nil
	}
	return nil, errors.New("mls: sender has no key in the group")
}

type externalSender struct {
	signatureKey []byte
	credential   Credential
}

func (g *Group) externalSenders() ([]externalSender, error) {
	data, ok := findExtension(g.gc.extensions, ExtensionExternalSenders)
	if !ok {
		return nil, nil
	}
	return parseExternalSenders(data)
}
