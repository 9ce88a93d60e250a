package mls

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"math/bits"

	"golang.org/x/crypto/cryptobyte"
)

// ratchetTree is the public ratchet tree (RFC 9420, Section 7) in array
// form. The tree always has a power-of-two number of leaves. Tree hashes are
// cached per node and invalidated only along the direct path of a changed
// node, so a commit rehashes O(log n) nodes, never the whole tree.
type ratchetTree struct {
	s      *suite
	nodes  []node
	hashes [][]byte // tree hash cache; nil entries are stale
	// journal, when non-nil, records every write so that a commit that
	// fails validation half-way can be undone in O(changes).
	journal *[]journalEntry
	// encKeys counts the nodes carrying each HPKE public key and sigKeys
	// maps leaf signature keys to their leaf, so that uniqueness checks
	// (Sections 7.3 and 12.4.2) cost O(1) instead of a tree scan. Both are
	// maintained by writeNode and rollback.
	encKeys map[string]int
	sigKeys map[string]leafIndex
	// members counts non-blank leaves; credInUse counts leaves by
	// credential type; credSupported counts leaves whose capabilities list
	// a credential type (for the checks of Section 7.3).
	members       int
	credInUse     map[uint16]int
	credSupported map[uint16]int
}

// credentialCompatible checks a leaf about to join the tree against the
// leaves in it (Section 7.3): "Verify that the credential type is supported
// by all members of the group ... and that the capabilities field of this
// LeafNode indicates support for all the credential types currently in use
// by other members."
func (t *ratchetTree) credentialCompatible(ln *leafNode) error {
	if t.credSupported[ln.credential.Type] != t.members {
		return fmt.Errorf("mls: credential type %d is not supported by every member", ln.credential.Type)
	}
	for ct, n := range t.credInUse {
		if n > 0 && !containsUint16(ln.capabilities.Credentials, ct) {
			return fmt.Errorf("mls: leaf does not support credential type %d in use", ct)
		}
	}
	return nil
}

func containsUint16(list []uint16, v uint16) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (t *ratchetTree) index(x nodeIndex, n node, add bool) {
	if t.encKeys == nil {
		t.encKeys, t.sigKeys = map[string]int{}, map[string]leafIndex{}
		t.credInUse, t.credSupported = map[uint16]int{}, map[uint16]int{}
	}
	var enc []byte
	switch {
	case n.leaf != nil:
		enc = n.leaf.encryptionKey
		d := 1
		if !add {
			d = -1
		}
		t.members += d
		t.credInUse[n.leaf.credential.Type] += d
		seen := map[uint16]bool{}
		for _, ct := range n.leaf.capabilities.Credentials {
			if !seen[ct] {
				seen[ct] = true
				t.credSupported[ct] += d
			}
		}
		if add {
			t.sigKeys[string(n.leaf.signatureKey)] = x.leaf()
		} else if t.sigKeys[string(n.leaf.signatureKey)] == x.leaf() {
			delete(t.sigKeys, string(n.leaf.signatureKey))
		}
	case n.parent != nil:
		enc = n.parent.encryptionKey
	default:
		return
	}
	if add {
		t.encKeys[string(enc)]++
	} else if t.encKeys[string(enc)]--; t.encKeys[string(enc)] <= 0 {
		delete(t.encKeys, string(enc))
	}
}

// hasEncryptionKey reports whether some node carries the HPKE key pub.
func (t *ratchetTree) hasEncryptionKey(pub []byte) bool { return t.encKeys[string(pub)] > 0 }

type journalEntry struct {
	slices bool // restore the slice headers instead of one node
	x      nodeIndex
	n      node
	h      []byte
	nodes  []node
	hashes [][]byte
}

// begin starts recording changes; rollback undoes them, commit drops them.
// It first fills the hash cache, so that hashes computed during the
// transaction for untouched subtrees survive a rollback (otherwise every
// rolled-back transaction would discard them and the next one rehash the
// whole tree).
func (t *ratchetTree) begin() {
	t.rootHash()
	t.journal = new([]journalEntry)
}

