package mls

import (
	"bytes"
	"crypto/hpke"
	"fmt"
	"sort"

	"golang.org/x/crypto/cryptobyte"
)

// Serialized state. Every top-level encoding starts with a format version;
// lists are sorted and decoders reject any non-canonical encoding, so that
// encode(decode(x)) == x. The layout is documented in docs/protocol/mls.md.
const (
	groupStateVersion      uint16 = 1
	keyPackageStateVersion uint16 = 1
)

func addPrivKey(b *cryptobyte.Builder, k hpke.PrivateKey) {
	raw, err := k.Bytes()
	if err != nil {
		b.SetError(err)
		return
	}
	addVarBytes(b, raw)
}

// readPrivKey reads an HPKE private key and requires its canonical form.
func readPrivKey(s *cryptobyte.String, su *suite, out *hpke.PrivateKey) bool {
	var raw []byte
	if !readVarBytes(s, &raw) {
		return false
	}
	k, err := su.kem.NewPrivateKey(raw)
	if err != nil {
		return false
	}
	canon, err := k.Bytes()
	if err != nil || !bytes.Equal(canon, raw) {
		return false
	}
	*out = k
	return true
}

func readSigKey(s *cryptobyte.String, cs CipherSuite, out **SignaturePrivateKey) bool {
	var raw []byte
	if !readVarBytes(s, &raw) {
		return false
	}
	k, err := NewSignaturePrivateKey(cs, raw)
	if err != nil || !bytes.Equal(k.Bytes(), raw) {
		return false
	}
	*out = k
	return true
}

