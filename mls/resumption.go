package mls

import (
	"bytes"
	"errors"
	"io"
)

// Exported proposal types (RFC 9420, Section 17.4), for ProposalSpec.
const (
	ProposalAdd                    = proposalAdd
	ProposalUpdate                 = proposalUpdate
	ProposalRemove                 = proposalRemove
	ProposalPreSharedKey           = proposalPSK
	ProposalReInit                 = proposalReInit
	ProposalGroupContextExtensions = proposalGroupContextExtensions
)

// ProposalSpec describes a proposal for NewExternalProposal.
type ProposalSpec struct {
	// Type is ProposalAdd, ProposalRemove, ProposalPreSharedKey,
	// ProposalReInit or ProposalGroupContextExtensions.
	Type uint16
	// KeyPackage for Add (MLSMessage or bare KeyPackage).
	KeyPackage []byte
	// Remove is the leaf to remove.
	Remove uint32
	// PSKID selects an external PSK; otherwise ResumptionEpoch selects the
	// group's resumption PSK of that epoch (PreSharedKey).
	PSKID           []byte
	ResumptionEpoch uint64
	// Extensions for GroupContextExtensions and ReInit.
	Extensions []Extension
	// ReInit parameters.
	GroupID     []byte
	CipherSuite CipherSuite
}

func (p *ProposalSpec) build(cs CipherSuite, groupID []byte, rand io.Reader) (*proposal, error) {
	s, err := getSuite(cs)
	if err != nil {
		return nil, err
	}
	switch p.Type {
	case proposalAdd:
		kp, err := parseKeyPackage(p.KeyPackage)
		if err != nil {
			return nil, err
		}
		return &proposal{typ: proposalAdd, add: kp}, nil
	case proposalRemove:
		return &proposal{typ: proposalRemove, remove: leafIndex(p.Remove)}, nil
	case proposalPSK:
		nonce, err := s.randomBytes(rand, s.nh)
		if err != nil {
			return nil, err
		}
		id := &preSharedKeyID{PSKType: pskTypeExternal, PSKID: p.PSKID, PSKNonce: nonce}
		if p.PSKID == nil {
			id = &preSharedKeyID{PSKType: pskTypeResumption, Usage: resumptionApplication, PSKGroupID: groupID,
				PSKEpoch: p.ResumptionEpoch, PSKNonce: nonce}
		}
		return &proposal{typ: proposalPSK, psk: id}, nil
	case proposalReInit:
		return &proposal{typ: proposalReInit, reinit: &reInit{groupID: p.GroupID, version: protocolVersionMLS10,
			cipherSuite: p.CipherSuite, extensions: p.Extensions}}, nil
	case proposalGroupContextExtensions:
		return &proposal{typ: proposalGroupContextExtensions, gcExtensions: p.Extensions}, nil
	}
	return nil, errors.New("mls: proposal type not allowed here")
}

// NewExternalProposal builds a proposal from an external sender listed at
// senderIndex in the group's external_senders extension (Section 12.1.8),
// for the group's current epoch, as a PublicMessage.
func NewExternalProposal(cs CipherSuite, groupID []byte, epoch uint64, senderIndex uint32, sig *SignaturePrivateKey, spec ProposalSpec, rand io.Reader) ([]byte, error) {
	s, err := getSuite(cs)
	if err != nil {
		return nil, err
	}
	p, err := spec.build(cs, groupID, rand)
	if err != nil {
		return nil, err
	}
	ac := &authenticatedContent{wireFormat: wireFormatPublicMessage, content: framedContent{
		groupID: groupID, epoch: epoch, sender: sender{typ: senderExternal, index: senderIndex},
		contentType: contentProposal, proposal: p}}
	if err := ac.sign(s, sig, nil); err != nil {
		return nil, err
	}
	return encodeErr(&mlsMessage{wireFormat: wireFormatPublicMessage, public: &publicMessage{content: ac.content, auth: ac.auth}})
}

// NewJoinProposal builds an Add proposal by which the owner of kp asks to
// join a group at the given epoch (sender new_member_proposal, Section
// 12.1.8); a member then commits it and sends the Welcome.
func NewJoinProposal(groupID []byte, epoch uint64, kp *KeyPackageBundle) ([]byte, error) {
	s, err := getSuite(kp.kp.cipherSuite)
	if err != nil {
		return nil, err
	}
	ac := &authenticatedContent{wireFormat: wireFormatPublicMessage, content: framedContent{
		groupID: groupID, epoch: epoch, sender: sender{typ: senderNewMemberProposal},
		contentType: contentProposal, proposal: &proposal{typ: proposalAdd, add: &kp.kp}}}
	if err := ac.sign(s, kp.sigKey, nil); err != nil {
		return nil, err
	}
	return encodeErr(&mlsMessage{wireFormat: wireFormatPublicMessage, public: &publicMessage{content: ac.content, auth: ac.auth}})
}