func (t *ratchetTree) commitJournal() { t.journal = nil }

func (t *ratchetTree) rollback() {
	if t.journal == nil {
		return
	}
	j := *t.journal
	for i := len(j) - 1; i >= 0; i-- {
		e := &j[i]
		if e.slices {
			t.nodes, t.hashes = e.nodes, e.hashes
		} else {
			t.index(e.x, t.nodes[e.x], false)
			t.nodes[e.x], t.hashes[e.x] = e.n, e.h
			t.index(e.x, e.n, true)
		}
	}
	t.journal = nil
}

func (t *ratchetTree) record(x nodeIndex) {
	if t.journal != nil {
		*t.journal = append(*t.journal, journalEntry{x: x, n: t.nodes[x], h: t.hashes[x]})
	}
}

func (t *ratchetTree) recordSlices() {
	if t.journal != nil {
		*t.journal = append(*t.journal, journalEntry{slices: true, nodes: t.nodes, hashes: t.hashes})
	}
}

func (t *ratchetTree) writeNode(x nodeIndex, n node) {
	t.record(x)
	t.index(x, t.nodes[x], false)
	t.nodes[x] = n
	t.index(x, n, true)
}

func (t *ratchetTree) writeHash(x nodeIndex, h []byte) {
	t.record(x)
	t.hashes[x] = h
}

func newRatchetTree(s *suite, nLeaves uint32) *ratchetTree {
	w := nodeWidth(nLeaves)
	return &ratchetTree{s: s, nodes: make([]node, w), hashes: make([][]byte, w)}
}

func (t *ratchetTree) nLeaves() uint32 { return uint32(len(t.nodes)+1) / 2 }

func (t *ratchetTree) leaf(l leafIndex) *leafNode {
	if uint32(l) >= t.nLeaves() {
		return nil
	}
	return t.nodes[l.node()].leaf
}

// invalidate marks the cached hashes of x and its ancestors as stale.
func (t *ratchetTree) invalidate(x nodeIndex) {
	n := t.nLeaves()
	r := root(n)
	for {
		if t.hashes[x] != nil {
			t.writeHash(x, nil)
		}
		if x == r {
			return
		}
		x = parent(x, n)
	}
}

func (t *ratchetTree) setNode(x nodeIndex, v node) {
	t.writeNode(x, v)
	t.invalidate(x)
}

// clone returns a copy. The pointed-to leafNode and parentNode values are
// never mutated in place (writers replace them), so sharing them is safe.
func (t *ratchetTree) clone() *ratchetTree {
	c := &ratchetTree{s: t.s, nodes: make([]node, len(t.nodes)), hashes: make([][]byte, len(t.hashes))}
	copy(c.nodes, t.nodes)
	copy(c.hashes, t.hashes)
	for i, n := range c.nodes {
		c.index(nodeIndex(i), n, true)
	}
	return c
}

// resolution of x (RFC 9420, Section 4.1.1).
func (t *ratchetTree) resolution(x nodeIndex) []nodeIndex {
	return t.appendResolution(nil, x, nil)
}

// appendResolution appends the resolution of x, leaving out the leaves in
// exclude (used to omit leaves added by the current commit).
func (t *ratchetTree) appendResolution(out []nodeIndex, x nodeIndex, exclude map[leafIndex]bool) []nodeIndex {
	n := &t.nodes[x]
	switch {
	case n.leaf != nil:
		if exclude[x.leaf()] {
			return out
		}
		return append(out, x)
	case n.parent != nil:
		out = append(out, x)
		for _, l := range n.parent.unmergedLeaves {
			if !exclude[l] {
				out = append(out, l.node())
			}
		}
		return out
	case x.isLeaf():
		return out
	default:
		out = t.appendResolution(out, left(x), exclude)
		return t.appendResolution(out, right(x), exclude)
	}
}

