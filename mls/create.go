package mls

import (
	"bytes"
	"crypto/hpke"
	"errors"
	"fmt"
)

// pendingCommit is a commit this member created and has not merged yet.
type pendingCommit struct {
	message      []byte // the MLSMessage as sent
	ac           *authenticatedContent
	privKeys     map[nodeIndex]hpke.PrivateKey
	commitSecret []byte
}

// CommitOptions selects what a commit contains besides the proposals
// already received in this epoch, which are always included by reference.
type CommitOptions struct {
	// Add holds KeyPackages (MLSMessage or bare) of members to add.
	Add [][]byte
	// Remove holds leaf indices of members to remove.
	Remove []uint32
	// ExternalPSKs holds ids of external PSKs to inject (looked up with
	// Config.ExternalPSK).
	ExternalPSKs [][]byte
	// ResumptionPSKs holds epochs of this group whose resumption PSK to
	// inject (usage application).
	ResumptionPSKs []uint64
	// Extensions, if non-nil, replaces the GroupContext extensions.
	Extensions []Extension
	// ForcePath includes an UpdatePath even when not required (a
	// self-update of this member's keys).
	ForcePath bool
	// RatchetTreeInWelcome puts the ratchet tree into the Welcome's
	// GroupInfo; otherwise joiners need it out of band (RatchetTree).
	RatchetTreeInWelcome bool
	// AuthenticatedData is carried in the clear in the commit.
	AuthenticatedData []byte
	// Private sends the commit as a PrivateMessage (default PublicMessage,
	// so the delivery service can order it and apply roster policy).
	Private bool

	// special is the reinit or branch PSK of a new group's first commit.
	special *preSharedKeyID
}

// CommitResult holds the messages a commit produces.
type CommitResult struct {
	// Commit is the MLSMessage to send to the group. The commit takes
	// effect for this member after MergePendingCommit, or when the
	// delivery service echoes it back to ProcessMessage.
	Commit []byte
	// Welcome is the MLSMessage for the added members (nil if none).
	Welcome []byte
}

