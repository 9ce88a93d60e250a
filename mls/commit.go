package mls

import (
	"bytes"
	"crypto/hmac"
	"crypto/hpke"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// pathRequired lists the proposal types whose presence requires an
// UpdatePath (RFC 9420, Section 17.4, "Path Required" column).
func pathRequired(t uint16) bool {
	switch t {
	case proposalUpdate, proposalRemove, proposalExternalInit, proposalGroupContextExtensions:
		return true
	}
	return false
}

type resolvedProposal struct {
	p      *proposal
	sender sender
	ref    []byte // nil when sent by value
}

// applied is the outcome of applying a proposal list (Section 12.3).
type applied struct {
	extensions   []Extension
	added        []leafIndex
	addedKPs     []*keyPackage
	removed      []Member
	updated      []leafIndex
	pskIDs       []preSharedKeyID
	psks         [][]byte
	externalInit []byte
	reinit       *reInit
	needPath     bool
}

// proposalRef is RefHash("MLS 1.0 Proposal Reference", AuthenticatedContent).
func (s *suite) proposalRef(ac *authenticatedContent) []byte {
	return s.refHash("MLS 1.0 Proposal Reference", encode(ac))
}

// resolvePSK returns the value of a PSK (Section 8.4).
func (g *Group) resolvePSK(id *preSharedKeyID) ([]byte, error) {
	if len(id.PSKNonce) != g.s.nh {
		return nil, errors.New("mls: PSK nonce has the wrong length")
	}
	switch id.PSKType {
	case pskTypeExternal:
		if g.cfg.ExternalPSK != nil {
			if v, ok := g.cfg.ExternalPSK(id.PSKID); ok {
				return v, nil
			}
		}
		return nil, fmt.Errorf("mls: unknown external PSK %x", id.PSKID)
	case pskTypeResumption:
		if id.Usage < resumptionApplication || id.Usage > resumptionBranch {
			return nil, errors.New("mls: invalid resumption PSK usage")
		}
		if bytes.Equal(id.PSKGroupID, g.gc.groupID) {
			if v, ok := g.resumptionPSKs[id.PSKEpoch]; ok {
				return v, nil
			}
		}
		if g.cfg.ResumptionPSK != nil {
			if v, ok := g.cfg.ResumptionPSK(id.PSKGroupID, id.PSKEpoch); ok {
				return v, nil
			}
		}
		return nil, fmt.Errorf("mls: resumption PSK of epoch %d unavailable", id.PSKEpoch)
	}
	return nil, errors.New("mls: invalid PSK type")
}

// validateLeaf runs the LeafNode checks of Section 7.3 that depend on the
// group: signature, credential, capabilities and required_capabilities.
func (g *Group) validateLeaf(ln *leafNode, exts []Extension, groupID []byte, l leafIndex) error {
	if !ln.verify(g.s, groupID, l) {
		return errors.New("mls: invalid leaf node signature")
	}
	if err := validateCredential(g.cfg.ValidateCredential, g.s.id, ln); err != nil {
		return err
	}
	return leafSupports(ln, exts)
}

// leafSupports checks required_capabilities and that the leaf lists its own
// non-default extensions and credential type (Section 7.3).
func leafSupports(ln *leafNode, exts []Extension) error {
	has := func(list []uint16, v uint16) bool {
		for _, x := range list {
			if x == v {
				return true
			}
		}
		return false
	}
	for _, e := range ln.extensions {
		if e.Type > ExtensionExternalSenders && !has(ln.capabilities.Extensions, e.Type) {
			return fmt.Errorf("mls: leaf uses extension %d it does not list", e.Type)
		}
	}
	if !has(ln.capabilities.Credentials, ln.credential.Type) {
		return errors.New("mls: leaf does not list its own credential type")
	}
	if data, ok := findExtension(exts, ExtensionRequiredCapabilities); ok {
		var rc struct{ exts, props, creds []uint16 }
		err := decodeAll(data, "required_capabilities", func(s *cryptobyte.String) bool {
			return readUint16s(s, &rc.exts) && readUint16s(s, &rc.props) && readUint16s(s, &rc.creds)
		})
		if err != nil {
			return err
		}
		for _, e := range rc.exts {
			if e > ExtensionExternalSenders && !has(ln.capabilities.Extensions, e) {
				return fmt.Errorf("mls: leaf lacks required extension %d", e)
			}
		}
		for _, p := range rc.props {
			if p > proposalGroupContextExtensions && !has(ln.capabilities.Proposals, p) {
				return fmt.Errorf("mls: leaf lacks required proposal %d", p)
			}
		}
		for _, c := range rc.creds {
			if !has(ln.capabilities.Credentials, c) {
				return fmt.Errorf("mls: leaf lacks required credential %d", c)
			}
		}
	}
	return nil
}

// applyProposals validates a proposal list (Section 12.2) and applies it to
// g.tree (Section 12.3). The tree journal must be active.
func (g *Group) applyProposals(props []resolvedProposal, committer sender) (*applied, error) {
	external := committer.typ == senderNewMemberCommit
	a := &applied{extensions: g.gc.extensions}
	var gce, reinits, externalInits int
	var updates, removes, adds, psks []resolvedProposal
	touched := map[leafIndex]bool{}
	for _, rp := range props {
		p := rp.p
		if pathRequired(p.typ) {
			a.needPath = true
		}
		if external {
			switch p.typ {
			case proposalExternalInit, proposalRemove, proposalPSK:
			default:
				return nil, fmt.Errorf("mls: proposal type %d not allowed in an external commit", p.typ)
			}
		}
		switch p.typ {
		case proposalAdd:
			adds = append(adds, rp)
		case proposalUpdate:
			if rp.sender.typ != senderMember {
				return nil, errors.New("mls: update proposal from a non-member")
			}
			if committer.typ == senderMember && rp.sender.index == committer.index {
				return nil, errors.New("mls: commit contains the committer's own update")
			}
			l := leafIndex(rp.sender.index)
			if touched[l] {
				return nil, errors.New("mls: several updates or removes for one leaf")
			}
			touched[l] = true
			updates = append(updates, rp)
		case proposalRemove:
			if committer.typ == senderMember && uint32(p.remove) == committer.index {
				return nil, errors.New("mls: commit removes the committer")
			}
			if touched[p.remove] {
				return nil, errors.New("mls: several updates or removes for one leaf")
			}
			touched[p.remove] = true
			if g.tree.leaf(p.remove) == nil {
				return nil, fmt.Errorf("mls: remove of blank leaf %d", p.remove)
			}
			removes = append(removes, rp)
		case proposalPSK:
			for _, q := range psks {
				if bytes.Equal(encode(q.p.psk), encode(p.psk)) {
					return nil, errors.New("mls: duplicate PSK proposal")
				}
			}
			psks = append(psks, rp)
		case proposalReInit:
			reinits++
			a.reinit = p.reinit
		case proposalExternalInit:
			if !external {
				return nil, errors.New("mls: external init in a member commit")
			}
			externalInits++
			a.externalInit = p.kemOutput
		case proposalGroupContextExtensions:
			gce++
			a.extensions = p.gcExtensions
		default:
			return nil, fmt.Errorf("mls: unsupported proposal type %d", p.typ)
		}
	}
	if gce > 1 {
		return nil, errors.New("mls: several group context extensions proposals")
	}
	if reinits > 0 && len(props) != 1 {
		return nil, errors.New("mls: reinit must be the only proposal")
	}
	if external && (externalInits != 1 || len(removes) > 1) {
		return nil, errors.New("mls: invalid external commit proposal list")
	}
	if gce == 1 {
		for i := uint32(0); i < g.tree.nLeaves(); i++ {
			if ln := g.tree.leaf(leafIndex(i)); ln != nil && !touched[leafIndex(i)] {
				if err := leafSupports(ln, a.extensions); err != nil {
					return nil, err
				}
			}
		}
		if data, ok := findExtension(a.extensions, ExtensionExternalSenders); ok {
			if _, err := parseExternalSenders(data); err != nil {
				return nil, err
			}
		}
	}
	// Updates (Section 12.1.2).
	for _, rp := range updates {
		l := leafIndex(rp.sender.index)
		old := g.tree.leaf(l)
		ln := rp.p.update
		if old == nil {
			return nil, errors.New("mls: update for a blank leaf")
		}
		if ln.source != leafSourceUpdate {
			return nil, errors.New("mls: update leaf node source is not update")
		}
		if bytes.Equal(ln.encryptionKey, old.encryptionKey) {
			return nil, errors.New("mls: update does not change the encryption key")
		}
		// Proposals by reference were fully validated when received
		// (storeProposal); only checks that depend on this commit remain.
		if rp.ref == nil {
			if err := g.validateLeaf(ln, a.extensions, g.gc.groupID, l); err != nil {
				return nil, err
			}
		} else if err := leafSupports(ln, a.extensions); err != nil {
			return nil, err
		}
		g.tree.blankPath(l)
		if g.tree.hasEncryptionKey(ln.encryptionKey) {
			return nil, errors.New("mls: update reuses an encryption key of the tree")
		}
		if err := g.tree.credentialCompatible(ln); err != nil {
			return nil, err
		}
		g.tree.setNode(l.node(), node{leaf: ln})
		a.updated = append(a.updated, l)
	}
	// Removes (Section 12.1.3).
	for _, rp := range removes {
		l := rp.p.remove
		a.removed = append(a.removed, memberOf(l, g.tree.leaf(l)))
		g.tree.blankPath(l)
	}
	if len(removes) > 0 {
		g.tree.truncate()
	}
	// Adds (Section 12.1.1), in order.
	now := g.cfg.now()
	for _, rp := range adds {
		kp := rp.p.add
		if rp.ref == nil {
			if err := validateKeyPackage(g.s, kp, now, g.cfg.ValidateCredential); err != nil {
				return nil, err
			}
		}
		if err := leafSupports(&kp.leafNode, a.extensions); err != nil {
			return nil, err
		}
		if _, dup := g.tree.findLeafBySignatureKey(kp.leafNode.signatureKey); dup {
			return nil, errors.New("mls: added member is already in the group")
		}
		// "Verify that the following fields are unique among the members
		// of the group: signature_key, encryption_key" (Section 7.3).
		if g.tree.hasEncryptionKey(kp.leafNode.encryptionKey) {
			return nil, errors.New("mls: added leaf reuses an encryption key of the tree")
		}
		if err := g.tree.credentialCompatible(&kp.leafNode); err != nil {
			return nil, err
		}
		a.added = append(a.added, g.tree.addLeaf(&kp.leafNode))
		a.addedKPs = append(a.addedKPs, kp)
	}
	// PSKs (Section 12.1.4), in order.
	specialPSKs := 0
	for _, rp := range psks {
		// Reinit and branch PSKs belong only in the first commit of the new
		// group (Section 11.2 and 11.3), alone of their kind.
		if rp.p.psk.PSKType == pskTypeResumption && rp.p.psk.Usage != resumptionApplication {
			if g.gc.epoch != 0 || specialPSKs > 0 {
				return nil, errors.New("mls: reinit or branch PSK outside a new group's first commit")
			}
			specialPSKs++
		}
		v, err := g.resolvePSK(rp.p.psk)
		if err != nil {
			return nil, err
		}
		a.pskIDs = append(a.pskIDs, *rp.p.psk)
		a.psks = append(a.psks, v)
	}
	return a, nil
}

// setPathNodes writes the parent nodes of an UpdatePath along the filtered
// direct path fdp (with copath children cp) and returns the parent hash the
// committer's leaf must carry (Section 7.9).
func (g *Group) setPathNodes(fdp, cp []nodeIndex, pubs [][]byte) []byte {
	ph := []byte{}
	for i := len(fdp) - 1; i >= 0; i-- {
		pn := &parentNode{encryptionKey: pubs[i], parentHash: ph}
		g.tree.setNode(fdp[i], node{parent: pn})
		ph = g.tree.parentHash(pn, g.tree.treeHash(cp[i]))
	}
	return ph
}

// pathKeys derives the key pairs of fdp from the first path secret and
// returns them with commit_secret (Section 7.4).
func (s *suite) pathKeys(pathSecret []byte, n int) (privs []hpke.PrivateKey, secrets [][]byte, commitSecret []byte, err error) {
	ps := pathSecret
	for i := 0; i < n; i++ {
		k, err := s.deriveKeyPair(s.deriveSecret(ps, "node"))
		if err != nil {
			return nil, nil, nil, err
		}
		privs = append(privs, k)
		secrets = append(secrets, ps)
		ps = s.deriveSecret(ps, "path")
	}
	return privs, secrets, ps, nil
}

// newEpochContext returns the GroupContext of the new epoch.
func (g *Group) nextContext(exts []Extension, confirmed []byte) groupContext {
	return groupContext{cipherSuite: g.s.id, groupID: g.gc.groupID, epoch: g.gc.epoch + 1,
		treeHash: g.tree.rootHash(), confirmedTranscriptHash: confirmed, extensions: exts}
}

// externalInitSecret derives init_secret from an ExternalInit kem_output
// (Section 8.3) with the group's external key.
func (g *Group) externalInitSecret(kemOutput []byte) ([]byte, error) {
	priv, err := g.s.externalKey(g.externalSecret)
	if err != nil {
		return nil, err
	}
	r, err := hpke.NewRecipient(kemOutput, priv, g.s.kdf, g.s.aead, nil)
	if err != nil {
		return nil, errors.New("mls: invalid external init")
	}
	return r.Export("MLS 1.0 external init secret", g.s.nh)
}

// CommitEvent describes an applied commit.
type CommitEvent struct {
	Epoch     uint64 // the new epoch
	Committer Sender
	Added     []Member
	Removed   []Member
	Updated   []uint32
	// SelfRemoved is set when this member was removed; the group is then
	// inactive.
	SelfRemoved bool
	// ReInit is set when the commit reinitialized the group; the group is
	// then inactive and members wait for a Welcome to the new group.
	ReInit *ReInitInfo
}

// ReInitInfo holds the parameters of a committed ReInit proposal.
type ReInitInfo struct {
	GroupID     []byte
	CipherSuite CipherSuite
	Extensions  []Extension
}

// Sender identifies the sender of a message.
type Sender struct {
	// Type is 1 member, 2 external sender, 3 new member (proposal),
	// 4 new member (commit), as in RFC 9420.
	Type uint8
	// Index is the leaf index (members) or the external_senders index.
	Index uint32
}

// processCommit applies a verified commit (Section 12.4.2). own is set
// when merging this member's own pending commit.
func (g *Group) processCommit(ac *authenticatedContent, own *pendingCommit) (ev *CommitEvent, err error) {
	c := ac.content.commit
	committer := ac.content.sender
	external := committer.typ == senderNewMemberCommit
	if committer.typ != senderMember && !external {
		return nil, errors.New("mls: invalid commit sender")
	}
	var props []resolvedProposal
	for _, por := range c.proposals {
		if por.proposal != nil {
			props = append(props, resolvedProposal{p: por.proposal, sender: committer})
			continue
		}
		if external {
			return nil, errors.New("mls: external commit references proposals")
		}
		found := false
		for _, cp := range g.proposals {
			if bytes.Equal(cp.ref, por.reference) {
				props = append(props, resolvedProposal{p: cp.p, sender: cp.sender, ref: cp.ref})
				found = true
				break
			}
		}
		if !found {
			return nil, errors.New("mls: commit references an unknown proposal")
		}
	}
	g.tree.begin()
	defer func() {
		if err != nil {
			g.tree.rollback()
		}
	}()
	a, err := g.applyProposals(props, committer)
	if err != nil {
		return nil, err
	}
	if (a.needPath || len(props) == 0 || external) && c.path == nil {
		return nil, errors.New("mls: commit lacks a required path")
	}
	ev = &CommitEvent{Epoch: g.gc.epoch + 1, Committer: Sender{committer.typ, committer.index}, Removed: a.removed}
	for i, l := range a.added {
		ev.Added = append(ev.Added, memberOf(l, &a.addedKPs[i].leafNode))
	}
	for _, l := range a.updated {
		ev.Updated = append(ev.Updated, uint32(l))
	}
	selfRemoved := false
	for _, m := range a.removed {
		if m.Index == uint32(g.self) {
			selfRemoved = true
		}
	}
	var commitLeaf leafIndex
	if external {
		if err := g.tree.credentialCompatible(&c.path.leafNode); err != nil {
			return nil, err
		}
		commitLeaf = g.tree.addLeaf(&c.path.leafNode)
		ev.Committer.Index = uint32(commitLeaf)
		ev.Added = append(ev.Added, memberOf(commitLeaf, &c.path.leafNode))
	} else {
		commitLeaf = leafIndex(committer.index)
	}
	var commitSecret []byte
	newKeys := map[nodeIndex]hpke.PrivateKey{}
	if c.path != nil {
		ln := &c.path.leafNode
		if ln.source != leafSourceCommit {
			return nil, errors.New("mls: path leaf node source is not commit")
		}
		if !external {
			if old := g.tree.leaf(commitLeaf); old != nil && bytes.Equal(old.encryptionKey, ln.encryptionKey) {
				return nil, errors.New("mls: path does not change the committer's encryption key")
			}
		}
		if err := g.validateLeaf(ln, a.extensions, g.gc.groupID, commitLeaf); err != nil {
			return nil, err
		}
		g.tree.blankPath(commitLeaf)
		if err := g.tree.credentialCompatible(ln); err != nil {
			return nil, err
		}
		fdp, cp := g.tree.filteredDirectPath(commitLeaf)
		if len(fdp) != len(c.path.nodes) {
			return nil, errors.New("mls: update path has the wrong length")
		}
		// "Verify that none of the public keys in the UpdatePath appear in
		// any node of the new ratchet tree" (Section 12.4.2).
		seen := map[string]bool{string(ln.encryptionKey): true}
		if g.tree.hasEncryptionKey(ln.encryptionKey) {
			return nil, errors.New("mls: update path reuses an encryption key of the tree")
		}
		for i := range c.path.nodes {
			k := c.path.nodes[i].encryptionKey
			if g.tree.hasEncryptionKey(k) || seen[string(k)] {
				return nil, errors.New("mls: update path reuses an encryption key of the tree")
			}
			seen[string(k)] = true
		}
		pubs := make([][]byte, len(fdp))
		for i := range fdp {
			pubs[i] = c.path.nodes[i].encryptionKey
		}
		ph := g.setPathNodes(fdp, cp, pubs)
		if !bytes.Equal(ph, ln.parentHash) {
			return nil, errors.New("mls: invalid parent hash in commit path")
		}
		g.tree.setNode(commitLeaf.node(), node{leaf: ln})
		switch {
		case own != nil:
			commitSecret = own.commitSecret
			for x, k := range own.privKeys {
				newKeys[x] = k
			}
		case selfRemoved:
			// Removed members cannot decrypt; nothing more to derive.
		default:
			provisional := g.nextContext(a.extensions, g.gc.confirmedTranscriptHash)
			commitSecret, err = g.decryptPath(c.path, fdp, cp, commitLeaf, a.added, encode(&provisional), newKeys)
			if err != nil {
				return nil, err
			}
		}
	}
	if selfRemoved {
		// The group is over for this member; keep the last tree it was in
		// (with its own leaf) so the state stays well-formed.
		g.tree.rollback()
		g.removed = true
		g.privKeys = map[nodeIndex]hpke.PrivateKey{}
		g.proposals, g.pending = nil, nil
		ev.SelfRemoved = true
		return ev, nil
	}
	confirmed := g.s.confirmedTranscriptHash(g.interimTranscriptHash, ac)
	newGC := g.nextContext(a.extensions, confirmed)
	initSecret := g.initSecret
	if external {
		if initSecret, err = g.externalInitSecret(a.externalInit); err != nil {
			return nil, err
		}
	}
	gcb := encode(&newGC)
	es := g.s.deriveEpochSecrets(g.s.joinerSecret(initSecret, commitSecret, gcb), g.s.pskSecret(a.pskIDs, a.psks), gcb)
	tag := g.s.mac(es.confirmationKey, confirmed)
	if !hmac.Equal(tag, ac.auth.confirmationTag) {
		return nil, errors.New("mls: invalid confirmation tag")
	}
	// All checks passed: install the new epoch.
	g.retireEpoch()
	g.tree.commitJournal()
	g.gc = newGC
	g.installEpoch(es, gcb)
	g.confirmationTag = tag
	g.interimTranscriptHash = g.s.interimTranscriptHash(confirmed, tag)
	for _, l := range a.updated {
		if l == g.self {
			if k, ok := g.pendingUpdates[string(g.tree.leaf(l).encryptionKey)]; ok {
				newKeys[l.node()] = k
			}
		}
	}
	for x, k := range newKeys {
		g.privKeys[x] = k
	}
	g.purgeKeys()
	g.proposals = nil
	g.pendingUpdates = map[string]hpke.PrivateKey{}
	g.pending = nil
	if a.reinit != nil {
		g.reinit = a.reinit
		ev.ReInit = &ReInitInfo{GroupID: a.reinit.groupID, CipherSuite: a.reinit.cipherSuite, Extensions: a.reinit.extensions}
	}
	return ev, nil
}

// decryptPath finds this member's ciphertext in an UpdatePath, decrypts the
// path secret and derives the keys above it (Section 7.5), returning
// commit_secret.
func (g *Group) decryptPath(path *updatePath, fdp, cp []nodeIndex, committer leafIndex, added []leafIndex, provisionalGC []byte, out map[nodeIndex]hpke.PrivateKey) ([]byte, error) {
	excl := map[leafIndex]bool{}
	for _, l := range added {
		excl[l] = true
	}
	self := g.self.node()
	for i := range fdp {
		res := g.tree.appendResolution(nil, cp[i], excl)
		if len(res) != len(path.nodes[i].encryptedPathSecrets) {
			return nil, errors.New("mls: update path has the wrong number of ciphertexts")
		}
		if !isAncestor(cp[i], self) {
			continue
		}
		for j, r := range res {
			priv, ok := g.keyFor(r)
			if !ok {
				continue
			}
			pathSecret, err := g.s.decryptWithLabel(priv, "UpdatePathNode", provisionalGC, path.nodes[i].encryptedPathSecrets[j])
			if err != nil {
				return nil, err
			}
			privs, _, commitSecret, err := g.s.pathKeys(pathSecret, len(fdp)-i)
			if err != nil {
				return nil, err
			}
			for k, p := range privs {
				if !bytes.Equal(p.PublicKey().Bytes(), path.nodes[i+k].encryptionKey) {
					return nil, errors.New("mls: path secret does not match the path's public key")
				}
				out[fdp[i+k]] = p
			}
			return commitSecret, nil
		}
		return nil, errors.New("mls: no key to decrypt the update path")
	}
	return nil, errors.New("mls: this member is not below the committer's path")
}

// keyFor returns the private key of node x if this member holds the key
// matching the node's current public key (including a key of its own
// pending Update proposal).
func (g *Group) keyFor(x nodeIndex) (hpke.PrivateKey, bool) {
	pub := g.tree.nodePublicKey(x)
	if pub == nil {
		return nil, false
	}
	if k, ok := g.privKeys[x]; ok && bytes.Equal(k.PublicKey().Bytes(), pub) {
		return k, true
	}
	if x == g.self.node() {
		if k, ok := g.pendingUpdates[string(pub)]; ok {
			return k, true
		}
	}
	return nil, false
}
