package mls

import (
	"crypto/hmac"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/cryptobyte"
)

// epochKeys is what protects and unprotects messages in one epoch.
type epochKeys struct {
	s                *suite
	gc               groupContext
	gcBytes          []byte // serialized GroupContext, the signing context
	senderDataSecret []byte
	membershipKey    []byte
	secretTree       *secretTree
	sdExpander       *labeledExpander // keyed with senderDataSecret, built lazily
}

func (e *epochKeys) senderDataKeyNonce(ciphertext []byte) keyNonce {
	if e.sdExpander == nil {
		e.sdExpander = e.s.newExpander(e.senderDataSecret)
	}
	return e.sdExpander.senderData(ciphertext)
}

// protectPublic wraps ac as a PublicMessage (RFC 9420, Section 6.2),
// computing the membership tag for member senders.
func (e *epochKeys) protectPublic(ac *authenticatedContent) *publicMessage {
	pm := &publicMessage{content: ac.content, auth: ac.auth}
	if ac.content.sender.typ == senderMember {
		pm.membershipTag = ac.membershipTag(e.s, e.membershipKey, e.gcBytes)
	}
	return pm
}

var errMembershipTag = errors.New("mls: invalid membership tag")

// unprotectPublic checks the membership tag of a member's PublicMessage and
// returns its AuthenticatedContent. The signature is checked by the caller.
func (e *epochKeys) unprotectPublic(pm *publicMessage) (*authenticatedContent, error) {
	ac := &authenticatedContent{wireFormat: wireFormatPublicMessage, content: pm.content, auth: pm.auth}
	if pm.content.sender.typ == senderMember {
		tag := ac.membershipTag(e.s, e.membershipKey, e.gcBytes)
		if !hmac.Equal(tag, pm.membershipTag) {
			return nil, errMembershipTag
		}
	}
	return ac, nil
}

func privateContentAAD(groupID []byte, epoch uint64, contentType uint8, authData []byte) []byte {
	var b cryptobyte.Builder
	addVarBytes(&b, groupID)
	b.AddUint64(epoch)
	b.AddUint8(contentType)
	addVarBytes(&b, authData)
	return b.BytesOrPanic()
}

func senderDataAAD(groupID []byte, epoch uint64, contentType uint8) []byte {
	var b cryptobyte.Builder
	addVarBytes(&b, groupID)
	b.AddUint64(epoch)
	b.AddUint8(contentType)
	return b.BytesOrPanic()
}

func applyReuseGuard(nonce []byte, guard [4]byte) []byte {
	n := cloneBytes(nonce)
	for i := range guard {
		n[i] ^= guard[i]
	}
	return n
}

// protectPrivate encrypts ac as a PrivateMessage (RFC 9420, Section 6.3)
// with the next key of the sender's ratchet, adding padding zero bytes.
func (e *epochKeys) protectPrivate(ac *authenticatedContent, padding int, rand io.Reader) (*privateMessage, error) {
	c := &ac.content
	if c.sender.typ != senderMember {
		return nil, errors.New("mls: only members can send private messages")
	}
	kind := ratchetHandshake
	if c.contentType == contentApplication {
		kind = ratchetApplication
	}
	kn, gen, err := e.secretTree.next(leafIndex(c.sender.index), kind)
	if err != nil {
		return nil, err
	}
	var guard [4]byte
	if _, err := io.ReadFull(rand, guard[:]); err != nil {
		return nil, fmt.Errorf("mls: reading randomness: %w", err)
	}
	var b cryptobyte.Builder
	c.marshalBody(&b)
	ac.auth.marshal(&b, c.contentType)
	b.AddBytes(make([]byte, padding))
	pt := b.BytesOrPanic()
	aead, err := e.s.newAEAD(kn.key)
	if err != nil {
		return nil, err
	}
	pm := &privateMessage{groupID: c.groupID, epoch: c.epoch, contentType: c.contentType, authenticatedData: c.authenticatedData}
	pm.ciphertext = aead.Seal(nil, applyReuseGuard(kn.nonce, guard), pt,
		privateContentAAD(c.groupID, c.epoch, c.contentType, c.authenticatedData))
	// SenderData { uint32 leaf_index; uint32 generation; opaque reuse_guard[4]; }
	var sd cryptobyte.Builder
	sd.AddUint32(c.sender.index)
	sd.AddUint32(gen)
	sd.AddBytes(guard[:])
	skn := e.senderDataKeyNonce(pm.ciphertext)
	saead, err := e.s.newAEAD(skn.key)
	if err != nil {
		return nil, err
	}
	pm.encryptedSenderData = saead.Seal(nil, skn.nonce, sd.BytesOrPanic(), senderDataAAD(c.groupID, c.epoch, c.contentType))
	return pm, nil
}

