package mls

import (
	"golang.org/x/crypto/cryptobyte"
)

// Credential types (RFC 9420, Section 5.3).
const (
	CredentialBasic uint16 = 1
	CredentialX509  uint16 = 2
)

// Credential is an MLS credential (RFC 9420, Section 5.3). Identity is set
// for basic credentials, Certificates for X.509 ones.
type Credential struct {
	Type         uint16
	Identity     []byte
	Certificates [][]byte
}

func (c *Credential) marshal(b *cryptobyte.Builder) {
	b.AddUint16(c.Type)
	switch c.Type {
	case CredentialBasic:
		addVarBytes(b, c.Identity)
	case CredentialX509:
		addVarVector(b, func(b *cryptobyte.Builder) {
			for _, cert := range c.Certificates {
				addVarBytes(b, cert)
			}
		})
	}
}

func (c *Credential) unmarshal(s *cryptobyte.String) bool {
	if !s.ReadUint16(&c.Type) {
		return false
	}
	switch c.Type {
	case CredentialBasic:
		return readVarBytes(s, &c.Identity)
	case CredentialX509:
		var v cryptobyte.String
		if !readVarVector(s, &v) {
			return false
		}
		for !v.Empty() {
			var cert []byte
			if !readVarBytes(&v, &cert) {
				return false
			}
			c.Certificates = append(c.Certificates, cert)
		}
		return true
	}
	return false
}

// Capabilities (RFC 9420, Section 7.2).
type Capabilities struct {
	Versions     []uint16
	CipherSuites []CipherSuite
	Extensions   []uint16
	Proposals    []uint16
	Credentials  []uint16
}

func addUint16s(b *cryptobyte.Builder, v []uint16) {
	addVarVector(b, func(b *cryptobyte.Builder) {
		for _, x := range v {
			b.AddUint16(x)
		}
	})
}

func readUint16s(s *cryptobyte.String, out *[]uint16) bool {
	var v cryptobyte.String
	if !readVarVector(s, &v) || len(v)%2 != 0 {
		return false
	}
	r := make([]uint16, 0, len(v)/2)
	for !v.Empty() {
		var x uint16
		v.ReadUint16(&x)
		r = append(r, x)
	}
	*out = r
	return true
}

func (c *Capabilities) marshal(b *cryptobyte.Builder) {
	addUint16s(b, c.Versions)
	cs := make([]uint16, len(c.CipherSuites))
	for i, x := range c.CipherSuites {
		cs[i] = uint16(x)
	}
	addUint16s(b, cs)
	addUint16s(b, c.Extensions)
	addUint16s(b, c.Proposals)
	addUint16s(b, c.Credentials)
}

func (c *Capabilities) unmarshal(s *cryptobyte.String) bool {
	var cs []uint16
	if !readUint16s(s, &c.Versions) || !readUint16s(s, &cs) || !readUint16s(s, &c.Extensions) ||
		!readUint16s(s, &c.Proposals) || !readUint16s(s, &c.Credentials) {
		return false
	}
	c.CipherSuites = make([]CipherSuite, len(cs))
	for i, x := range cs {
		c.CipherSuites[i] = CipherSuite(x)
	}
	return true
}

// Leaf node sources (RFC 9420, Section 7.2).
const (
	leafSourceKeyPackage uint8 = 1
	leafSourceUpdate     uint8 = 2
	leafSourceCommit     uint8 = 3
)

// leafNode is LeafNode (RFC 9420, Section 7.2).
type leafNode struct {
	encryptionKey []byte
	signatureKey  []byte
	credential    Credential
	capabilities  Capabilities
	source        uint8
	notBefore     uint64 // key_package source
	notAfter      uint64
	parentHash    []byte // commit source
	extensions    []Extension
	signature     []byte
}

func (l *leafNode) marshalTBSBody(b *cryptobyte.Builder) {
	addVarBytes(b, l.encryptionKey)
	addVarBytes(b, l.signatureKey)
	l.credential.marshal(b)
	l.capabilities.marshal(b)
	b.AddUint8(l.source)
	switch l.source {
	case leafSourceKeyPackage:
		b.AddUint64(l.notBefore)
		b.AddUint64(l.notAfter)
	case leafSourceCommit:
		addVarBytes(b, l.parentHash)
	}
	marshalExtensions(b, l.extensions)
}

