package mls

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"testing"
)

// detRand is a deterministic randomness source for tests.
type detRand struct {
	seed    [32]byte
	counter uint64
	buf     []byte
}

func newDetRand(label string) *detRand { return &detRand{seed: sha256.Sum256([]byte(label))} }

func (r *detRand) Read(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if len(r.buf) == 0 {
			var c [8]byte
			binary.BigEndian.PutUint64(c[:], r.counter)
			r.counter++
			h := sha256.Sum256(append(r.seed[:], c[:]...))
			r.buf = h[:]
		}
		k := copy(p, r.buf)
		r.buf = r.buf[k:]
		p = p[k:]
	}
	return n, nil
}

var _ io.Reader = (*detRand)(nil)

type testClient struct {
	name string
	sig  *SignaturePrivateKey
	cred Credential
	cfg  Config
}

func newClient(t testing.TB, cs CipherSuite, name string) *testClient {
	t.Helper()
	r := newDetRand(name + cs.String())
	sig, err := GenerateSignatureKey(cs, r)
	if err != nil {
		t.Fatal(err)
	}
	return &testClient{name: name, sig: sig, cred: Credential{Type: CredentialBasic, Identity: []byte(name)}, cfg: Config{Rand: r}}
}

func (c *testClient) keyPackage(t testing.TB) *KeyPackageBundle {
	t.Helper()
	kp, err := NewKeyPackage(c.sig.suite, c.sig, c.cred, KeyPackageOptions{}, c.cfg.Rand)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// groupSet is a set of members that process every commit in lock step.
type groupSet struct {
	t       testing.TB
	members map[string]*Group
}

func (gs *groupSet) checkAgree() {
	gs.t.Helper()
	var ref []byte
	var refName string
	for name, g := range gs.members {
		a := g.EpochAuthenticator()
		if ref == nil {
			ref, refName = a, name
			continue
		}
		if !bytes.Equal(a, ref) {
			gs.t.Fatalf("%s and %s disagree on the epoch authenticator", name, refName)
		}
		e1, _ := g.Export("test", nil, 32)
		e2, _ := gs.members[refName].Export("test", nil, 32)
		if !bytes.Equal(e1, e2) {
			gs.t.Fatalf("%s and %s disagree on the exporter", name, refName)
		}
	}
}

// commit has committer create a commit with opts, every other member process
// it, and the joiners join.
func (gs *groupSet) commit(committer string, opts CommitOptions, joiners map[string]*KeyPackageBundle, joinerCfg map[string]Config) *CommitEvent {
	gs.t.Helper()
	g := gs.members[committer]
	res, err := g.Commit(opts)
	if err != nil {
		gs.t.Fatalf("%s commit: %v", committer, err)
	}
	for name, m := range gs.members {
		if name == committer {
			continue
		}
		ev, err := m.ProcessMessage(res.Commit)
		if err != nil {
			gs.t.Fatalf("%s processing commit of %s: %v", name, committer, err)
		}
		if ce := ev.(*CommitEvent); ce.SelfRemoved {
			delete(gs.members, name)
		}
	}
	ev, err := g.ProcessMessage(res.Commit) // echoed back by the delivery service
	if err != nil {
		gs.t.Fatalf("%s merging own commit: %v", committer, err)
	}
	var tree []byte
	if !opts.RatchetTreeInWelcome {
		tree = g.RatchetTree()
	}
	for name, kp := range joiners {
		ng, err := JoinGroup(res.Welcome, kp, tree, joinerCfg[name])
		if err != nil {
			gs.t.Fatalf("%s joining: %v", name, err)
		}
		gs.members[name] = ng
	}
	gs.checkAgree()
	return ev.(*CommitEvent)
}

func TestGroupLifecycle(t *testing.T) {
	for _, cs := range []CipherSuite{1, 2, 3, 5, 7, 0xF001} {
		t.Run(cs.String(), func(t *testing.T) {
			alice := newClient(t, cs, "alice")
			ga, err := NewGroup(cs, []byte("group-"+cs.String()), alice.sig, alice.cred, nil, alice.cfg)
			if err != nil {
				t.Fatal(err)
			}
			gs := &groupSet{t: t, members: map[string]*Group{"alice": ga}}
			clients := map[string]*testClient{"alice": alice}
			// Alice adds Bob and Carol in one commit (tree in the Welcome).
			joiners := map[string]*KeyPackageBundle{}
			cfgs := map[string]Config{}
			var kps [][]byte
			for _, n := range []string{"bob", "carol"} {
				c := newClient(t, cs, n)
				clients[n] = c
				joiners[n] = c.keyPackage(t)
				cfgs[n] = c.cfg
				kps = append(kps, joiners[n].KeyPackage())
			}
			ev := gs.commit("alice", CommitOptions{Add: kps, RatchetTreeInWelcome: true}, joiners, cfgs)
			if len(ev.Added) != 2 || ev.Epoch != 1 {
				t.Fatalf("commit event %+v", ev)
			}
			// Bob adds Dave with the tree out of band.
			dave := newClient(t, cs, "dave")
			clients["dave"] = dave
			dkp := dave.keyPackage(t)
			gs.commit("bob", CommitOptions{Add: [][]byte{dkp.KeyPackage()}}, map[string]*KeyPackageBundle{"dave": dkp}, map[string]Config{"dave": dave.cfg})
			// Carol self-updates; Dave proposes an update that Alice commits.
			gs.commit("carol", CommitOptions{ForcePath: true}, nil, nil)
			prop, err := gs.members["dave"].ProposeUpdate()
			if err != nil {
				t.Fatal(err)
			}
			for n, m := range gs.members {
				if n == "dave" {
					continue
				}
				if _, err := m.ProcessMessage(prop); err != nil {
					t.Fatalf("%s processing update proposal: %v", n, err)
				}
			}
			gs.commit("alice", CommitOptions{}, nil, nil)
			// Application messages in every direction, with authenticated data.
			for from, g := range gs.members {
				msg, err := g.Protect([]byte("hello from "+from), []byte("franking:"+from))
				if err != nil {
					t.Fatal(err)
				}
				for to, h := range gs.members {
					if to == from {
						continue
					}
					ev, err := h.ProcessMessage(msg)
					if err != nil {
						t.Fatalf("%s -> %s: %v", from, to, err)
					}
					am := ev.(*ApplicationMessage)
					if string(am.Data) != "hello from "+from || string(am.AuthenticatedData) != "franking:"+from || am.Sender != g.OwnLeafIndex() {
						t.Fatalf("%s -> %s: got %+v", from, to, am)
					}
					// A replay is rejected.
					if _, err := h.ProcessMessage(msg); err == nil {
						t.Fatalf("%s -> %s: replay accepted", from, to)
					}
				}
			}
			// Carol removes Bob.
			bobLeaf := gs.members["bob"].OwnLeafIndex()
			bob := gs.members["bob"]
			ev = gs.commit("carol", CommitOptions{Remove: []uint32{bobLeaf}}, nil, nil)
			if len(ev.Removed) != 1 || ev.Removed[0].Index != bobLeaf {
				t.Fatalf("remove event %+v", ev)
			}
			if bob.Active() || gs.members["bob"] != nil {
				t.Fatal("bob is still active after removal")
			}
			if len(gs.members["alice"].Members()) != 3 {
				t.Fatalf("roster: %+v", gs.members["alice"].Members())
			}
			// Erin joins by external commit.
			erin := newClient(t, cs, "erin")
			gi, err := gs.members["alice"].GroupInfo(true)
			if err != nil {
				t.Fatal(err)
			}
			ge, ext, err := JoinExternal(gi, nil, erin.sig, erin.cred, ExternalJoinOptions{}, erin.cfg)
			if err != nil {
				t.Fatal(err)
			}
			for n, m := range gs.members {
				if _, err := m.ProcessMessage(ext); err != nil {
					t.Fatalf("%s processing external commit: %v", n, err)
				}
			}
			gs.members["erin"] = ge
			gs.checkAgree()
			// State survives serialization.
			for n, m := range gs.members {
				if err := checkStateRoundTrip(m); err != nil {
					t.Fatalf("%s: %v", n, err)
				}
			}
			gs.commit("erin", CommitOptions{ForcePath: true, Private: true}, nil, nil)
			t.Logf("final epoch %d with %d members", gs.members["alice"].Epoch(), len(gs.members))
			_ = fmt.Sprint()
		})
	}
}

// The delivery service echoes every message to its sender too: an echoed
// proposal is cached once and the commit still applies.
func TestEchoedProposal(t *testing.T) {
	cs := MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	ga, gb := twoMembers(t, cs)
	prop, err := gb.ProposeRemove(ga.OwnLeafIndex())
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []*Group{ga, gb} { // gb receives its own proposal back
		if _, err := g.ProcessMessage(prop); err != nil {
			t.Fatal(err)
		}
	}
	if len(gb.proposals) != 1 {
		t.Fatalf("%d cached proposals, want 1", len(gb.proposals))
	}
	res, err := gb.Commit(CommitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gb.ProcessMessage(res.Commit); err != nil {
		t.Fatal(err)
	}
	ev, err := ga.ProcessMessage(res.Commit)
	if err != nil {
		t.Fatal(err)
	}
	if !ev.(*CommitEvent).SelfRemoved || ga.Active() {
		t.Fatal("alice was not removed")
	}
	// A removed member's state still round-trips and stays inactive.
	if err := checkStateRoundTrip(ga); err != nil {
		t.Fatal(err)
	}
	st, _ := ga.MarshalBinary()
	if h, err := UnmarshalGroup(st, Config{}); err != nil || h.Active() {
		t.Fatalf("restored removed group: active=%v err=%v", h != nil && h.Active(), err)
	}
	if len(gb.Members()) != 1 {
		t.Fatalf("roster %+v", gb.Members())
	}
}

func TestInspectMessage(t *testing.T) {
	cs := MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	ga, gb := twoMembers(t, cs)
	carol := newClient(t, cs, "carol")
	res, err := ga.Commit(CommitOptions{Add: [][]byte{carol.keyPackage(t).KeyPackage()}, Remove: []uint32{gb.OwnLeafIndex()}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := InspectMessage(res.Commit)
	if err != nil {
		t.Fatal(err)
	}
	if info.WireFormat != WireFormatPublicMessage || info.ContentType != ContentCommit || info.Epoch != ga.Epoch() ||
		!bytes.Equal(info.GroupID, ga.GroupID()) || info.Sender == nil || info.Sender.Index != ga.OwnLeafIndex() ||
		info.Adds != 1 || len(info.Removes) != 1 || info.Removes[0] != gb.OwnLeafIndex() {
		t.Fatalf("commit info %+v", info)
	}
	app, _ := gb.Protect([]byte("x"), nil)
	if info, err = InspectMessage(app); err != nil || info.WireFormat != WireFormatPrivateMessage || info.Sender != nil || info.ContentType != ContentApplication {
		t.Fatalf("application info %+v, %v", info, err)
	}
	if info, err = InspectMessage(res.Welcome); err != nil || info.WireFormat != WireFormatWelcome || info.CipherSuite != cs {
		t.Fatalf("welcome info %+v, %v", info, err)
	}
}
