package mls

import (
	"bytes"
	"errors"
	"fmt"

	"crypto/hpke"
)

// Event is the result of ProcessMessage: *ApplicationMessage,
// *ProposalEvent or *CommitEvent.
type Event interface{ isEvent() }

// ApplicationMessage is decrypted application data.
type ApplicationMessage struct {
	Sender uint32 // leaf index
	Epoch  uint64
	Data   []byte
	// AuthenticatedData is the sender's authenticated_data (in the clear on
	// the wire, bound by the AEAD and the signature); Ward's franking
	// commitment rides here.
	AuthenticatedData []byte
}

// ProposalEvent reports a proposal that was validated and stored; the next
// commit of this epoch includes it.
type ProposalEvent struct {
	Sender Sender
	// Type is the RFC 9420 proposal type (1 add, 2 update, 3 remove, 4
	// psk, 5 reinit, 7 group_context_extensions).
	Type uint16
	// Ref is the ProposalRef.
	Ref []byte
	// Add describes the member an Add proposal would add.
	Add *Member
	// Remove is the leaf a Remove proposal would remove.
	Remove uint32
}

func (*ApplicationMessage) isEvent() {}
func (*ProposalEvent) isEvent()      {}
func (*CommitEvent) isEvent()        {}

// Sentinel errors callers branch on.
var (
	// ErrWrongEpoch reports a handshake or application message of another
	// epoch. Messages of a past epoch cannot be decrypted once the epoch
	// has ended (its secrets are deleted for forward secrecy).
	ErrWrongEpoch = errors.New("mls: message is for another epoch")
	// ErrWrongGroup reports a message for another group.
	ErrWrongGroup = errors.New("mls: message is for another group")
)

var errSignature = errors.New("mls: invalid signature")

// ProcessMessage verifies and applies an incoming MLSMessage (PublicMessage
// or PrivateMessage): application data is decrypted, proposals are stored,
// commits are applied. A commit this member created is merged when it is
// echoed back. The state changes only when no error is returned.
func (g *Group) ProcessMessage(msg []byte) (Event, error) {
	if err := g.requireActive(); err != nil {
		return nil, err
	}
	m, err := decodeMLSMessage(msg)
	if err != nil {
		return nil, err
	}
	if g.isPending(msg) {
		return g.MergePendingCommit()
	}
	var ac *authenticatedContent
	switch {
	case m.public != nil:
		if err := g.checkEpoch(m.public.content.groupID, m.public.content.epoch); err != nil {
			return nil, err
		}
		if m.public.content.contentType == contentApplication {
			return nil, errors.New("mls: application data in a PublicMessage")
		}
		if ac, err = g.unprotectPublic(m.public); err != nil {
			return nil, err
		}
	case m.private != nil:
		if err := g.checkEpoch(m.private.groupID, m.private.epoch); err != nil {
			if errors.Is(err, ErrWrongEpoch) && m.private.epoch < g.gc.epoch {
				return g.processPastApplication(m.private)
			}
			return nil, err
		}
		if ac, err = g.unprotectPrivate(m.private); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("mls: not a PublicMessage or PrivateMessage")
	}
	return g.processContent(ac)
}

func (g *Group) checkEpoch(groupID []byte, epoch uint64) error {
	if !bytes.Equal(groupID, g.gc.groupID) {
		return ErrWrongGroup
	}
	if epoch != g.gc.epoch {
		return ErrWrongEpoch
	}
	return nil
}