func (l *leafNode) marshal(b *cryptobyte.Builder) {
	l.marshalTBSBody(b)
	addVarBytes(b, l.signature)
}

func (l *leafNode) unmarshal(s *cryptobyte.String) bool {
	if !readVarBytes(s, &l.encryptionKey) || !readVarBytes(s, &l.signatureKey) ||
		!l.credential.unmarshal(s) || !l.capabilities.unmarshal(s) || !s.ReadUint8(&l.source) {
		return false
	}
	switch l.source {
	case leafSourceKeyPackage:
		if !s.ReadUint64(&l.notBefore) || !s.ReadUint64(&l.notAfter) {
			return false
		}
	case leafSourceUpdate:
	case leafSourceCommit:
		if !readVarBytes(s, &l.parentHash) {
			return false
		}
	default:
		return false
	}
	return readExtensions(s, &l.extensions) && readVarBytes(s, &l.signature)
}

// tbs returns LeafNodeTBS; groupID and leaf are used for update and commit
// sources.
func (l *leafNode) tbs(groupID []byte, leaf leafIndex) []byte {
	var b cryptobyte.Builder
	l.marshalTBSBody(&b)
	if l.source == leafSourceUpdate || l.source == leafSourceCommit {
		addVarBytes(&b, groupID)
		b.AddUint32(uint32(leaf))
	}
	return b.BytesOrPanic()
}

func (l *leafNode) sign(s *suite, key *SignaturePrivateKey, groupID []byte, leaf leafIndex) error {
	sig, err := s.signWithLabel(key, "LeafNodeTBS", l.tbs(groupID, leaf))
	if err != nil {
		return err
	}
	l.signature = sig
	return nil
}

func (l *leafNode) verify(s *suite, groupID []byte, leaf leafIndex) bool {
	return s.verifyWithLabel(l.signatureKey, "LeafNodeTBS", l.tbs(groupID, leaf), l.signature)
}

// keyPackage is KeyPackage (RFC 9420, Section 10).
type keyPackage struct {
	cipherSuite CipherSuite
	initKey     []byte
	leafNode    leafNode
	extensions  []Extension
	signature   []byte
}

func (k *keyPackage) marshalTBS(b *cryptobyte.Builder) {
	b.AddUint16(protocolVersionMLS10)
	b.AddUint16(uint16(k.cipherSuite))
	addVarBytes(b, k.initKey)
	k.leafNode.marshal(b)
	marshalExtensions(b, k.extensions)
}

func (k *keyPackage) marshal(b *cryptobyte.Builder) {
	k.marshalTBS(b)
	addVarBytes(b, k.signature)
}

func (k *keyPackage) unmarshal(s *cryptobyte.String) bool {
	var v, cs uint16
	if !s.ReadUint16(&v) || v != protocolVersionMLS10 || !s.ReadUint16(&cs) {
		return false
	}
	k.cipherSuite = CipherSuite(cs)
	return readVarBytes(s, &k.initKey) && k.leafNode.unmarshal(s) &&
		readExtensions(s, &k.extensions) && readVarBytes(s, &k.signature)
}

func (k *keyPackage) tbs() []byte {
	var b cryptobyte.Builder
	k.marshalTBS(&b)
	return b.BytesOrPanic()
}

// ref is KeyPackageRef = RefHash("MLS 1.0 KeyPackage Reference", KeyPackage).
func (k *keyPackage) ref(s *suite) []byte {
	return s.refHash("MLS 1.0 KeyPackage Reference", encode(k))
}

// Node types (RFC 9420, Section 7.8).
const (
	nodeTypeLeaf   uint8 = 1
	nodeTypeParent uint8 = 2
)

// parentNode is ParentNode (RFC 9420, Section 7.1).
type parentNode struct {
	encryptionKey  []byte
	parentHash     []byte
	unmergedLeaves []leafIndex
}

