package mls

import (
	"bytes"
	"errors"
	"testing"
)

// twoMembers returns Alice's and Bob's groups after Alice added Bob.
func twoMembers(t *testing.T, cs CipherSuite) (*Group, *Group) {
	t.Helper()
	alice, bob := newClient(t, cs, "alice"), newClient(t, cs, "bob")
	ga, err := NewGroup(cs, []byte("negative"), alice.sig, alice.cred, nil, alice.cfg)
	if err != nil {
		t.Fatal(err)
	}
	kp := bob.keyPackage(t)
	res, err := ga.Commit(CommitOptions{Add: [][]byte{kp.KeyPackage()}, RatchetTreeInWelcome: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ga.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	gb, err := JoinGroup(res.Welcome, kp, nil, bob.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ga, gb
}

// An outsider forges a commit that adds Mallory, claiming to be Alice: the
// signature does not verify under Alice's leaf key.
func TestRejectAddNotSignedByMember(t *testing.T) {
	cs := MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	ga, gb := twoMembers(t, cs)
	mallory := newClient(t, cs, "mallory")
	// Mallory holds a copy of Alice's state but her own signing key.
	state, err := ga.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	forger, err := UnmarshalGroup(state, ga.cfg)
	if err != nil {
		t.Fatal(err)
	}
	forger.sigKey = mallory.sig
	mkp := mallory.keyPackage(t)
	res, err := forger.Commit(CommitOptions{Add: [][]byte{mkp.KeyPackage()}})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := gb.MarshalBinary()
	if _, err := gb.ProcessMessage(res.Commit); !errors.Is(err, errSignature) {
		t.Fatalf("forged add: got %v, want a signature error", err)
	}
	after, _ := gb.MarshalBinary()
	if !bytes.Equal(before, after) {
		t.Fatal("rejected commit changed the state")
	}
	// The same Add proposed by a non-member (no membership key) fails on
	// the membership tag.
	prop, err := forger.ProposeAdd(mkp.KeyPackage())
	if err != nil {
		t.Fatal(err)
	}
	forgerEpoch := forger.membershipKey
	forger.membershipKey = make([]byte, len(forgerEpoch))
	prop2, _ := forger.ProposeAdd(mkp.KeyPackage())
	if _, err := gb.ProcessMessage(prop); !errors.Is(err, errSignature) {
		t.Fatalf("proposal signed by outsider: got %v", err)
	}
	if _, err := gb.ProcessMessage(prop2); !errors.Is(err, errMembershipTag) {
		t.Fatalf("proposal with a wrong membership key: got %v", err)
	}
}

// Every flipped byte of a commit and of an application message is rejected
// and leaves the receiver's state as it was.
func TestTamperedMessagesRejected(t *testing.T) {
	cs := MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	ga, gb := twoMembers(t, cs)
	app, err := ga.Protect([]byte("hi"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := ga.Commit(CommitOptions{ForcePath: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range [][]byte{app, res.Commit} {
		before, _ := gb.MarshalBinary()
		for i := range msg {
			bad := bytes.Clone(msg)
			bad[i] ^= 0x01
			if _, err := gb.ProcessMessage(bad); err == nil {
				t.Fatalf("byte %d flipped: accepted", i)
			}
		}
		after, _ := gb.MarshalBinary()
		if !bytes.Equal(before, after) {
			t.Fatal("rejected messages changed the state")
		}
	}
	// The genuine messages still go through after all the forgeries.
	if _, err := gb.ProcessMessage(app); err != nil {
		t.Fatal(err)
	}
	if _, err := gb.ProcessMessage(res.Commit); err != nil {
		t.Fatal(err)
	}
}

func TestRejectBadSignature(t *testing.T) {
	cs := MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	ga, gb := twoMembers(t, cs)
	// Alice signs with a key that is not her leaf's.
	other := newClient(t, cs, "other")
	real := ga.sigKey
	ga.sigKey = other.sig
	msg, err := ga.Protect([]byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ga.sigKey = real
	if _, err := gb.ProcessMessage(msg); !errors.Is(err, errSignature) {
		t.Fatalf("got %v, want signature error", err)
	}
}

func TestRejectWrongEpoch(t *testing.T) {
	cs := MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	ga, gb := twoMembers(t, cs)
	old, err := ga.Protect([]byte("old epoch"), nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ga.Commit(CommitOptions{ForcePath: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ga.ProcessMessage(res.Commit); err != nil {
		t.Fatal(err)
	}
	if _, err := gb.ProcessMessage(res.Commit); err != nil {
		t.Fatal(err)
	}
	if _, err := gb.ProcessMessage(old); !errors.Is(err, ErrWrongEpoch) {
		t.Fatalf("old-epoch message: got %v", err)
	}
	// Replaying the commit is also a wrong-epoch message now.
	if _, err := gb.ProcessMessage(res.Commit); !errors.Is(err, ErrWrongEpoch) {
		t.Fatalf("replayed commit: got %v", err)
	}
}

func TestRejectReplayedGeneration(t *testing.T) {
	cs := MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	ga, gb := twoMembers(t, cs)
	var msgs [][]byte
	for i := 0; i < 3; i++ {
		m, err := ga.Protect([]byte{byte(i)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	// Out of order delivery works; each generation opens exactly once.
	for _, i := range []int{2, 0, 1} {
		if _, err := gb.ProcessMessage(msgs[i]); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	for i := range msgs {
		if _, err := gb.ProcessMessage(msgs[i]); !errors.Is(err, ErrGenerationConsumed) {
			t.Fatalf("replayed message %d: got %v", i, err)
		}
	}
}

// A joiner rejects a ratchet tree whose parent hash was tampered with.
func TestRejectTamperedParentHash(t *testing.T) {
	cs := MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	ga, gb := twoMembers(t, cs)
	_ = gb
	carol := newClient(t, cs, "carol")
	// Give the tree a parent node: Bob commits with a path.
	res, err := gb.Commit(CommitOptions{ForcePath: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gb.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	if _, err := ga.ProcessMessage(res.Commit); err != nil {
		t.Fatal(err)
	}
	tree := ga.tree
	if tree.nodes[1].parent == nil {
		t.Fatal("expected a parent node")
	}
	if err := tree.verifyParentHashes(); err != nil {
		t.Fatalf("genuine tree: %v", err)
	}
	bad := tree.clone()
	p := *bad.nodes[1].parent
	p.parentHash = []byte{1, 2, 3}
	bad.setNode(1, node{parent: &p})
	if err := bad.verifyParentHashes(); err == nil {
		t.Fatal("tampered parent hash accepted")
	}
	// Through the API: a Welcome plus a tree whose parent key was swapped.
	kp := carol.keyPackage(t)
	res, err = ga.Commit(CommitOptions{Add: [][]byte{kp.KeyPackage()}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ga.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	bad = ga.tree.clone()
	for i := range bad.nodes {
		if pn := bad.nodes[i].parent; pn != nil {
			q := *pn
			q.parentHash = bytes.Clone(q.parentHash)
			if len(q.parentHash) > 0 {
				q.parentHash[0] ^= 1
			} else {
				q.parentHash = []byte{0}
			}
			bad.setNode(nodeIndex(i), node{parent: &q})
			break
		}
	}
	if _, err := JoinGroup(res.Welcome, kp, encode(bad), carol.cfg); err == nil {
		t.Fatal("join with a tampered tree accepted")
	}
	if _, err := JoinGroup(res.Welcome, kp, ga.RatchetTree(), carol.cfg); err != nil {
		t.Fatalf("join with the genuine tree: %v", err)
	}
}

// The credential callback can veto members.
func TestCredentialValidatorRejects(t *testing.T) {
	cs := MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	ga, gb := twoMembers(t, cs)
	eve := newClient(t, cs, "eve")
	gb.cfg.ValidateCredential = func(_ CipherSuite, c Credential, _ []byte) error {
		if string(c.Identity) == "eve" {
			return errors.New("not in any signed device list")
		}
		return nil
	}
	res, err := ga.Commit(CommitOptions{Add: [][]byte{eve.keyPackage(t).KeyPackage()}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gb.ProcessMessage(res.Commit); err == nil {
		t.Fatal("commit adding a rejected credential accepted")
	}
}

// With PastEpochs set, application messages that raced a commit still open
// (once), while handshake messages of the old epoch are refused and epochs
// beyond the limit are forgotten.
func TestPastEpochApplicationMessages(t *testing.T) {
	cs := MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	ga, gb := twoMembers(t, cs)
	gb.cfg.PastEpochs = 1
	late, err := ga.Protect([]byte("late"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	prop, err := ga.ProposeUpdate()
	if err != nil {
		t.Fatal(err)
	}
	ga.proposals = nil // Alice does not commit her own proposal below
	advance := func() {
		res, err := ga.Commit(CommitOptions{ForcePath: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ga.ProcessMessage(res.Commit); err != nil {
			t.Fatal(err)
		}
		if _, err := gb.ProcessMessage(res.Commit); err != nil {
			t.Fatal(err)
		}
	}
	advance()
	if err := checkStateRoundTrip(gb); err != nil {
		t.Fatal(err)
	}
	ev, err := gb.ProcessMessage(late)
	if err != nil {
		t.Fatalf("late message: %v", err)
	}
	if am := ev.(*ApplicationMessage); string(am.Data) != "late" || am.Epoch != 1 {
		t.Fatalf("late message: %+v", am)
	}
	if _, err := gb.ProcessMessage(late); !errors.Is(err, ErrGenerationConsumed) {
		t.Fatalf("replayed late message: %v", err)
	}
	if _, err := gb.ProcessMessage(prop); !errors.Is(err, ErrWrongEpoch) {
		t.Fatalf("old-epoch proposal: %v", err)
	}
	late2, _ := ga.Protect([]byte("later"), nil)
	advance()
	advance()
	if _, err := gb.ProcessMessage(late2); !errors.Is(err, ErrWrongEpoch) {
		t.Fatalf("message two epochs old: %v", err)
	}
}

// A KeyPackage whose leaf reuses a member's encryption key is refused
// (Section 7.3 uniqueness), as is a replayed member signature key.
func TestRejectDuplicateKeys(t *testing.T) {
	cs := MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	ga, gb := twoMembers(t, cs)
	s := ga.s
	mallory := newClient(t, cs, "mallory")
	bobLeaf := gb.tree.leaf(gb.self)
	kp := mallory.keyPackage(t)
	kp.kp.leafNode.encryptionKey = bytes.Clone(bobLeaf.encryptionKey)
	if err := kp.kp.leafNode.sign(s, mallory.sig, nil, 0); err != nil {
		t.Fatal(err)
	}
	sig, err := s.signWithLabel(mallory.sig, "KeyPackageTBS", kp.kp.tbs())
	if err != nil {
		t.Fatal(err)
	}
	kp.kp.signature = sig
	if _, err := ga.Commit(CommitOptions{Add: [][]byte{kp.KeyPackage()}}); err == nil {
		t.Fatal("KeyPackage reusing a member's encryption key accepted")
	}
	// Bob's own identity cannot be added a second time.
	bob2 := &testClient{name: "bob", sig: gb.sigKey, cred: Credential{Type: CredentialBasic, Identity: []byte("bob")}, cfg: Config{Rand: newDetRand("bob2")}}
	if _, err := ga.Commit(CommitOptions{Add: [][]byte{bob2.keyPackage(t).KeyPackage()}}); err == nil {
		t.Fatal("second leaf with a member's signature key accepted")
	}
	if ga.HasPendingCommit() {
		t.Fatal("a failed commit left a pending commit")
	}
}

// A member whose capabilities do not cover the credential types in use is
// refused (Section 7.3).
func TestRejectIncompatibleCredentialType(t *testing.T) {
	cs := MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	ga, _ := twoMembers(t, cs)
	x := newClient(t, cs, "x509-only")
	caps := defaultCapabilities(cs)
	caps.Credentials = []uint16{CredentialX509}
	kp, err := NewKeyPackage(cs, x.sig, Credential{Type: CredentialX509, Certificates: [][]byte{{1, 2, 3}}},
		KeyPackageOptions{Capabilities: &caps}, x.cfg.Rand)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ga.Commit(CommitOptions{Add: [][]byte{kp.KeyPackage()}}); err == nil {
		t.Fatal("leaf that does not support the basic credentials in use accepted")
	}
	caps.Credentials = []uint16{CredentialX509, CredentialBasic}
	kp, err = NewKeyPackage(cs, x.sig, Credential{Type: CredentialX509, Certificates: [][]byte{{1, 2, 3}}},
		KeyPackageOptions{Capabilities: &caps}, x.cfg.Rand)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ga.Commit(CommitOptions{Add: [][]byte{kp.KeyPackage()}}); err != nil {
		t.Fatalf("compatible leaf refused: %v", err)
	}
}
