package mls

import (
	"bytes"
	"crypto/hmac"
	"crypto/hpke"
	"errors"
	"fmt"
	"golang.org/x/crypto/cryptobyte"
)

// JoinGroup joins a group from a Welcome MLSMessage (RFC 9420, Section
// 12.4.3.1) using the KeyPackage it was built for. ratchetTree is the tree
// when the Welcome does not carry it (nil otherwise).
func JoinGroup(welcomeMsg []byte, kp *KeyPackageBundle, ratchetTree []byte, cfg Config) (*Group, error) {
	m, err := decodeMLSMessage(welcomeMsg)
	if err != nil {
		return nil, err
	}
	if m.welcome == nil {
		return nil, errors.New("mls: message is not a Welcome")
	}
	w := m.welcome
	s, err := getSuite(w.cipherSuite)
	if err != nil {
		return nil, err
	}
	if kp.kp.cipherSuite != w.cipherSuite {
		return nil, errors.New("mls: Welcome cipher suite does not match the KeyPackage")
	}
	ref := kp.kp.ref(s)
	var egs *encryptedGroupSecrets
	for i := range w.secrets {
		if bytes.Equal(w.secrets[i].newMember, ref) {
			egs = &w.secrets[i]
			break
		}
	}
	if egs == nil {
		return nil, errors.New("mls: Welcome is not for this KeyPackage")
	}
	gsb, err := s.decryptWithLabel(kp.initPriv, "Welcome", w.encryptedGroupInfo, egs.encryptedGroupSecrets)
	if err != nil {
		return nil, err
	}
	gs := new(groupSecrets)
	if err := decodeAll(gsb, "GroupSecrets", gs.unmarshal); err != nil {
		return nil, err
	}
	g := &Group{cfg: cfg, s: s, sigKey: kp.sigKey, privKeys: map[nodeIndex]hpke.PrivateKey{},
		resumptionPSKs: map[uint64][]byte{}, pendingUpdates: map[string]hpke.PrivateKey{}}
	var psks [][]byte
	specialPSKs := 0
	for i := range gs.psks {
		id := &gs.psks[i]
		if id.PSKType == pskTypeResumption && id.Usage != resumptionApplication {
			specialPSKs++
		}
		v, err := g.resolvePSK(id)
		if err != nil {
			return nil, err
		}
		psks = append(psks, v)
	}
	// "if a preSharedKeyID has type resumption with usage reinit or
	// branch, verify that it is the only such PSK."
	if specialPSKs > 1 {
		return nil, errors.New("mls: several reinit or branch PSKs in a Welcome")
	}
	pskSecret := s.pskSecret(gs.psks, psks)
	key, nonce := s.welcomeKeyNonce(s.welcomeSecretFromJoiner(gs.joinerSecret, pskSecret))
	aead, err := s.newAEAD(key)
	if err != nil {
		return nil, err
	}
	gib, err := aead.Open(nil, nonce, w.encryptedGroupInfo, nil)
	if err != nil {
		return nil, errDecrypt
	}
	gi := new(groupInfo)
	if err := decodeAll(gib, "GroupInfo", gi.unmarshal); err != nil {
		return nil, err
	}
	if gi.groupContext.cipherSuite != s.id {
		return nil, errors.New("mls: GroupInfo cipher suite does not match")
	}
	tree, err := treeForGroupInfo(s, gi, ratchetTree)
	if err != nil {
		return nil, err
	}
	g.tree = tree
	g.gc = gi.groupContext
	if specialPSKs > 0 && g.gc.epoch != 1 {
		return nil, errors.New("mls: reinit or branch Welcome not at epoch 1")
	}
	if err := g.verifyGroupInfo(gi); err != nil {
		return nil, err
	}
	if err := g.verifyTree(); err != nil {
		return nil, err
	}
	// "Identify a leaf whose LeafNode is identical to the one in the
	// KeyPackage."
	self, found := tree.findLeafBySignatureKey(kp.kp.leafNode.signatureKey)
	if !found || !bytes.Equal(encode(tree.leaf(self)), encode(&kp.kp.leafNode)) {
		return nil, errors.New("mls: own leaf not found in the tree")
	}
	g.self = self
	g.privKeys[g.self.node()] = kp.encPriv
	if gs.pathSecret != nil {
		if gi.signer == g.self {
			return nil, errors.New("mls: GroupInfo signed by the joiner")
		}
		// Derive keys from the common ancestor with the signer up to the
		// root, over the non-blank nodes (the committer's filtered path).
		lca := commonAncestor(g.self.node(), gi.signer.node())
		ps := gs.pathSecret
		n := tree.nLeaves()
		for x := lca; ; x = parent(x, n) {
			if !tree.nodes[x].blank() {
				k, err := s.deriveKeyPair(s.deriveSecret(ps, "node"))
				if err != nil {
					return nil, err
				}
				if !bytes.Equal(k.PublicKey().Bytes(), tree.nodePublicKey(x)) {
					return nil, errors.New("mls: path secret does not match the tree")
				}
				g.privKeys[x] = k
				ps = s.deriveSecret(ps, "path")
			}
			if x == root(n) {
				break
			}
		}
	}
	es := s.deriveEpochSecrets(gs.joinerSecret, pskSecret, encode(&g.gc))
	g.installEpoch(es, encode(&g.gc))
	tag := s.mac(es.confirmationKey, g.gc.confirmedTranscriptHash)
	if !hmac.Equal(tag, gi.confirmationTag) {
		return nil, errors.New("mls: invalid GroupInfo confirmation tag")
	}
	g.confirmationTag = tag
	g.interimTranscriptHash = s.interimTranscriptHash(g.gc.confirmedTranscriptHash, tag)
	return g, nil
}