func (p *parentNode) marshal(b *cryptobyte.Builder) {
	addVarBytes(b, p.encryptionKey)
	addVarBytes(b, p.parentHash)
	addVarVector(b, func(b *cryptobyte.Builder) {
		for _, l := range p.unmergedLeaves {
			b.AddUint32(uint32(l))
		}
	})
}

func (p *parentNode) unmarshal(s *cryptobyte.String) bool {
	var v cryptobyte.String
	if !readVarBytes(s, &p.encryptionKey) || !readVarBytes(s, &p.parentHash) || !readVarVector(s, &v) || len(v)%4 != 0 {
		return false
	}
	for !v.Empty() {
		var l uint32
		v.ReadUint32(&l)
		p.unmergedLeaves = append(p.unmergedLeaves, leafIndex(l))
	}
	return true
}

// node is one slot of the ratchet tree: nil pointer fields mean blank.
type node struct {
	leaf   *leafNode
	parent *parentNode
}

func (n *node) blank() bool { return n.leaf == nil && n.parent == nil }

// marshalOptionalNode writes optional<Node>.
func marshalOptionalNode(b *cryptobyte.Builder, n *node) {
	if n == nil || n.blank() {
		b.AddUint8(0)
		return
	}
	b.AddUint8(1)
	if n.leaf != nil {
		b.AddUint8(nodeTypeLeaf)
		n.leaf.marshal(b)
	} else {
		b.AddUint8(nodeTypeParent)
		n.parent.marshal(b)
	}
}

func readOptionalNode(s *cryptobyte.String, n *node) bool {
	var present bool
	if !readOptional(s, &present) {
		return false
	}
	if !present {
		return true
	}
	var t uint8
	if !s.ReadUint8(&t) {
		return false
	}
	switch t {
	case nodeTypeLeaf:
		n.leaf = new(leafNode)
		return n.leaf.unmarshal(s)
	case nodeTypeParent:
		n.parent = new(parentNode)
		return n.parent.unmarshal(s)
	}
	return false
}

// updatePathNode and updatePath (RFC 9420, Section 7.6).
type updatePathNode struct {
	encryptionKey        []byte
	encryptedPathSecrets []hpkeCiphertext
}

type updatePath struct {
	leafNode leafNode
	nodes    []updatePathNode
}

func (u *updatePath) marshal(b *cryptobyte.Builder) {
	u.leafNode.marshal(b)
	addVarVector(b, func(b *cryptobyte.Builder) {
		for i := range u.nodes {
			n := &u.nodes[i]
			addVarBytes(b, n.encryptionKey)
			addVarVector(b, func(b *cryptobyte.Builder) {
				for j := range n.encryptedPathSecrets {
					n.encryptedPathSecrets[j].marshal(b)
				}
			})
		}
	})
}

func (u *updatePath) unmarshal(s *cryptobyte.String) bool {
	var v cryptobyte.String
	if !u.leafNode.unmarshal(s) || !readVarVector(s, &v) {
		return false
	}
	for !v.Empty() {
		var n updatePathNode
		var cts cryptobyte.String
		if !readVarBytes(&v, &n.encryptionKey) || !readVarVector(&v, &cts) {
			return false
		}
		for !cts.Empty() {
			var c hpkeCiphertext
			if !c.unmarshal(&cts) {
				return false
			}
			n.encryptedPathSecrets = append(n.encryptedPathSecrets, c)
		}
		u.nodes = append(u.nodes, n)
	}
	return true
}

// Proposal types (RFC 9420, Section 17.4).
const (
	proposalAdd                    uint16 = 1
	proposalUpdate                 uint16 = 2
	proposalRemove                 uint16 = 3
	proposalPSK                    uint16 = 4
	proposalReInit                 uint16 = 5
	proposalExternalInit           uint16 = 6
	proposalGroupContextExtensions uint16 = 7
)

// proposal is Proposal (RFC 9420, Section 12.1); the field matching typ is set.
type proposal struct {
	typ          uint16
	add          *keyPackage
	update       *leafNode
	remove       leafIndex
	psk          *preSharedKeyID
	reinit       *reInit
	kemOutput    []byte      // external_init
	gcExtensions []Extension // group_context_extensions
}

