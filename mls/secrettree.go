package mls

import (
	"errors"
	"fmt"
)

// Secret tree (RFC 9420, Section 9). Node secrets are derived lazily from
// encryption_secret and deleted once both children are derived, so that
// only the frontier is held; each leaf then runs two hash ratchets
// (handshake and application). Consumed keys are deleted: "a receiver MUST
// delete ... the key and nonce of each consumed generation" (Section 9.2),
// which is what rejects a replayed generation.

// Limits on out-of-order reception within one ratchet.
const (
	// maxForwardGenerations bounds how far ahead of the current generation
	// a message may be (work an attacker can force per message).
	maxForwardGenerations = 1024
	// maxSkippedKeys bounds the keys retained for late messages.
	maxSkippedKeys = 256
)

// ErrGenerationConsumed reports a message whose key was already used or
// deleted (a replay, or a message too old to decrypt). Callers may branch on
// it to drop duplicates silently.
var ErrGenerationConsumed = errors.New("mls: message generation already consumed")

type keyNonce struct {
	key, nonce []byte
}

type ratchetKind uint8

const (
	ratchetHandshake   ratchetKind = 0
	ratchetApplication ratchetKind = 1
)

// hashRatchet is one sender ratchet of the secret tree (Section 9.1).
type hashRatchet struct {
	generation uint32 // generation of secret
	secret     []byte
	skipped    map[uint32]keyNonce
}

type leafRatchets struct {
	r [2]*hashRatchet
}

type secretTree struct {
	s       *suite
	nLeaves uint32
	nodes   map[nodeIndex][]byte
	leaves  map[leafIndex]*leafRatchets
}

func newSecretTree(s *suite, encryptionSecret []byte, nLeaves uint32) *secretTree {
	t := &secretTree{s: s, nLeaves: nLeaves, nodes: map[nodeIndex][]byte{}, leaves: map[leafIndex]*leafRatchets{}}
	t.nodes[root(nLeaves)] = cloneBytes(encryptionSecret)
	return t
}

// leafSecret derives (and removes from the tree) the secret of leaf l.
func (t *secretTree) leafSecret(l leafIndex) ([]byte, error) {
	if uint32(l) >= t.nLeaves {
		return nil, fmt.Errorf("mls: leaf %d outside the secret tree", l)
	}
	x := l.node()
	path := append([]nodeIndex{x}, directPath(x, t.nLeaves)...)
	// Find the lowest node on the path that still holds a secret.
	start := -1
	for i, n := range path {
		if _, ok := t.nodes[n]; ok {
			start = i
			break
		}
	}
	if start < 0 {
		return nil, ErrGenerationConsumed
	}
	for i := start; i > 0; i-- {
		n := path[i]
		sec := t.nodes[n]
		l, r := left(n), right(n)
		t.nodes[l] = t.s.expandWithLabel(sec, "tree", []byte("left"), t.s.nh)
		t.nodes[r] = t.s.expandWithLabel(sec, "tree", []byte("right"), t.s.nh)
		delete(t.nodes, n)
	}
	sec := t.nodes[x]
	delete(t.nodes, x)
	return sec, nil
}

func (t *secretTree) ratchets(l leafIndex) (*leafRatchets, error) {
	if lr, ok := t.leaves[l]; ok {
		return lr, nil
	}
	sec, err := t.leafSecret(l)
	if err != nil {
		return nil, err
	}
	lr := t.newLeafRatchets(sec)
	t.leaves[l] = lr
	return lr, nil
}

func (t *secretTree) newLeafRatchets(leafSecret []byte) *leafRatchets {
	lr := &leafRatchets{}
	lr.r[ratchetHandshake] = &hashRatchet{secret: t.s.expandWithLabel(leafSecret, "handshake", nil, t.s.nh)}
	lr.r[ratchetApplication] = &hashRatchet{secret: t.s.expandWithLabel(leafSecret, "application", nil, t.s.nh)}
	return lr
}