// treeForGroupInfo returns the tree from the GroupInfo's ratchet_tree
// extension or from the out-of-band encoding.
func treeForGroupInfo(s *suite, gi *groupInfo, outOfBand []byte) (*ratchetTree, error) {
	data, ok := findExtension(gi.extensions, ExtensionRatchetTree)
	if !ok {
		if outOfBand == nil {
			return nil, errors.New("mls: no ratchet tree in the GroupInfo and none given")
		}
		data = outOfBand
	}
	return decodeRatchetTree(s, data)
}

// verifyGroupInfo checks the GroupInfo signature with the signer's leaf.
func (g *Group) verifyGroupInfo(gi *groupInfo) error {
	ln := g.tree.leaf(gi.signer)
	if ln == nil {
		return errors.New("mls: GroupInfo signer is not a member")
	}
	if !g.s.verifyWithLabel(ln.signatureKey, "GroupInfoTBS", gi.tbs(), gi.signature) {
		return errors.New("mls: invalid GroupInfo signature")
	}
	return nil
}

// verifyTree runs the joiner's tree checks (Section 12.4.3.1).
func (g *Group) verifyTree() error {
	if !bytes.Equal(g.tree.rootHash(), g.gc.treeHash) {
		return errors.New("mls: ratchet tree does not match the tree hash")
	}
	if err := g.tree.verifyStructure(g.gc.groupID); err != nil {
		return err
	}
	for i := uint32(0); i < g.tree.nLeaves(); i++ {
		if ln := g.tree.leaf(leafIndex(i)); ln != nil {
			if err := validateCredential(g.cfg.ValidateCredential, g.s.id, ln); err != nil {
				return err
			}
			if err := leafSupports(ln, g.gc.extensions); err != nil {
				return fmt.Errorf("mls: leaf %d: %w", i, err)
			}
			// Every member supports every credential type in use.
			if g.tree.credSupported[ln.credential.Type] != g.tree.members {
				return fmt.Errorf("mls: credential type of leaf %d is not supported by every member", i)
			}
		}
	}
	return nil
}

// GroupInfo returns a signed GroupInfo MLSMessage for the current epoch
// with the external_pub extension, so that others can join by external
// commit (Section 12.4.3.2). withTree adds the ratchet_tree extension.
func (g *Group) GroupInfo(withTree bool) ([]byte, error) {
	ext, err := g.s.externalKey(g.externalSecret)
	if err != nil {
		return nil, err
	}
	gi := &groupInfo{groupContext: g.gc, confirmationTag: g.confirmationTag, signer: g.self}
	// ExternalPub { HPKEPublicKey external_pub; }
	var pub cryptobyte.Builder
	addVarBytes(&pub, ext.PublicKey().Bytes())
	gi.extensions = []Extension{{Type: ExtensionExternalPub, Data: pub.BytesOrPanic()}}
	if withTree {
		gi.extensions = append(gi.extensions, Extension{Type: ExtensionRatchetTree, Data: encode(g.tree)})
	}
	if gi.signature, err = g.s.signWithLabel(g.sigKey, "GroupInfoTBS", gi.tbs()); err != nil {
		return nil, err
	}
	return encodeErr(&mlsMessage{wireFormat: wireFormatGroupInfo, groupInfo: gi})
}

// ExternalJoinOptions tunes JoinExternal.
type ExternalJoinOptions struct {
	// RemoveOld, if set, removes this leaf (an old appearance of the same
	// client, a "resync" commit, Section 12.4.3.2).
	RemoveOld *uint32
	// ExternalPSKs holds ids of external PSKs to inject.
	ExternalPSKs [][]byte
	// AuthenticatedData is carried in the clear in the commit.
	AuthenticatedData []byte
}