type reInit struct {
	groupID     []byte
	version     uint16
	cipherSuite CipherSuite
	extensions  []Extension
}

func (p *proposal) marshal(b *cryptobyte.Builder) {
	b.AddUint16(p.typ)
	switch p.typ {
	case proposalAdd:
		p.add.marshal(b)
	case proposalUpdate:
		p.update.marshal(b)
	case proposalRemove:
		b.AddUint32(uint32(p.remove))
	case proposalPSK:
		p.psk.marshal(b)
	case proposalReInit:
		addVarBytes(b, p.reinit.groupID)
		b.AddUint16(p.reinit.version)
		b.AddUint16(uint16(p.reinit.cipherSuite))
		marshalExtensions(b, p.reinit.extensions)
	case proposalExternalInit:
		addVarBytes(b, p.kemOutput)
	case proposalGroupContextExtensions:
		marshalExtensions(b, p.gcExtensions)
	}
}

func (p *proposal) unmarshal(s *cryptobyte.String) bool {
	if !s.ReadUint16(&p.typ) {
		return false
	}
	return p.unmarshalBody(s)
}

func (p *proposal) unmarshalBody(s *cryptobyte.String) bool {
	switch p.typ {
	case proposalAdd:
		p.add = new(keyPackage)
		return p.add.unmarshal(s)
	case proposalUpdate:
		p.update = new(leafNode)
		return p.update.unmarshal(s)
	case proposalRemove:
		var r uint32
		if !s.ReadUint32(&r) {
			return false
		}
		p.remove = leafIndex(r)
		return true
	case proposalPSK:
		p.psk = new(preSharedKeyID)
		return p.psk.unmarshal(s)
	case proposalReInit:
		p.reinit = new(reInit)
		var cs uint16
		if !readVarBytes(s, &p.reinit.groupID) || !s.ReadUint16(&p.reinit.version) || !s.ReadUint16(&cs) {
			return false
		}
		p.reinit.cipherSuite = CipherSuite(cs)
		return readExtensions(s, &p.reinit.extensions)
	case proposalExternalInit:
		return readVarBytes(s, &p.kemOutput)
	case proposalGroupContextExtensions:
		return readExtensions(s, &p.gcExtensions)
	}
	return false
}

// ProposalOrRef types.
const (
	proposalOrRefProposal  uint8 = 1
	proposalOrRefReference uint8 = 2
)

type proposalOrRef struct {
	proposal  *proposal
	reference []byte
}

// commit is Commit (RFC 9420, Section 12.4).
type commit struct {
	proposals []proposalOrRef
	path      *updatePath
}

func (c *commit) marshal(b *cryptobyte.Builder) {
	addVarVector(b, func(b *cryptobyte.Builder) {
		for _, p := range c.proposals {
			if p.proposal != nil {
				b.AddUint8(proposalOrRefProposal)
				p.proposal.marshal(b)
			} else {
				b.AddUint8(proposalOrRefReference)
				addVarBytes(b, p.reference)
			}
		}
	})
	addOptional(b, c.path != nil)
	if c.path != nil {
		c.path.marshal(b)
	}
}

func (c *commit) unmarshal(s *cryptobyte.String) bool {
	var v cryptobyte.String
	if !readVarVector(s, &v) {
		return false
	}
	for !v.Empty() {
		var t uint8
		if !v.ReadUint8(&t) {
			return false
		}
		var p proposalOrRef
		switch t {
		case proposalOrRefProposal:
			p.proposal = new(proposal)
			if !p.proposal.unmarshal(&v) {
				return false
			}
		case proposalOrRefReference:
			if !readVarBytes(&v, &p.reference) {
				return false
			}
		default:
			return false
		}
		c.proposals = append(c.proposals, p)
	}
	var present bool
	if !readOptional(s, &present) {
		return false
	}
	if present {
		c.path = new(updatePath)
		return c.path.unmarshal(s)
	}
	return true
}