// filteredDirectPath of leaf l (RFC 9420, Section 4.1.2): the direct path
// without the nodes whose copath child has an empty resolution. It also
// returns the matching copath children.
func (t *ratchetTree) filteredDirectPath(l leafIndex) (path, copathNodes []nodeIndex) {
	n := t.nLeaves()
	x := l.node()
	r := root(n)
	for x != r {
		p := parent(x, n)
		s := sibling(x, n)
		if !t.emptyResolution(s) {
			path = append(path, p)
			copathNodes = append(copathNodes, s)
		}
		x = p
	}
	return path, copathNodes
}

func (t *ratchetTree) emptyResolution(x nodeIndex) bool {
	n := &t.nodes[x]
	if !n.blank() {
		return false
	}
	if x.isLeaf() {
		return true
	}
	return t.emptyResolution(left(x)) && t.emptyResolution(right(x))
}

// treeHash of node x (RFC 9420, Section 7.8), cached.
func (t *ratchetTree) treeHash(x nodeIndex) []byte {
	if h := t.hashes[x]; h != nil {
		return h
	}
	var h []byte
	if x.isLeaf() {
		h = t.leafHash(x, t.nodes[x].leaf)
	} else {
		h = t.parentHashInputHash(t.nodes[x].parent, t.treeHash(left(x)), t.treeHash(right(x)))
	}
	t.writeHash(x, h)
	return h
}

func (t *ratchetTree) leafHash(x nodeIndex, ln *leafNode) []byte {
	var b cryptobyte.Builder
	b.AddUint8(nodeTypeLeaf)
	b.AddUint32(uint32(x.leaf()))
	addOptional(&b, ln != nil)
	if ln != nil {
		ln.marshal(&b)
	}
	return t.s.hash(b.BytesOrPanic())
}

func (t *ratchetTree) parentHashInputHash(p *parentNode, lh, rh []byte) []byte {
	var b cryptobyte.Builder
	b.AddUint8(nodeTypeParent)
	addOptional(&b, p != nil)
	if p != nil {
		p.marshal(&b)
	}
	addVarBytes(&b, lh)
	addVarBytes(&b, rh)
	return t.s.hash(b.BytesOrPanic())
}

func (t *ratchetTree) rootHash() []byte { return t.treeHash(root(t.nLeaves())) }

// subtreeHasLeaf reports whether leaf l lies under x.
func subtreeHasLeaf(x nodeIndex, l leafIndex) bool { return isAncestor(x, l.node()) }

// originalTreeHash is the tree hash of x with the leaves in excl blanked and
// removed from unmerged_leaves (RFC 9420, Section 7.9).
func (t *ratchetTree) originalTreeHash(x nodeIndex, excl []leafIndex) []byte {
	touched := false
	for _, l := range excl {
		if subtreeHasLeaf(x, l) {
			touched = true
			break
		}
	}
	if !touched {
		return t.treeHash(x)
	}
	if x.isLeaf() {
		return t.leafHash(x, nil) // x itself is excluded
	}
	p := t.nodes[x].parent
	if p != nil {
		q := *p
		q.unmergedLeaves = nil
		for _, u := range p.unmergedLeaves {
			keep := true
			for _, l := range excl {
				if u == l {
					keep = false
				}
			}
			if keep {
				q.unmergedLeaves = append(q.unmergedLeaves, u)
			}
		}
		p = &q
	}
	return t.parentHashInputHash(p, t.originalTreeHash(left(x), excl), t.originalTreeHash(right(x), excl))
}

// parentHash is the hash of ParentHashInput (RFC 9420, Section 7.9).
func (t *ratchetTree) parentHash(p *parentNode, siblingHash []byte) []byte {
	var b cryptobyte.Builder
	addVarBytes(&b, p.encryptionKey)
	addVarBytes(&b, p.parentHash)
	addVarBytes(&b, siblingHash)
	return t.s.hash(b.BytesOrPanic())
}

func (t *ratchetTree) nodeParentHash(x nodeIndex) []byte {
	n := &t.nodes[x]
	if n.leaf != nil {
		if n.leaf.source == leafSourceCommit {
			return n.leaf.parentHash
		}
		return nil
	}
	if n.parent != nil {
		return n.parent.parentHash
	}
	return nil
}