// Commit creates a commit over the pending proposals of this epoch plus the
// proposals described by opts (RFC 9420, Section 12.4.1).
func (g *Group) Commit(opts CommitOptions) (*CommitResult, error) {
	if err := g.requireActive(); err != nil {
		return nil, err
	}
	rnd := g.cfg.rand()
	self := sender{typ: senderMember, index: uint32(g.self)}
	var props []resolvedProposal
	var pors []proposalOrRef
	// Proposals received in this epoch, by reference; a Remove wins over
	// an Update for the same leaf, and the committer's own Updates are
	// left out (Section 12.2).
	removed := map[leafIndex]bool{}
	for _, cp := range g.proposals {
		if cp.p.typ == proposalRemove {
			removed[cp.p.remove] = true
		}
	}
	for _, r := range opts.Remove {
		removed[leafIndex(r)] = true
	}
	seen := map[leafIndex]bool{}
	for _, cp := range g.proposals {
		switch cp.p.typ {
		case proposalUpdate:
			l := leafIndex(cp.sender.index)
			if l == g.self || removed[l] || seen[l] {
				continue
			}
			seen[l] = true
		case proposalRemove:
			if cp.p.remove == g.self || seen[cp.p.remove] {
				continue
			}
			seen[cp.p.remove] = true
		}
		props = append(props, resolvedProposal{p: cp.p, sender: cp.sender, ref: cp.ref})
		pors = append(pors, proposalOrRef{reference: cp.ref})
	}
	byValue := func(p *proposal) {
		props = append(props, resolvedProposal{p: p, sender: self})
		pors = append(pors, proposalOrRef{proposal: p})
	}
	if opts.Extensions != nil {
		byValue(&proposal{typ: proposalGroupContextExtensions, gcExtensions: opts.Extensions})
	}
	for _, r := range opts.Remove {
		if seen[leafIndex(r)] {
			continue
		}
		seen[leafIndex(r)] = true
		byValue(&proposal{typ: proposalRemove, remove: leafIndex(r)})
	}
	for _, data := range opts.Add {
		kp, err := parseKeyPackage(data)
		if err != nil {
			return nil, err
		}
		byValue(&proposal{typ: proposalAdd, add: kp})
	}
	for _, id := range opts.ExternalPSKs {
		nonce, err := g.s.randomBytes(rnd, g.s.nh)
		if err != nil {
			return nil, err
		}
		byValue(&proposal{typ: proposalPSK, psk: &preSharedKeyID{PSKType: pskTypeExternal, PSKID: id, PSKNonce: nonce}})
	}
	for _, epoch := range opts.ResumptionPSKs {
		nonce, err := g.s.randomBytes(rnd, g.s.nh)
		if err != nil {
			return nil, err
		}
		byValue(&proposal{typ: proposalPSK, psk: &preSharedKeyID{PSKType: pskTypeResumption, Usage: resumptionApplication,
			PSKGroupID: g.gc.groupID, PSKEpoch: epoch, PSKNonce: nonce}})
	}
	if opts.special != nil {
		byValue(&proposal{typ: proposalPSK, psk: opts.special})
	}

	g.tree.begin()
	defer g.tree.rollback() // the commit takes effect only when merged
	a, err := g.applyProposals(props, self)
	if err != nil {
		return nil, err
	}
	c := &commit{proposals: pors}
	pending := &pendingCommit{privKeys: map[nodeIndex]hpke.PrivateKey{}}
	var pathSecrets map[nodeIndex][]byte
	if a.needPath || len(props) == 0 || opts.ForcePath {
		c.path, pathSecrets, pending.commitSecret, err = g.createPath(a, pending.privKeys)
		if err != nil {
			return nil, err
		}
	}
	ac := &authenticatedContent{wireFormat: wireFormatPublicMessage, content: framedContent{
		groupID: g.gc.groupID, epoch: g.gc.epoch, sender: self, authenticatedData: opts.AuthenticatedData,
		contentType: contentCommit, commit: c}}
	if opts.Private {
		ac.wireFormat = wireFormatPrivateMessage
	}
	if err := ac.sign(g.s, g.sigKey, g.gcBytes); err != nil {
		return nil, err
	}
	confirmed := g.s.confirmedTranscriptHash(g.interimTranscriptHash, ac)
	newGC := g.nextContext(a.extensions, confirmed)
	gcb := encode(&newGC)
	pskSecret := g.s.pskSecret(a.pskIDs, a.psks)
	joiner := g.s.joinerSecret(g.initSecret, pending.commitSecret, gcb)
	es := g.s.deriveEpochSecrets(joiner, pskSecret, gcb)
	ac.auth.confirmationTag = g.s.mac(es.confirmationKey, confirmed)

	res := &CommitResult{}
	if len(a.added) > 0 {
		gi := &groupInfo{groupContext: newGC, confirmationTag: ac.auth.confirmationTag, signer: g.self}
		if opts.RatchetTreeInWelcome {
			gi.extensions = []Extension{{Type: ExtensionRatchetTree, Data: encode(g.tree)}}
		}
		if gi.signature, err = g.s.signWithLabel(g.sigKey, "GroupInfoTBS", gi.tbs()); err != nil {
			return nil, err
		}
		w, err := g.s.sealWelcome(gi, joiner, es.welcomeSecret, a, g.self, pathSecrets)
		if err != nil {
			return nil, err
		}
		res.Welcome = encode(&mlsMessage{wireFormat: wireFormatWelcome, welcome: w})
	}

	m := &mlsMessage{wireFormat: ac.wireFormat}
	if opts.Private {
		padded := ac
		if m.private, err = g.protectPrivate(padded, 0, rnd); err != nil {
			return nil, err
		}
	} else {
		m.public = g.protectPublic(ac)
	}
	if res.Commit, err = encodeErr(m); err != nil {
		return nil, err
	}
	pending.message = res.Commit
	pending.ac = ac
	g.pending = pending
	return res, nil
}