func (g *Group) processContent(ac *authenticatedContent) (Event, error) {
	c := &ac.content
	var pub []byte
	switch c.sender.typ {
	case senderMember, senderExternal:
		var err error
		if pub, err = g.signatureKeyOf(c.sender); err != nil {
			return nil, err
		}
	case senderNewMemberProposal:
		if ac.wireFormat != wireFormatPublicMessage || c.contentType != contentProposal || c.proposal.typ != proposalAdd {
			return nil, errors.New("mls: new_member_proposal must be a public Add proposal")
		}
		pub = c.proposal.add.leafNode.signatureKey
	case senderNewMemberCommit:
		if ac.wireFormat != wireFormatPublicMessage || c.contentType != contentCommit || c.commit.path == nil {
			return nil, errors.New("mls: new_member_commit must be a public commit with a path")
		}
		pub = c.commit.path.leafNode.signatureKey
	}
	if !ac.verify(g.s, pub, g.gcBytes) {
		return nil, errSignature
	}
	switch c.contentType {
	case contentApplication:
		if c.sender.typ != senderMember {
			return nil, errors.New("mls: application data from a non-member")
		}
		return &ApplicationMessage{Sender: c.sender.index, Epoch: c.epoch, Data: c.applicationData, AuthenticatedData: c.authenticatedData}, nil
	case contentProposal:
		return g.storeProposal(ac)
	case contentCommit:
		if c.sender.typ == senderMember && leafIndex(c.sender.index) == g.self {
			return nil, errors.New("mls: commit from this member that is not the pending one")
		}
		if c.sender.typ == senderExternal || c.sender.typ == senderNewMemberProposal {
			return nil, errors.New("mls: commit from an invalid sender")
		}
		return g.processCommit(ac, nil)
	}
	return nil, errors.New("mls: invalid content type")
}

// storeProposal validates a received proposal and caches it for the next
// commit (Sections 12.1 and 12.1.8).
func (g *Group) storeProposal(ac *authenticatedContent) (Event, error) {
	p := ac.content.proposal
	snd := ac.content.sender
	switch snd.typ {
	case senderExternal:
		switch p.typ {
		case proposalAdd, proposalRemove, proposalPSK, proposalReInit, proposalGroupContextExtensions:
		default:
			return nil, errors.New("mls: proposal type not allowed from an external sender")
		}
	case senderMember:
		if p.typ == proposalExternalInit {
			return nil, errors.New("mls: external init proposal outside an external commit")
		}
	}
	ev := &ProposalEvent{Sender: Sender{snd.typ, snd.index}, Type: p.typ}
	switch p.typ {
	case proposalAdd:
		if err := validateKeyPackage(g.s, p.add, g.cfg.now(), g.cfg.ValidateCredential); err != nil {
			return nil, err
		}
		m := memberOf(0, &p.add.leafNode)
		ev.Add = &m
	case proposalUpdate:
		if snd.typ != senderMember {
			return nil, errors.New("mls: update from a non-member")
		}
		l := leafIndex(snd.index)
		if p.update.source != leafSourceUpdate {
			return nil, errors.New("mls: update leaf node source is not update")
		}
		if err := g.validateLeaf(p.update, g.gc.extensions, g.gc.groupID, l); err != nil {
			return nil, err
		}
	case proposalRemove:
		if g.tree.leaf(p.remove) == nil {
			return nil, errors.New("mls: remove of a blank leaf")
		}
		ev.Remove = uint32(p.remove)
	case proposalPSK:
		if _, err := g.resolvePSK(p.psk); err != nil {
			return nil, err
		}
	}
	ev.Ref = g.s.proposalRef(ac)
	// A proposal seen twice (for example this member's own proposal echoed
	// by the delivery service) is cached once.
	for _, cp := range g.proposals {
		if bytes.Equal(cp.ref, ev.Ref) {
			return ev, nil
		}
	}
	g.proposals = append(g.proposals, cachedProposal{ref: ev.Ref, p: p, sender: snd})
	return ev, nil
}

// propose signs, caches and frames a proposal from this member as a
// PublicMessage.
func (g *Group) propose(p *proposal, authData []byte) ([]byte, error) {
	if err := g.requireActive(); err != nil {
		return nil, err
	}
	ac := &authenticatedContent{wireFormat: wireFormatPublicMessage, content: framedContent{
		groupID: g.gc.groupID, epoch: g.gc.epoch, sender: sender{typ: senderMember, index: uint32(g.self)},
		authenticatedData: authData, contentType: contentProposal, proposal: p}}
	if err := ac.sign(g.s, g.sigKey, g.gcBytes); err != nil {
		return nil, err
	}
	msg, err := encodeErr(&mlsMessage{wireFormat: wireFormatPublicMessage, public: g.protectPublic(ac)})
	if err != nil {
		return nil, err
	}
	g.proposals = append(g.proposals, cachedProposal{ref: g.s.proposalRef(ac), p: p, sender: ac.content.sender})
	return msg, nil
}