// peekLeafSecret derives the secret of leaf l without changing the tree.
func (t *secretTree) peekLeafSecret(l leafIndex) ([]byte, error) {
	if uint32(l) >= t.nLeaves {
		return nil, fmt.Errorf("mls: leaf %d outside the secret tree", l)
	}
	x := l.node()
	path := append([]nodeIndex{x}, directPath(x, t.nLeaves)...)
	for i, n := range path {
		sec, ok := t.nodes[n]
		if !ok {
			continue
		}
		for j := i; j > 0; j-- {
			label := "right"
			if path[j-1] < path[j] {
				label = "left"
			}
			sec = t.s.expandWithLabel(sec, "tree", []byte(label), t.s.nh)
		}
		return sec, nil
	}
	return nil, ErrGenerationConsumed
}

// step returns the key and nonce of the ratchet's current generation and
// advances it, with one keyed HMAC for the three derivations.
func (t *secretTree) step(r *hashRatchet) keyNonce {
	e := t.s.newExpander(r.secret)
	kn := keyNonce{
		key:   e.treeSecret("key", r.generation, t.s.nk),
		nonce: e.treeSecret("nonce", r.generation, t.s.nn),
	}
	r.secret = e.treeSecret("secret", r.generation, t.s.nh)
	r.generation++
	return kn
}

// next returns the key for the sender's next message and its generation.
func (t *secretTree) next(l leafIndex, kind ratchetKind) (keyNonce, uint32, error) {
	lr, err := t.ratchets(l)
	if err != nil {
		return keyNonce{}, 0, err
	}
	r := lr.r[kind]
	if r.generation == ^uint32(0) {
		return keyNonce{}, 0, errors.New("mls: ratchet exhausted")
	}
	g := r.generation
	return t.step(r), g, nil
}

// get returns the key for generation g of leaf l's ratchet and a function
// that consumes it. Nothing changes until consume is called, so that a
// forged message cannot burn the key of a genuine one: callers consume
// only after the AEAD opened. Consuming keeps keys of skipped generations
// within the limits and deletes the returned one.
func (t *secretTree) get(l leafIndex, kind ratchetKind, g uint32) (kn keyNonce, consume func(), err error) {
	lr, stored := t.leaves[l]
	if !stored {
		sec, err := t.peekLeafSecret(l)
		if err != nil {
			return keyNonce{}, nil, err
		}
		lr = t.newLeafRatchets(sec)
	}
	r := lr.r[kind]
	if g < r.generation {
		kn, ok := r.skipped[g]
		if !ok {
			return keyNonce{}, nil, ErrGenerationConsumed
		}
		return kn, func() { delete(r.skipped, g) }, nil
	}
	if g-r.generation > maxForwardGenerations {
		return keyNonce{}, nil, fmt.Errorf("mls: generation %d too far ahead", g)
	}
	if g == ^uint32(0) {
		return keyNonce{}, nil, errors.New("mls: ratchet exhausted")
	}
	// Derive forward on a scratch copy.
	w := &hashRatchet{generation: r.generation, secret: r.secret}
	var skipped []uint32
	var skippedKeys []keyNonce
	for w.generation < g {
		skipped = append(skipped, w.generation)
		skippedKeys = append(skippedKeys, t.step(w))
	}
	kn = t.step(w)
	return kn, func() {
		if !stored {
			t.leafSecret(l) // delete the consumed path of node secrets
			t.leaves[l] = lr
		}
		r.generation, r.secret = w.generation, w.secret
		for i, sg := range skipped {
			if r.skipped == nil {
				r.skipped = map[uint32]keyNonce{}
			}
			r.skipped[sg] = skippedKeys[i]
		}
		// Keep only the most recent maxSkippedKeys skipped keys.
		for len(r.skipped) > maxSkippedKeys {
			oldest := ^uint32(0)
			for k := range r.skipped {
				oldest = min(oldest, k)
			}
			delete(r.skipped, oldest)
		}
	}, nil
}

// senderDataKeyNonce derives the sender data key and nonce (RFC 9420,
// Section 6.3.2) from the first KDF.Nh bytes of the ciphertext.
func (s *suite) senderDataKeyNonce(senderDataSecret, ciphertext []byte) keyNonce {
	return s.newExpander(senderDataSecret).senderData(ciphertext)
}

func (e *labeledExpander) senderData(ciphertext []byte) keyNonce {
	sample := ciphertext
	if len(sample) > e.s.nh {
		sample = sample[:e.s.nh]
	}
	return keyNonce{
		key:   e.expand("key", sample, e.s.nk),
		nonce: e.expand("nonce", sample, e.s.nn),
	}
}
