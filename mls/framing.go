package mls

import (
	"golang.org/x/crypto/cryptobyte"
)

// Wire formats (RFC 9420, Section 6).
const (
	wireFormatPublicMessage  uint16 = 1
	wireFormatPrivateMessage uint16 = 2
	wireFormatWelcome        uint16 = 3
	wireFormatGroupInfo      uint16 = 4
	wireFormatKeyPackage     uint16 = 5
)

// Sender types (RFC 9420, Section 6).
const (
	senderMember            uint8 = 1
	senderExternal          uint8 = 2
	senderNewMemberProposal uint8 = 3
	senderNewMemberCommit   uint8 = 4
)

// Content types (RFC 9420, Section 6).
const (
	contentApplication uint8 = 1
	contentProposal    uint8 = 2
	contentCommit      uint8 = 3
)

type sender struct {
	typ   uint8
	index uint32 // leaf_index (member) or sender_index (external)
}

func (s *sender) marshal(b *cryptobyte.Builder) {
	b.AddUint8(s.typ)
	if s.typ == senderMember || s.typ == senderExternal {
		b.AddUint32(s.index)
	}
}

func (s *sender) unmarshal(str *cryptobyte.String) bool {
	if !str.ReadUint8(&s.typ) {
		return false
	}
	switch s.typ {
	case senderMember, senderExternal:
		return str.ReadUint32(&s.index)
	case senderNewMemberProposal, senderNewMemberCommit:
		return true
	}
	return false
}

// framedContent is FramedContent (RFC 9420, Section 6).
type framedContent struct {
	groupID           []byte
	epoch             uint64
	sender            sender
	authenticatedData []byte
	contentType       uint8
	applicationData   []byte
	proposal          *proposal
	commit            *commit
}

func (f *framedContent) marshalBody(b *cryptobyte.Builder) {
	switch f.contentType {
	case contentApplication:
		addVarBytes(b, f.applicationData)
	case contentProposal:
		f.proposal.marshal(b)
	case contentCommit:
		f.commit.marshal(b)
	}
}

func (f *framedContent) unmarshalBody(s *cryptobyte.String) bool {
	switch f.contentType {
	case contentApplication:
		return readVarBytes(s, &f.applicationData)
	case contentProposal:
		f.proposal = new(proposal)
		return f.proposal.unmarshal(s)
	case contentCommit:
		f.commit = new(commit)
		return f.commit.unmarshal(s)
	}
	return false
}

func (f *framedContent) marshal(b *cryptobyte.Builder) {
	addVarBytes(b, f.groupID)
	b.AddUint64(f.epoch)
	f.sender.marshal(b)
	addVarBytes(b, f.authenticatedData)
	b.AddUint8(f.contentType)
	f.marshalBody(b)
}

func (f *framedContent) unmarshal(s *cryptobyte.String) bool {
	return readVarBytes(s, &f.groupID) && s.ReadUint64(&f.epoch) && f.sender.unmarshal(s) &&
		readVarBytes(s, &f.authenticatedData) && s.ReadUint8(&f.contentType) && f.unmarshalBody(s)
}

// framedContentAuthData is FramedContentAuthData (RFC 9420, Section 6.1).
type framedContentAuthData struct {
	signature       []byte
	confirmationTag []byte // commits only
}

func (a *framedContentAuthData) marshal(b *cryptobyte.Builder, contentType uint8) {
	addVarBytes(b, a.signature)
	if contentType == contentCommit {
		addVarBytes(b, a.confirmationTag)
	}
}

func (a *framedContentAuthData) unmarshal(s *cryptobyte.String, contentType uint8) bool {
	if !readVarBytes(s, &a.signature) {
		return false
	}
	if contentType == contentCommit {
		return readVarBytes(s, &a.confirmationTag)
	}
	return true
}

// authenticatedContent is AuthenticatedContent (RFC 9420, Section 6.1).
type authenticatedContent struct {
	wireFormat uint16
	content    framedContent
	auth       framedContentAuthData
}

func (a *authenticatedContent) marshal(b *cryptobyte.Builder) {
	b.AddUint16(a.wireFormat)
	a.content.marshal(b)
	a.auth.marshal(b, a.content.contentType)
}

func (a *authenticatedContent) unmarshal(s *cryptobyte.String) bool {
	return s.ReadUint16(&a.wireFormat) && a.content.unmarshal(s) && a.auth.unmarshal(s, a.content.contentType)
}

// tbs returns FramedContentTBS; gc is the serialized GroupContext, needed
// for member and new_member_commit senders.
func (a *authenticatedContent) tbs(gc []byte) []byte {
	var b cryptobyte.Builder
	b.AddUint16(protocolVersionMLS10)
	b.AddUint16(a.wireFormat)
	a.content.marshal(&b)
	if a.content.sender.typ == senderMember || a.content.sender.typ == senderNewMemberCommit {
		b.AddBytes(gc)
	}
	return b.BytesOrPanic()
}