// verifyParentHashes checks that every non-blank parent node is
// parent-hash valid (RFC 9420, Section 7.9.2): "the new member MUST
// authenticate that each non-blank parent node P is parent-hash valid",
// done top-down: exactly one descendant must chain to each parent.
func (t *ratchetTree) verifyParentHashes() error {
	for i := range t.nodes {
		x := nodeIndex(i)
		p := t.nodes[x].parent
		if p == nil {
			continue
		}
		found := 0
		for _, side := range [2][2]nodeIndex{{left(x), right(x)}, {right(x), left(x)}} {
			c, s := side[0], side[1]
			ph := t.parentHash(p, t.originalTreeHash(s, p.unmergedLeaves))
			res := t.resolution(c)
			for _, d := range res {
				dph := t.nodeParentHash(d)
				if dph == nil || subtle.ConstantTimeCompare(dph, ph) != 1 {
					continue
				}
				// P's unmerged leaves under C must equal res(C) minus D.
				var want []nodeIndex
				for _, r := range res {
					if r != d {
						want = append(want, r)
					}
				}
				var got []nodeIndex
				for _, u := range p.unmergedLeaves {
					if subtreeHasLeaf(c, u) {
						got = append(got, u.node())
					}
				}
				if sameNodeSet(got, want) {
					found++
				}
			}
		}
		if found != 1 {
			return fmt.Errorf("mls: parent hash of node %d is not valid", x)
		}
	}
	return nil
}

func sameNodeSet(a, b []nodeIndex) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[nodeIndex]bool{}
	for _, x := range a {
		m[x] = true
	}
	for _, x := range b {
		if !m[x] {
			return false
		}
	}
	return true
}

// extend doubles the tree (RFC 9420, Section 7.7).
func (t *ratchetTree) extend() {
	n := t.nLeaves()
	w := nodeWidth(2 * n)
	if n == 0 {
		w = 1
	}
	t.recordSlices()
	nodes := make([]node, w)
	copy(nodes, t.nodes)
	hashes := make([][]byte, w)
	copy(hashes, t.hashes)
	t.nodes, t.hashes = nodes, hashes
}

// truncate halves the tree while its right half is blank.
func (t *ratchetTree) truncate() {
	for t.nLeaves() > 1 {
		n := t.nLeaves()
		half := nodeWidth(n / 2)
		for i := int(half); i < len(t.nodes); i++ {
			if !t.nodes[i].blank() && nodeIndex(i) != root(n) {
				return
			}
		}
		// The old root is discarded even when it is not blank.
		if r := root(n); !t.nodes[r].blank() {
			t.writeNode(r, node{})
		}
		t.recordSlices()
		t.nodes = t.nodes[:half]
		t.hashes = t.hashes[:half]
	}
}

// addLeaf inserts ln at the leftmost blank leaf, extending if needed, and
// marks it unmerged in its non-blank direct-path parents (Section 12.1.1).
func (t *ratchetTree) addLeaf(ln *leafNode) leafIndex {
	var l leafIndex
	for {
		found := false
		for i := uint32(0); i < t.nLeaves(); i++ {
			if t.nodes[leafIndex(i).node()].blank() {
				l, found = leafIndex(i), true
				break
			}
		}
		if found {
			break
		}
		t.extend()
	}
	t.setNode(l.node(), node{leaf: ln})
	for _, p := range directPath(l.node(), t.nLeaves()) {
		if pn := t.nodes[p].parent; pn != nil {
			q := *pn
			q.unmergedLeaves = append(append([]leafIndex(nil), pn.unmergedLeaves...), l)
			t.writeNode(p, node{parent: &q})
		}
	}
	return l
}

// blankPath blanks leaf l and its direct path.
func (t *ratchetTree) blankPath(l leafIndex) {
	t.setNode(l.node(), node{})
	for _, p := range directPath(l.node(), t.nLeaves()) {
		if !t.nodes[p].blank() {
			t.writeNode(p, node{})
		}
	}
}

func (t *ratchetTree) removeLeaf(l leafIndex) {
	t.blankPath(l)
	t.truncate()
}