// createPath refreshes this member's leaf and filtered direct path
// (Sections 7.4 and 7.5) in g.tree, encrypting the path secrets to the
// copath resolutions, and returns the UpdatePath, the path secret of each
// path node (for Welcome) and commit_secret.
func (g *Group) createPath(a *applied, keys map[nodeIndex]hpke.PrivateKey) (*updatePath, map[nodeIndex][]byte, []byte, error) {
	s := g.s
	rnd := g.cfg.rand()
	leafSecret, err := s.randomBytes(rnd, s.nh)
	if err != nil {
		return nil, nil, nil, err
	}
	leafPriv, err := s.deriveKeyPair(s.deriveSecret(leafSecret, "node"))
	if err != nil {
		return nil, nil, nil, err
	}
	old := g.tree.leaf(g.self)
	g.tree.blankPath(g.self)
	fdp, cp := g.tree.filteredDirectPath(g.self)
	privs, secrets, commitSecret, err := s.pathKeys(s.deriveSecret(leafSecret, "path"), len(fdp))
	if err != nil {
		return nil, nil, nil, err
	}
	pubs := make([][]byte, len(fdp))
	pathSecrets := map[nodeIndex][]byte{}
	for i, k := range privs {
		pubs[i] = k.PublicKey().Bytes()
		keys[fdp[i]] = k
		pathSecrets[fdp[i]] = secrets[i]
	}
	ph := g.setPathNodes(fdp, cp, pubs)
	ln := *old
	ln.encryptionKey = leafPriv.PublicKey().Bytes()
	ln.source = leafSourceCommit
	ln.parentHash = ph
	ln.notBefore, ln.notAfter = 0, 0
	if err := ln.sign(s, g.sigKey, g.gc.groupID, g.self); err != nil {
		return nil, nil, nil, err
	}
	g.tree.setNode(g.self.node(), node{leaf: &ln})
	keys[g.self.node()] = leafPriv

	provisional := g.nextContext(a.extensions, g.gc.confirmedTranscriptHash)
	pgc := encode(&provisional)
	excl := map[leafIndex]bool{}
	for _, l := range a.added {
		excl[l] = true
	}
	up := &updatePath{leafNode: ln, nodes: make([]updatePathNode, len(fdp))}
	for i := range fdp {
		up.nodes[i].encryptionKey = pubs[i]
		for _, r := range g.tree.appendResolution(nil, cp[i], excl) {
			ct, err := s.encryptWithLabel(g.tree.nodePublicKey(r), "UpdatePathNode", pgc, secrets[i])
			if err != nil {
				return nil, nil, nil, err
			}
			up.nodes[i].encryptedPathSecrets = append(up.nodes[i].encryptedPathSecrets, ct)
		}
	}
	return up, pathSecrets, commitSecret, nil
}

func (t *ratchetTree) nodePublicKey(x nodeIndex) []byte {
	n := &t.nodes[x]
	if n.leaf != nil {
		return n.leaf.encryptionKey
	}
	if n.parent != nil {
		return n.parent.encryptionKey
	}
	return nil
}

// sealWelcome encrypts the GroupInfo and the GroupSecrets of each added
// member (Section 12.4.3.1).
func (s *suite) sealWelcome(gi *groupInfo, joinerSecret, welcomeSecret []byte, a *applied, committer leafIndex, pathSecrets map[nodeIndex][]byte) (*welcome, error) {
	key, nonce := s.welcomeKeyNonce(welcomeSecret)
	aead, err := s.newAEAD(key)
	if err != nil {
		return nil, err
	}
	w := &welcome{cipherSuite: s.id, encryptedGroupInfo: aead.Seal(nil, nonce, encode(gi), nil)}
	for i, l := range a.added {
		gs := &groupSecrets{joinerSecret: joinerSecret, psks: a.pskIDs}
		if pathSecrets != nil {
			gs.pathSecret = pathSecrets[commonAncestor(l.node(), committer.node())]
		}
		kp := a.addedKPs[i]
		ct, err := s.encryptWithLabel(kp.initKey, "Welcome", w.encryptedGroupInfo, encode(gs))
		if err != nil {
			return nil, err
		}
		w.secrets = append(w.secrets, encryptedGroupSecrets{newMember: kp.ref(s), encryptedGroupSecrets: ct})
	}
	return w, nil
}

// MergePendingCommit applies the commit created by the last Commit call.
func (g *Group) MergePendingCommit() (*CommitEvent, error) {
	if g.pending == nil {
		return nil, errors.New("mls: no pending commit")
	}
	p := g.pending
	ev, err := g.processCommit(p.ac, p)
	if err != nil {
		return nil, fmt.Errorf("mls: merging own commit: %w", err)
	}
	return ev, nil
}

// ClearPendingCommit discards the commit created by the last Commit call
// (for example when the delivery service accepted another commit first).
func (g *Group) ClearPendingCommit() { g.pending = nil }

// HasPendingCommit reports whether a created commit awaits merging.
func (g *Group) HasPendingCommit() bool { return g.pending != nil }

// isPending reports whether msg is this member's pending commit.
func (g *Group) isPending(msg []byte) bool {
	return g.pending != nil && bytes.Equal(g.pending.message, msg)
}