func (a *authenticatedContent) sign(s *suite, key *SignaturePrivateKey, gc []byte) error {
	sig, err := s.signWithLabel(key, "FramedContentTBS", a.tbs(gc))
	if err != nil {
		return err
	}
	a.auth.signature = sig
	return nil
}

func (a *authenticatedContent) verify(s *suite, pub, gc []byte) bool {
	return s.verifyWithLabel(pub, "FramedContentTBS", a.tbs(gc), a.auth.signature)
}

// membershipTag computes MAC(membership_key, AuthenticatedContentTBM)
// (RFC 9420, Section 6.2).
func (a *authenticatedContent) membershipTag(s *suite, membershipKey, gc []byte) []byte {
	var b cryptobyte.Builder
	b.AddBytes(a.tbs(gc))
	a.auth.marshal(&b, a.content.contentType)
	return s.mac(membershipKey, b.BytesOrPanic())
}

// publicMessage is PublicMessage (RFC 9420, Section 6.2).
type publicMessage struct {
	content       framedContent
	auth          framedContentAuthData
	membershipTag []byte // member senders only
}

func (p *publicMessage) marshal(b *cryptobyte.Builder) {
	p.content.marshal(b)
	p.auth.marshal(b, p.content.contentType)
	if p.content.sender.typ == senderMember {
		addVarBytes(b, p.membershipTag)
	}
}

func (p *publicMessage) unmarshal(s *cryptobyte.String) bool {
	if !p.content.unmarshal(s) || !p.auth.unmarshal(s, p.content.contentType) {
		return false
	}
	if p.content.sender.typ == senderMember {
		return readVarBytes(s, &p.membershipTag)
	}
	return true
}

// privateMessage is PrivateMessage (RFC 9420, Section 6.3).
type privateMessage struct {
	groupID             []byte
	epoch               uint64
	contentType         uint8
	authenticatedData   []byte
	encryptedSenderData []byte
	ciphertext          []byte
}

func (p *privateMessage) marshal(b *cryptobyte.Builder) {
	addVarBytes(b, p.groupID)
	b.AddUint64(p.epoch)
	b.AddUint8(p.contentType)
	addVarBytes(b, p.authenticatedData)
	addVarBytes(b, p.encryptedSenderData)
	addVarBytes(b, p.ciphertext)
}

func (p *privateMessage) unmarshal(s *cryptobyte.String) bool {
	return readVarBytes(s, &p.groupID) && s.ReadUint64(&p.epoch) && s.ReadUint8(&p.contentType) &&
		p.contentType >= contentApplication && p.contentType <= contentCommit &&
		readVarBytes(s, &p.authenticatedData) && readVarBytes(s, &p.encryptedSenderData) && readVarBytes(s, &p.ciphertext)
}

// encryptedGroupSecrets and welcome (RFC 9420, Section 12.4.3.1).
type encryptedGroupSecrets struct {
	newMember             []byte // KeyPackageRef
	encryptedGroupSecrets hpkeCiphertext
}

type welcome struct {
	cipherSuite        CipherSuite
	secrets            []encryptedGroupSecrets
	encryptedGroupInfo []byte
}

func (w *welcome) marshal(b *cryptobyte.Builder) {
	b.AddUint16(uint16(w.cipherSuite))
	addVarVector(b, func(b *cryptobyte.Builder) {
		for i := range w.secrets {
			addVarBytes(b, w.secrets[i].newMember)
			w.secrets[i].encryptedGroupSecrets.marshal(b)
		}
	})
	addVarBytes(b, w.encryptedGroupInfo)
}

func (w *welcome) unmarshal(s *cryptobyte.String) bool {
	var cs uint16
	var v cryptobyte.String
	if !s.ReadUint16(&cs) || !readVarVector(s, &v) {
		return false
	}
	w.cipherSuite = CipherSuite(cs)
	for !v.Empty() {
		var e encryptedGroupSecrets
		if !readVarBytes(&v, &e.newMember) || !e.encryptedGroupSecrets.unmarshal(&v) {
			return false
		}
		w.secrets = append(w.secrets, e)
	}
	return readVarBytes(s, &w.encryptedGroupInfo)
}

// groupSecrets is GroupSecrets (RFC 9420, Section 12.4.3.1).
type groupSecrets struct {
	joinerSecret []byte
	pathSecret   []byte // nil when absent
	psks         []preSharedKeyID
}

func (g *groupSecrets) marshal(b *cryptobyte.Builder) {
	addVarBytes(b, g.joinerSecret)
	addOptional(b, g.pathSecret != nil)
	if g.pathSecret != nil {
		addVarBytes(b, g.pathSecret)
	}
	addVarVector(b, func(b *cryptobyte.Builder) {
		for i := range g.psks {
			g.psks[i].marshal(b)
		}
	})
}