// marshal writes the ratchet_tree extension body, without trailing blanks.
func (t *ratchetTree) marshal(b *cryptobyte.Builder) {
	end := len(t.nodes)
	for end > 0 && t.nodes[end-1].blank() {
		end--
	}
	(&ratchetTreeExt{nodes: t.nodes[:end]}).marshal(b)
}

// treeFromNodes builds a tree from a decoded node list, checking its shape.
func treeFromNodes(s *suite, nodes []node) (*ratchetTree, error) {
	if len(nodes) == 0 || len(nodes) > 1<<31 {
		return nil, errors.New("mls: ratchet tree has an invalid number of nodes")
	}
	if nodes[len(nodes)-1].blank() {
		return nil, errors.New("mls: ratchet tree ends in a blank node")
	}
	leaves := uint32(len(nodes)/2 + 1)
	if leaves&(leaves-1) != 0 {
		leaves = 1 << bits.Len32(leaves)
	}
	t := newRatchetTree(s, leaves)
	for i, n := range nodes {
		x := nodeIndex(i)
		if (n.leaf != nil && !x.isLeaf()) || (n.parent != nil && x.isLeaf()) {
			return nil, fmt.Errorf("mls: ratchet tree node %d has the wrong type", i)
		}
		t.nodes[i] = n
		t.index(x, n, true)
	}
	return t, nil
}

func decodeRatchetTree(s *suite, data []byte) (*ratchetTree, error) {
	var ext ratchetTreeExt
	if err := decodeAll(data, "ratchet tree", ext.unmarshal); err != nil {
		return nil, err
	}
	return treeFromNodes(s, ext.nodes)
}

// verifyStructure checks the invariants a joiner must check beyond hashes
// (RFC 9420, Sections 7.3, 7.9.2 and 12.4.3.1): leaf signatures, unique
// keys, and unmerged_leaves consistency.
func (t *ratchetTree) verifyStructure(groupID []byte) error {
	sigKeys := map[string]bool{}
	encKeys := map[string]bool{}
	n := t.nLeaves()
	for i := range t.nodes {
		x := nodeIndex(i)
		nd := &t.nodes[x]
		if nd.leaf != nil {
			if !nd.leaf.verify(t.s, groupID, x.leaf()) {
				return fmt.Errorf("mls: invalid signature on leaf %d", x.leaf())
			}
			if sigKeys[string(nd.leaf.signatureKey)] {
				return errors.New("mls: duplicate signature key in tree")
			}
			sigKeys[string(nd.leaf.signatureKey)] = true
			if encKeys[string(nd.leaf.encryptionKey)] {
				return errors.New("mls: duplicate encryption key in tree")
			}
			encKeys[string(nd.leaf.encryptionKey)] = true
		}
		if nd.parent != nil {
			if encKeys[string(nd.parent.encryptionKey)] {
				return errors.New("mls: duplicate encryption key in tree")
			}
			encKeys[string(nd.parent.encryptionKey)] = true
			for _, u := range nd.parent.unmergedLeaves {
				if uint32(u) >= n || !subtreeHasLeaf(x, u) || t.nodes[u.node()].leaf == nil {
					return fmt.Errorf("mls: invalid unmerged leaf %d at node %d", u, x)
				}
				// Every non-blank parent between the leaf and x must list it.
				for y := parent(u.node(), n); y != x; y = parent(y, n) {
					if p := t.nodes[y].parent; p != nil && !containsLeaf(p.unmergedLeaves, u) {
						return fmt.Errorf("mls: unmerged leaf %d missing at node %d", u, y)
					}
				}
			}
		}
	}
	return t.verifyParentHashes()
}

func containsLeaf(ls []leafIndex, l leafIndex) bool {
	for _, x := range ls {
		if x == l {
			return true
		}
	}
	return false
}

// findLeafBySignatureKey returns the leaf whose signature key is sigKey.
func (t *ratchetTree) findLeafBySignatureKey(sigKey []byte) (leafIndex, bool) {
	l, ok := t.sigKeys[string(sigKey)]
	return l, ok
}