// ProposeResumptionPSK proposes injecting the resumption PSK of an earlier
// epoch of this group.
func (g *Group) ProposeResumptionPSK(epoch uint64) ([]byte, error) {
	p, err := (&ProposalSpec{Type: proposalPSK, ResumptionEpoch: epoch}).build(g.s.id, g.gc.groupID, g.cfg.rand())
	if err != nil {
		return nil, err
	}
	if _, err := g.resolvePSK(p.psk); err != nil {
		return nil, err
	}
	return g.propose(p, nil)
}

// ProposeReInit proposes closing this group and continuing as a new group
// with the given id, suite and extensions (Section 11.2).
func (g *Group) ProposeReInit(groupID []byte, cs CipherSuite, exts []Extension) ([]byte, error) {
	if _, err := getSuite(cs); err != nil {
		return nil, err
	}
	return g.propose(&proposal{typ: proposalReInit, reinit: &reInit{groupID: groupID, version: protocolVersionMLS10,
		cipherSuite: cs, extensions: exts}}, nil)
}

// ReInit creates the group that continues this one after a committed ReInit
// proposal (Section 11.2): the new group has the proposal's id, suite and
// extensions, and its first commit adds keyPackages (the other members'
// new KeyPackages) with a resumption PSK of usage reinit. The returned group
// is already at epoch 1; send the Welcome to the members, who join with
// JoinGroup and a Config.ResumptionPSK served by their old group.
func (g *Group) ReInit(sig *SignaturePrivateKey, cred Credential, keyPackages [][]byte, opts CommitOptions, cfg Config) (*Group, *CommitResult, error) {
	if g.reinit == nil {
		return nil, nil, errors.New("mls: no ReInit was committed in this group")
	}
	r := g.reinit
	return g.resumeInto(resumptionReinit, r.groupID, r.cipherSuite, r.extensions, sig, cred, keyPackages, opts, cfg)
}

// Branch creates a new group (Section 11.3) with id groupID and the same
// suite, whose first commit adds keyPackages (new KeyPackages of some
// members) with a resumption PSK of usage branch from this group's current
// epoch. The returned group is at epoch 1.
func (g *Group) Branch(groupID []byte, exts []Extension, sig *SignaturePrivateKey, cred Credential, keyPackages [][]byte, opts CommitOptions, cfg Config) (*Group, *CommitResult, error) {
	if err := g.requireActive(); err != nil {
		return nil, nil, err
	}
	return g.resumeInto(resumptionBranch, groupID, g.s.id, exts, sig, cred, keyPackages, opts, cfg)
}

func (g *Group) resumeInto(usage uint8, groupID []byte, cs CipherSuite, exts []Extension, sig *SignaturePrivateKey, cred Credential, keyPackages [][]byte, opts CommitOptions, cfg Config) (*Group, *CommitResult, error) {
	oldID, oldEpoch, psk := g.GroupID(), g.gc.epoch, cloneBytes(g.resumptionPSK)
	user := cfg.ResumptionPSK
	cfg.ResumptionPSK = func(id []byte, epoch uint64) ([]byte, bool) {
		if bytes.Equal(id, oldID) && epoch == oldEpoch {
			return psk, true
		}
		if user != nil {
			return user(id, epoch)
		}
		return nil, false
	}
	ng, err := NewGroup(cs, groupID, sig, cred, exts, cfg)
	if err != nil {
		return nil, nil, err
	}
	s := ng.s
	nonce, err := s.randomBytes(cfg.rand(), s.nh)
	if err != nil {
		return nil, nil, err
	}
	opts.Add = append(opts.Add, keyPackages...)
	opts.special = &preSharedKeyID{PSKType: pskTypeResumption, Usage: usage, PSKGroupID: oldID, PSKEpoch: oldEpoch, PSKNonce: nonce}
	res, err := ng.Commit(opts)
	if err != nil {
		return nil, nil, err
	}
	if _, err := ng.MergePendingCommit(); err != nil {
		return nil, nil, err
	}
	return ng, res, nil
}

// ReInitInfo returns the parameters of the ReInit committed in this group,
// or nil if there was none.
func (g *Group) ReInitInfo() *ReInitInfo {
	if g.reinit == nil {
		return nil
	}
	return &ReInitInfo{GroupID: cloneBytes(g.reinit.groupID), CipherSuite: g.reinit.cipherSuite, Extensions: g.reinit.extensions}
}