// unprotectPrivate decrypts a PrivateMessage (RFC 9420, Section 6.3). The
// signature is checked by the caller.
func (e *epochKeys) unprotectPrivate(pm *privateMessage) (*authenticatedContent, error) {
	skn := e.senderDataKeyNonce(pm.ciphertext)
	saead, err := e.s.newAEAD(skn.key)
	if err != nil {
		return nil, err
	}
	sdb, err := saead.Open(nil, skn.nonce, pm.encryptedSenderData, senderDataAAD(pm.groupID, pm.epoch, pm.contentType))
	if err != nil {
		return nil, errDecrypt
	}
	sd := cryptobyte.String(sdb)
	var leaf, gen uint32
	var guard [4]byte
	if !sd.ReadUint32(&leaf) || !sd.ReadUint32(&gen) || !sd.CopyBytes(guard[:]) || !sd.Empty() {
		return nil, errors.New("mls: malformed sender data")
	}
	if leaf >= e.secretTree.nLeaves {
		return nil, errors.New("mls: sender leaf outside the tree")
	}
	kind := ratchetHandshake
	if pm.contentType == contentApplication {
		kind = ratchetApplication
	}
	kn, consume, err := e.secretTree.get(leafIndex(leaf), kind, gen)
	if err != nil {
		return nil, err
	}
	aead, err := e.s.newAEAD(kn.key)
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, applyReuseGuard(kn.nonce, guard), pm.ciphertext,
		privateContentAAD(pm.groupID, pm.epoch, pm.contentType, pm.authenticatedData))
	if err != nil {
		return nil, errDecrypt
	}
	consume()
	ac := &authenticatedContent{wireFormat: wireFormatPrivateMessage}
	c := &ac.content
	c.groupID, c.epoch, c.contentType, c.authenticatedData = pm.groupID, pm.epoch, pm.contentType, pm.authenticatedData
	c.sender = sender{typ: senderMember, index: leaf}
	s := cryptobyte.String(pt)
	if !c.unmarshalBody(&s) || !ac.auth.unmarshal(&s, c.contentType) {
		return nil, errors.New("mls: malformed private message content")
	}
	// "A receiver MUST verify that there are no non-zero bytes in the
	// padding field."
	for _, x := range s {
		if x != 0 {
			return nil, errors.New("mls: non-zero padding in private message")
		}
	}
	return ac, nil
}

// confirmedTranscriptHash computes Hash(interim || ConfirmedTranscriptHashInput)
// (RFC 9420, Section 8.2).
func (s *suite) confirmedTranscriptHash(interim []byte, ac *authenticatedContent) []byte {
	var b cryptobyte.Builder
	b.AddBytes(interim)
	b.AddUint16(ac.wireFormat)
	ac.content.marshal(&b)
	addVarBytes(&b, ac.auth.signature)
	return s.hash(b.BytesOrPanic())
}

// interimTranscriptHash computes Hash(confirmed || InterimTranscriptHashInput).
func (s *suite) interimTranscriptHash(confirmed, confirmationTag []byte) []byte {
	var b cryptobyte.Builder
	b.AddBytes(confirmed)
	addVarBytes(&b, confirmationTag)
	return s.hash(b.BytesOrPanic())
}