func sortedNodes[V any](m map[nodeIndex]V) []nodeIndex {
	keys := make([]nodeIndex, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

func marshalPrivKeys(b *cryptobyte.Builder, m map[nodeIndex]hpke.PrivateKey) {
	addVarVector(b, func(b *cryptobyte.Builder) {
		for _, x := range sortedNodes(m) {
			b.AddUint32(uint32(x))
			addPrivKey(b, m[x])
		}
	})
}

func readPrivKeys(s *cryptobyte.String, su *suite, out *map[nodeIndex]hpke.PrivateKey) bool {
	var v cryptobyte.String
	if !readVarVector(s, &v) {
		return false
	}
	m := map[nodeIndex]hpke.PrivateKey{}
	first, last := true, uint32(0)
	for !v.Empty() {
		var x uint32
		var k hpke.PrivateKey
		if !v.ReadUint32(&x) || (!first && x <= last) || !readPrivKey(&v, su, &k) {
			return false
		}
		first, last = false, x
		m[nodeIndex(x)] = k
	}
	*out = m
	return true
}

func (t *secretTree) marshal(b *cryptobyte.Builder) {
	b.AddUint32(t.nLeaves)
	addVarVector(b, func(b *cryptobyte.Builder) {
		for _, x := range sortedNodes(t.nodes) {
			b.AddUint32(uint32(x))
			addVarBytes(b, t.nodes[x])
		}
	})
	leaves := make([]leafIndex, 0, len(t.leaves))
	for l := range t.leaves {
		leaves = append(leaves, l)
	}
	sort.Slice(leaves, func(i, j int) bool { return leaves[i] < leaves[j] })
	addVarVector(b, func(b *cryptobyte.Builder) {
		for _, l := range leaves {
			b.AddUint32(uint32(l))
			for _, r := range t.leaves[l].r {
				b.AddUint32(r.generation)
				addVarBytes(b, r.secret)
				gens := make([]uint32, 0, len(r.skipped))
				for g := range r.skipped {
					gens = append(gens, g)
				}
				sort.Slice(gens, func(i, j int) bool { return gens[i] < gens[j] })
				addVarVector(b, func(b *cryptobyte.Builder) {
					for _, g := range gens {
						b.AddUint32(g)
						addVarBytes(b, r.skipped[g].key)
						addVarBytes(b, r.skipped[g].nonce)
					}
				})
			}
		}
	})
}

func readSecretTree(s *cryptobyte.String, su *suite, out **secretTree) bool {
	t := &secretTree{s: su, nodes: map[nodeIndex][]byte{}, leaves: map[leafIndex]*leafRatchets{}}
	var nodes, leaves cryptobyte.String
	if !s.ReadUint32(&t.nLeaves) || t.nLeaves == 0 || t.nLeaves&(t.nLeaves-1) != 0 || t.nLeaves > 1<<30 || !readVarVector(s, &nodes) {
		return false
	}
	width := nodeWidth(t.nLeaves)
	first, last := true, uint32(0)
	for !nodes.Empty() {
		var x uint32
		var sec []byte
		if !nodes.ReadUint32(&x) || x >= width || (!first && x <= last) || !readVarBytes(&nodes, &sec) || len(sec) != su.nh {
			return false
		}
		first, last = false, x
		t.nodes[nodeIndex(x)] = sec
	}
	if !readVarVector(s, &leaves) {
		return false
	}
	first = true
	for !leaves.Empty() {
		var l uint32
		if !leaves.ReadUint32(&l) || l >= t.nLeaves || (!first && l <= last) {
			return false
		}
		first, last = false, l
		lr := &leafRatchets{}
		for i := range lr.r {
			r := &hashRatchet{}
			var sk cryptobyte.String
			if !leaves.ReadUint32(&r.generation) || !readVarBytes(&leaves, &r.secret) || len(r.secret) != su.nh || !readVarVector(&leaves, &sk) {
				return false
			}
			gfirst, glast := true, uint32(0)
			for !sk.Empty() {
				var g uint32
				var kn keyNonce
				if !sk.ReadUint32(&g) || g >= r.generation || (!gfirst && g <= glast) ||
					!readVarBytes(&sk, &kn.key) || len(kn.key) != su.nk || !readVarBytes(&sk, &kn.nonce) || len(kn.nonce) != su.nn {
					return false
				}
				gfirst, glast = false, g
				if r.skipped == nil {
					r.skipped = map[uint32]keyNonce{}
				}
				r.skipped[g] = kn
			}
			lr.r[i] = r
		}
		t.leaves[leafIndex(l)] = lr
	}
	*out = t
	return true
}

// MarshalBinary serializes the whole group state, secrets included. Store
// it encrypted at rest.
func (g *Group) MarshalBinary() ([]byte, error) {
	var b cryptobyte.Builder
	b.AddUint16(groupStateVersion)
	g.gc.marshal(&b)
	g.tree.marshal(&b)
	b.AddUint32(uint32(g.self))
	addVarBytes(&b, g.sigKey.Bytes())
	marshalPrivKeys(&b, g.privKeys)
	for _, v := range [][]byte{g.interimTranscriptHash, g.confirmationTag, g.initSecret, g.exporterSecret,
		g.externalSecret, g.confirmationKey, g.resumptionPSK, g.epochAuthenticator, g.senderDataSecret, g.membershipKey} {
		addVarBytes(&b, v)
	}
	epochs := make([]uint64, 0, len(g.resumptionPSKs))
	for e := range g.resumptionPSKs {
		epochs = append(epochs, e)
	}
	sort.Slice(epochs, func(i, j int) bool { return epochs[i] < epochs[j] })
	addVarVector(&b, func(b *cryptobyte.Builder) {
		for _, e := range epochs {
			b.AddUint64(e)
			addVarBytes(b, g.resumptionPSKs[e])
		}
	})
	g.secretTree.marshal(&b)
	addVarVector(&b, func(b *cryptobyte.Builder) {
		for _, p := range g.proposals {
			addVarBytes(b, p.ref)
			p.sender.marshal(b)
			p.p.marshal(b)
		}
	})
	pubs := make([]string, 0, len(g.pendingUpdates))
	for p := range g.pendingUpdates {
		pubs = append(pubs, p)
	}
	sort.Strings(pubs)
	addVarVector(&b, func(b *cryptobyte.Builder) {
		for _, p := range pubs {
			addPrivKey(b, g.pendingUpdates[p])
		}
	})
	addOptional(&b, g.pending != nil)
	if p := g.pending; p != nil {
		addVarBytes(&b, p.message)
		p.ac.marshal(&b)
		marshalPrivKeys(&b, p.privKeys)
		addVarBytes(&b, p.commitSecret)
	}
	addVarVector(&b, func(b *cryptobyte.Builder) {
		for _, p := range g.past {
			p.keys.gc.marshal(b)
			addVarBytes(b, p.keys.senderDataSecret)
			addVarBytes(b, p.keys.membershipKey)
			p.keys.secretTree.marshal(b)
			leaves := make([]leafIndex, 0, len(p.sigKeys))
			for l := range p.sigKeys {
				leaves = append(leaves, l)
			}
			sort.Slice(leaves, func(i, j int) bool { return leaves[i] < leaves[j] })
			addVarVector(b, func(b *cryptobyte.Builder) {
				for _, l := range leaves {
					b.AddUint32(uint32(l))
					addOptional(b, p.sigKeys[l] != nil)
					if k := p.sigKeys[l]; k != nil {
						addVarBytes(b, k)
					}
				}
			})
		}
	})
	addOptional(&b, g.reinit != nil)
	if g.reinit != nil {
		(&proposal{typ: proposalReInit, reinit: g.reinit}).marshal(&b)
	}
	addOptional(&b, g.removed)
	return b.Bytes()
}

// UnmarshalGroup restores a group serialized with MarshalBinary. cfg is the
// application configuration (not part of the state).
func UnmarshalGroup(data []byte, cfg Config) (*Group, error) {
	g := &Group{cfg: cfg, resumptionPSKs: map[uint64][]byte{}, pendingUpdates: map[string]hpke.PrivateKey{}}
	var failure error
	err := decodeAll(data, "group state", func(s *cryptobyte.String) bool {
		var v uint16
		if !s.ReadUint16(&v) || v != groupStateVersion || !g.gc.unmarshal(s) {
			return false
		}
		su, err := getSuite(g.gc.cipherSuite)
		if err != nil {
			failure = err
			return false
		}
		g.s = su
		var ext ratchetTreeExt
		if !ext.unmarshal(s) {
			return false
		}
		if g.tree, err = treeFromNodes(su, ext.nodes); err != nil {
			failure = err
			return false
		}
		var self uint32
		if !s.ReadUint32(&self) || self >= g.tree.nLeaves() || g.tree.leaf(leafIndex(self)) == nil {
			return false
		}
		g.self = leafIndex(self)
		if !readSigKey(s, su.id, &g.sigKey) || !readPrivKeys(s, su, &g.privKeys) {
			return false
		}
		for _, p := range []*[]byte{&g.interimTranscriptHash, &g.confirmationTag, &g.initSecret, &g.exporterSecret,
			&g.externalSecret, &g.confirmationKey, &g.resumptionPSK, &g.epochAuthenticator, &g.senderDataSecret, &g.membershipKey} {
			if !readVarBytes(s, p) {
				return false
			}
		}
		var rp cryptobyte.String
		if !readVarVector(s, &rp) {
			return false
		}
		first, last := true, uint64(0)
		for !rp.Empty() {
			var e uint64
			var psk []byte
			if !rp.ReadUint64(&e) || (!first && e <= last) || !readVarBytes(&rp, &psk) {
				return false
			}
			first, last = false, e
			g.resumptionPSKs[e] = psk
		}
		if !readSecretTree(s, su, &g.secretTree) || g.secretTree == nil || g.secretTree.nLeaves != g.tree.nLeaves() {
			return false
		}
		var props cryptobyte.String
		if !readVarVector(s, &props) {
			return false
		}
		for !props.Empty() {
			var cp cachedProposal
			cp.p = new(proposal)
			if !readVarBytes(&props, &cp.ref) || !cp.sender.unmarshal(&props) || !cp.p.unmarshal(&props) {
				return false
			}
			g.proposals = append(g.proposals, cp)
		}
		var pu cryptobyte.String
		if !readVarVector(s, &pu) {
			return false
		}
		lastPub := ""
		for !pu.Empty() {
			var k hpke.PrivateKey
			if !readPrivKey(&pu, su, &k) {
				return false
			}
			pub := string(k.PublicKey().Bytes())
			if lastPub != "" && pub <= lastPub {
				return false
			}
			lastPub = pub
			g.pendingUpdates[pub] = k
		}
		var present bool
		if !readOptional(s, &present) {
			return false
		}
		if present {
			p := &pendingCommit{ac: new(authenticatedContent)}
			if !readVarBytes(s, &p.message) || !p.ac.unmarshal(s) || p.ac.content.contentType != contentCommit ||
				!readPrivKeys(s, su, &p.privKeys) || !readVarBytes(s, &p.commitSecret) {
				return false
			}
			g.pending = p
		}
		var past cryptobyte.String
		if !readVarVector(s, &past) {
			return false
		}
		for !past.Empty() {
			p := &pastEpoch{sigKeys: map[leafIndex][]byte{}}
			p.keys.s = su
			var sk cryptobyte.String
			if !p.keys.gc.unmarshal(&past) || p.keys.gc.cipherSuite != su.id ||
				(len(g.past) > 0 && p.keys.gc.epoch <= g.past[len(g.past)-1].keys.gc.epoch) || p.keys.gc.epoch >= g.gc.epoch ||
				!readVarBytes(&past, &p.keys.senderDataSecret) || !readVarBytes(&past, &p.keys.membershipKey) ||
				!readSecretTree(&past, su, &p.keys.secretTree) || p.keys.secretTree == nil || !readVarVector(&past, &sk) {
				return false
			}
			p.keys.gcBytes = encode(&p.keys.gc)
			first, last := true, uint32(0)
			for !sk.Empty() {
				var l uint32
				var has bool
				var key []byte
				if !sk.ReadUint32(&l) || (!first && l <= last) || !readOptional(&sk, &has) {
					return false
				}
				if has && (!readVarBytes(&sk, &key) || key == nil) {
					return false
				}
				if has && len(key) == 0 {
					key = []byte{}
				}
				first, last = false, l
				p.sigKeys[leafIndex(l)] = key
			}
			g.past = append(g.past, p)
		}
		if !readOptional(s, &present) {
			return false
		}
		if present {
			p := new(proposal)
			if !p.unmarshal(s) || p.typ != proposalReInit {
				return false
			}
			g.reinit = p.reinit
		}
		return readOptional(s, &g.removed)
	})
	if err != nil {
		if failure != nil {
			return nil, fmt.Errorf("mls: group state: %w", failure)
		}
		return nil, err
	}
	g.gcBytes = encode(&g.gc)
	g.epochKeys.s = g.s
	return g, nil
}

// MarshalBinary serializes the bundle, private keys included.
func (b *KeyPackageBundle) MarshalBinary() ([]byte, error) {
	var bb cryptobyte.Builder
	bb.AddUint16(keyPackageStateVersion)
	b.kp.marshal(&bb)
	addPrivKey(&bb, b.initPriv)
	addPrivKey(&bb, b.encPriv)
	addVarBytes(&bb, b.sigKey.Bytes())
	return bb.Bytes()
}

// UnmarshalKeyPackageBundle restores a bundle serialized with MarshalBinary.
func UnmarshalKeyPackageBundle(data []byte) (*KeyPackageBundle, error) {
	b := &KeyPackageBundle{}
	var failure error
	err := decodeAll(data, "KeyPackage bundle", func(s *cryptobyte.String) bool {
		var v uint16
		if !s.ReadUint16(&v) || v != keyPackageStateVersion || !b.kp.unmarshal(s) {
			return false
		}
		su, err := getSuite(b.kp.cipherSuite)
		if err != nil {
			failure = err
			return false
		}
		return readPrivKey(s, su, &b.initPriv) && readPrivKey(s, su, &b.encPriv) && readSigKey(s, su.id, &b.sigKey) &&
			bytes.Equal(b.initPriv.PublicKey().Bytes(), b.kp.initKey) &&
			bytes.Equal(b.encPriv.PublicKey().Bytes(), b.kp.leafNode.encryptionKey) &&
			bytes.Equal(b.sigKey.PublicKey(), b.kp.leafNode.signatureKey)
	})
	if err != nil {
		if failure != nil {
			return nil, fmt.Errorf("mls: KeyPackage bundle: %w", failure)
		}
		return nil, err
	}
	return b, nil
}