// ProposeAdd proposes adding the member of a KeyPackage.
func (g *Group) ProposeAdd(keyPackage []byte) ([]byte, error) {
	kp, err := parseKeyPackage(keyPackage)
	if err != nil {
		return nil, err
	}
	if err := validateKeyPackage(g.s, kp, g.cfg.now(), g.cfg.ValidateCredential); err != nil {
		return nil, err
	}
	return g.propose(&proposal{typ: proposalAdd, add: kp}, nil)
}

// ProposeRemove proposes removing the member at leaf.
func (g *Group) ProposeRemove(leaf uint32) ([]byte, error) {
	if g.tree.leaf(leafIndex(leaf)) == nil {
		return nil, fmt.Errorf("mls: leaf %d is blank", leaf)
	}
	return g.propose(&proposal{typ: proposalRemove, remove: leafIndex(leaf)}, nil)
}

// ProposeUpdate proposes fresh keys for this member's leaf (Section 12.1.2).
func (g *Group) ProposeUpdate() ([]byte, error) {
	priv, err := g.s.generateHPKEKey(g.cfg.rand())
	if err != nil {
		return nil, err
	}
	ln := *g.tree.leaf(g.self)
	ln.encryptionKey = priv.PublicKey().Bytes()
	ln.source = leafSourceUpdate
	ln.parentHash = nil
	ln.notBefore, ln.notAfter = 0, 0
	if err := ln.sign(g.s, g.sigKey, g.gc.groupID, g.self); err != nil {
		return nil, err
	}
	msg, err := g.propose(&proposal{typ: proposalUpdate, update: &ln}, nil)
	if err != nil {
		return nil, err
	}
	if g.pendingUpdates == nil {
		g.pendingUpdates = map[string]hpke.PrivateKey{}
	}
	g.pendingUpdates[string(ln.encryptionKey)] = priv
	return msg, nil
}

// ProposeExternalPSK proposes injecting the external PSK with the given id.
func (g *Group) ProposeExternalPSK(id []byte) ([]byte, error) {
	nonce, err := g.s.randomBytes(g.cfg.rand(), g.s.nh)
	if err != nil {
		return nil, err
	}
	psk := &preSharedKeyID{PSKType: pskTypeExternal, PSKID: id, PSKNonce: nonce}
	if _, err := g.resolvePSK(psk); err != nil {
		return nil, err
	}
	return g.propose(&proposal{typ: proposalPSK, psk: psk}, nil)
}

// ProposeGroupContextExtensions proposes replacing the GroupContext
// extensions.
func (g *Group) ProposeGroupContextExtensions(exts []Extension) ([]byte, error) {
	return g.propose(&proposal{typ: proposalGroupContextExtensions, gcExtensions: exts}, nil)
}

// Protect encrypts application data as a PrivateMessage MLSMessage
// (Section 6.3). authenticatedData travels in the clear but is
// authenticated.
func (g *Group) Protect(data, authenticatedData []byte) ([]byte, error) {
	if err := g.requireActive(); err != nil {
		return nil, err
	}
	ac := &authenticatedContent{wireFormat: wireFormatPrivateMessage, content: framedContent{
		groupID: g.gc.groupID, epoch: g.gc.epoch, sender: sender{typ: senderMember, index: uint32(g.self)},
		authenticatedData: authenticatedData, contentType: contentApplication, applicationData: data}}
	if err := ac.sign(g.s, g.sigKey, g.gcBytes); err != nil {
		return nil, err
	}
	pad := 0
	if b := g.cfg.PaddingBlock; b > 0 {
		pad = (b - (len(data) % b)) % b
	}
	pm, err := g.protectPrivate(ac, pad, g.cfg.rand())
	if err != nil {
		return nil, err
	}
	return encodeErr(&mlsMessage{wireFormat: wireFormatPrivateMessage, private: pm})
}