func (g *groupSecrets) unmarshal(s *cryptobyte.String) bool {
	var present bool
	if !readVarBytes(s, &g.joinerSecret) || !readOptional(s, &present) {
		return false
	}
	if present {
		if !readVarBytes(s, &g.pathSecret) {
			return false
		}
		if g.pathSecret == nil {
			g.pathSecret = []byte{}
		}
	}
	var v cryptobyte.String
	if !readVarVector(s, &v) {
		return false
	}
	for !v.Empty() {
		var p preSharedKeyID
		if !p.unmarshal(&v) {
			return false
		}
		g.psks = append(g.psks, p)
	}
	return true
}

// groupInfo is GroupInfo (RFC 9420, Section 12.4.3).
type groupInfo struct {
	groupContext    groupContext
	extensions      []Extension
	confirmationTag []byte
	signer          leafIndex
	signature       []byte
}

func (g *groupInfo) marshalTBS(b *cryptobyte.Builder) {
	g.groupContext.marshal(b)
	marshalExtensions(b, g.extensions)
	addVarBytes(b, g.confirmationTag)
	b.AddUint32(uint32(g.signer))
}

func (g *groupInfo) marshal(b *cryptobyte.Builder) {
	g.marshalTBS(b)
	addVarBytes(b, g.signature)
}

func (g *groupInfo) unmarshal(s *cryptobyte.String) bool {
	var signer uint32
	if !g.groupContext.unmarshal(s) || !readExtensions(s, &g.extensions) ||
		!readVarBytes(s, &g.confirmationTag) || !s.ReadUint32(&signer) || !readVarBytes(s, &g.signature) {
		return false
	}
	g.signer = leafIndex(signer)
	return true
}

func (g *groupInfo) tbs() []byte {
	var b cryptobyte.Builder
	g.marshalTBS(&b)
	return b.BytesOrPanic()
}

// mlsMessage is MLSMessage (RFC 9420, Section 6); exactly one body is set.
type mlsMessage struct {
	wireFormat uint16
	public     *publicMessage
	private    *privateMessage
	welcome    *welcome
	groupInfo  *groupInfo
	keyPackage *keyPackage
}

func (m *mlsMessage) marshal(b *cryptobyte.Builder) {
	b.AddUint16(protocolVersionMLS10)
	b.AddUint16(m.wireFormat)
	switch m.wireFormat {
	case wireFormatPublicMessage:
		m.public.marshal(b)
	case wireFormatPrivateMessage:
		m.private.marshal(b)
	case wireFormatWelcome:
		m.welcome.marshal(b)
	case wireFormatGroupInfo:
		m.groupInfo.marshal(b)
	case wireFormatKeyPackage:
		m.keyPackage.marshal(b)
	}
}

func (m *mlsMessage) unmarshal(s *cryptobyte.String) bool {
	var v uint16
	if !s.ReadUint16(&v) || v != protocolVersionMLS10 || !s.ReadUint16(&m.wireFormat) {
		return false
	}
	switch m.wireFormat {
	case wireFormatPublicMessage:
		m.public = new(publicMessage)
		return m.public.unmarshal(s)
	case wireFormatPrivateMessage:
		m.private = new(privateMessage)
		return m.private.unmarshal(s)
	case wireFormatWelcome:
		m.welcome = new(welcome)
		return m.welcome.unmarshal(s)
	case wireFormatGroupInfo:
		m.groupInfo = new(groupInfo)
		return m.groupInfo.unmarshal(s)
	case wireFormatKeyPackage:
		m.keyPackage = new(keyPackage)
		return m.keyPackage.unmarshal(s)
	}
	return false
}

func decodeMLSMessage(data []byte) (*mlsMessage, error) {
	m := new(mlsMessage)
	if err := decodeAll(data, "MLSMessage", m.unmarshal); err != nil {
		return nil, err
	}
	return m, nil
}

// ratchetTreeExt is the ratchet_tree extension body: optional<Node> ratchet_tree<V>.
type ratchetTreeExt struct {
	nodes []node
}

func (r *ratchetTreeExt) marshal(b *cryptobyte.Builder) {
	addVarVector(b, func(b *cryptobyte.Builder) {
		for i := range r.nodes {
			marshalOptionalNode(b, &r.nodes[i])
		}
	})
}

func (r *ratchetTreeExt) unmarshal(s *cryptobyte.String) bool {
	var v cryptobyte.String
	if !readVarVector(s, &v) {
		return false
	}
	for !v.Empty() {
		var n node
		if !readOptionalNode(&v, &n) {
			return false
		}
		r.nodes = append(r.nodes, n)
	}
	return true
}