// JoinExternal joins a group by external commit (RFC 9420, Section
// 12.4.3.2) from a GroupInfo MLSMessage carrying external_pub. ratchetTree
// is needed when the GroupInfo has no ratchet_tree extension. It returns the
// joined group, already in the new epoch, and the commit to send.
func JoinExternal(groupInfoMsg, ratchetTree []byte, sig *SignaturePrivateKey, cred Credential, opts ExternalJoinOptions, cfg Config) (*Group, []byte, error) {
	m, err := decodeMLSMessage(groupInfoMsg)
	if err != nil {
		return nil, nil, err
	}
	if m.groupInfo == nil {
		return nil, nil, errors.New("mls: message is not a GroupInfo")
	}
	gi := m.groupInfo
	s, err := getSuite(gi.groupContext.cipherSuite)
	if err != nil {
		return nil, nil, err
	}
	if sig.suite != s.id {
		return nil, nil, errors.New("mls: signature key is for another cipher suite")
	}
	tree, err := treeForGroupInfo(s, gi, ratchetTree)
	if err != nil {
		return nil, nil, err
	}
	g := &Group{cfg: cfg, s: s, sigKey: sig, tree: tree, privKeys: map[nodeIndex]hpke.PrivateKey{},
		resumptionPSKs: map[uint64][]byte{}, pendingUpdates: map[string]hpke.PrivateKey{}}
	g.gc = gi.groupContext
	g.gcBytes = encode(&g.gc)
	if err := g.verifyGroupInfo(gi); err != nil {
		return nil, nil, err
	}
	if err := g.verifyTree(); err != nil {
		return nil, nil, err
	}
	extData, ok := findExtension(gi.extensions, ExtensionExternalPub)
	if !ok {
		return nil, nil, errors.New("mls: GroupInfo has no external_pub")
	}
	var extPubBytes []byte
	if err := decodeAll(extData, "external_pub", func(s *cryptobyte.String) bool { return readVarBytes(s, &extPubBytes) }); err != nil {
		return nil, nil, err
	}
	extPub, err := s.kem.NewPublicKey(extPubBytes)
	if err != nil {
		return nil, nil, errors.New("mls: invalid external_pub")
	}
	// kem_output, context = SetupBaseS(external_pub, ""); init_secret =
	// context.export("MLS 1.0 external init secret", KDF.Nh) (Section 8.3).
	kemOutput, hs, err := hpke.NewSender(extPub, s.kdf, s.aead, nil)
	if err != nil {
		return nil, nil, err
	}
	initSecret, err := hs.Export("MLS 1.0 external init secret", s.nh)
	if err != nil {
		return nil, nil, err
	}
	g.interimTranscriptHash = s.interimTranscriptHash(g.gc.confirmedTranscriptHash, gi.confirmationTag)

	committer := sender{typ: senderNewMemberCommit}
	props := []resolvedProposal{{p: &proposal{typ: proposalExternalInit, kemOutput: kemOutput}, sender: committer}}
	if opts.RemoveOld != nil {
		props = append(props, resolvedProposal{p: &proposal{typ: proposalRemove, remove: leafIndex(*opts.RemoveOld)}, sender: committer})
	}
	for _, id := range opts.ExternalPSKs {
		nonce, err := s.randomBytes(cfg.rand(), s.nh)
		if err != nil {
			return nil, nil, err
		}
		props = append(props, resolvedProposal{p: &proposal{typ: proposalPSK, psk: &preSharedKeyID{PSKType: pskTypeExternal, PSKID: id, PSKNonce: nonce}}, sender: committer})
	}
	g.tree.begin()
	a, err := g.applyProposals(props, committer)
	if err != nil {
		g.tree.rollback()
		return nil, nil, err
	}
	template := &leafNode{signatureKey: sig.PublicKey(), credential: cred, capabilities: defaultCapabilities(s.id), source: leafSourceCommit}
	if err := validateCredential(cfg.ValidateCredential, s.id, template); err != nil {
		g.tree.rollback()
		return nil, nil, err
	}
	g.self = g.tree.addLeaf(template)
	keys := map[nodeIndex]hpke.PrivateKey{}
	path, _, commitSecret, err := g.createPath(a, keys)
	if err != nil {
		g.tree.rollback()
		return nil, nil, err
	}
	g.tree.commitJournal()
	c := &commit{path: path}
	for _, rp := range props {
		c.proposals = append(c.proposals, proposalOrRef{proposal: rp.p})
	}
	ac := &authenticatedContent{wireFormat: wireFormatPublicMessage, content: framedContent{
		groupID: g.gc.groupID, epoch: g.gc.epoch, sender: committer, authenticatedData: opts.AuthenticatedData,
		contentType: contentCommit, commit: c}}
	if err := ac.sign(s, sig, g.gcBytes); err != nil {
		return nil, nil, err
	}
	confirmed := s.confirmedTranscriptHash(g.interimTranscriptHash, ac)
	newGC := g.nextContext(a.extensions, confirmed)
	gcb := encode(&newGC)
	es := s.deriveEpochSecrets(s.joinerSecret(initSecret, commitSecret, gcb), s.pskSecret(a.pskIDs, a.psks), gcb)
	ac.auth.confirmationTag = s.mac(es.confirmationKey, confirmed)
	msg, err := encodeErr(&mlsMessage{wireFormat: wireFormatPublicMessage, public: &publicMessage{content: ac.content, auth: ac.auth}})
	if err != nil {
		return nil, nil, err
	}
	g.gc = newGC
	g.installEpoch(es, gcb)
	g.confirmationTag = ac.auth.confirmationTag
	g.interimTranscriptHash = s.interimTranscriptHash(confirmed, ac.auth.confirmationTag)
	g.privKeys = keys
	return g, msg, nil
}
