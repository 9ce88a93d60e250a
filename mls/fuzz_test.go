package mls

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/cryptobyte"
)

// Boundary seeds shared by every decoder: empty input, a lone byte, the
// reserved 0b11 varint prefix, non-minimal varints and maximal lengths.
var boundarySeeds = [][]byte{
	{}, {0}, {1}, {0xff}, {0xc0}, {0x40, 0x01}, {0x80, 0x00, 0x00, 0x01}, {0xbf, 0xff, 0xff, 0xff},
	{0, 1, 0, 1}, {0, 1, 0, 2}, {0, 1, 0, 3}, {0, 1, 0, 4}, {0, 1, 0, 5}, {0, 1, 0, 6}, {0, 2},
}

// messageSeeds adds the codec vectors when the vector directory is present.
func messageSeeds(f *testing.F, fields ...string) {
	for _, s := range boundarySeeds {
		f.Add(s)
	}
	dir := os.Getenv("MLS_TEST_VECTORS")
	if dir == "" {
		wd, _ := os.Getwd()
		dir = filepath.Join(filepath.Dir(filepath.Dir(wd)), "shared", "mls-test-vectors")
	}
	data, err := os.ReadFile(filepath.Join(dir, "messages.json"))
	if err != nil {
		return
	}
	var cases []map[string]string
	if json.Unmarshal(data, &cases) != nil {
		return
	}
	for i, c := range cases {
		if i >= 20 {
			break
		}
		for _, fld := range fields {
			if b, err := hex.DecodeString(c[fld]); err == nil {
				f.Add(b)
			}
		}
	}
}

func FuzzMLSMessage(f *testing.F) {
	messageSeeds(f, "mls_welcome", "mls_group_info", "mls_key_package", "public_message_application",
		"public_message_proposal", "public_message_commit", "private_message")
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeMLSMessage(data)
		info, ierr := InspectMessage(data)
		if (err == nil) != (ierr == nil) {
			t.Fatalf("InspectMessage and the decoder disagree: %v / %v", ierr, err)
		}
		if err != nil {
			return
		}
		if info.WireFormat != m.wireFormat {
			t.Fatal("InspectMessage reports another wire format")
		}
		if got := encode(m); !bytes.Equal(got, data) {
			t.Fatalf("re-encoding differs:\n%x\n%x", got, data)
		}
	})
}

func FuzzKeyPackage(f *testing.F) {
	messageSeeds(f, "mls_key_package")
	f.Fuzz(func(t *testing.T, data []byte) {
		kp := new(keyPackage)
		if err := decodeAll(data, "KeyPackage", kp.unmarshal); err == nil {
			if got := encode(kp); !bytes.Equal(got, data) {
				t.Fatal("re-encoding differs")
			}
		}
		if _, err := ValidateKeyPackage(data, 0, nil); err != nil {
			return
		}
	})
}

func FuzzWelcome(f *testing.F) {
	messageSeeds(f, "mls_welcome")
	c := newClient(f, 1, "fuzz-joiner")
	kp := c.keyPackage(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		w := new(welcome)
		if err := decodeAll(data, "Welcome", w.unmarshal); err == nil {
			if got := encode(w); !bytes.Equal(got, data) {
				t.Fatal("re-encoding differs")
			}
			msg := encode(&mlsMessage{wireFormat: wireFormatWelcome, welcome: w})
			if _, err := JoinGroup(msg, kp, nil, c.cfg); err == nil {
				t.Fatal("random Welcome accepted")
			}
		}
	})
}

func FuzzGroupInfo(f *testing.F) {
	messageSeeds(f, "mls_group_info")
	c := newClient(f, 1, "fuzz-external")
	f.Fuzz(func(t *testing.T, data []byte) {
		gi := new(groupInfo)
		if err := decodeAll(data, "GroupInfo", gi.unmarshal); err != nil {
			return
		}
		if got := encode(gi); !bytes.Equal(got, data) {
			t.Fatal("re-encoding differs")
		}
		if gi.groupContext.cipherSuite != 1 {
			return
		}
		msg := encode(&mlsMessage{wireFormat: wireFormatGroupInfo, groupInfo: gi})
		if _, _, err := JoinExternal(msg, nil, c.sig, c.cred, ExternalJoinOptions{}, c.cfg); err == nil {
			t.Fatal("random GroupInfo accepted")
		}
	})
}

func FuzzRatchetTree(f *testing.F) {
	messageSeeds(f, "ratchet_tree")
	s, _ := getSuite(1)
	f.Fuzz(func(t *testing.T, data []byte) {
		tree, err := decodeRatchetTree(s, data)
		if err != nil {
			return
		}
		if got := encode(tree); !bytes.Equal(got, data) {
			t.Fatal("re-encoding differs")
		}
		tree.rootHash()
		for i := range tree.nodes {
			tree.resolution(nodeIndex(i))
		}
		_ = tree.verifyStructure([]byte("group"))
	})
}

// stateSeeds returns serialized states of a small live group.
func stateSeeds(f *testing.F) (*Group, [][]byte) {
	cs := MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	alice, bob := newClient(f, cs, "alice"), newClient(f, cs, "bob")
	ga, err := NewGroup(cs, []byte("fuzz"), alice.sig, alice.cred, nil, alice.cfg)
	if err != nil {
		f.Fatal(err)
	}
	var seeds [][]byte
	st, _ := ga.MarshalBinary()
	seeds = append(seeds, st)
	kp := bob.keyPackage(f)
	kps, _ := kp.MarshalBinary()
	seeds = append(seeds, kps)
	res, err := ga.Commit(CommitOptions{Add: [][]byte{kp.KeyPackage()}})
	if err != nil {
		f.Fatal(err)
	}
	st, _ = ga.MarshalBinary() // with a pending commit
	seeds = append(seeds, st)
	if _, err := ga.MergePendingCommit(); err != nil {
		f.Fatal(err)
	}
	gb, err := JoinGroup(res.Welcome, kp, ga.RatchetTree(), bob.cfg)
	if err != nil {
		f.Fatal(err)
	}
	m, _ := ga.Protect([]byte("x"), nil)
	m2, _ := ga.Protect([]byte("y"), nil)
	gb.ProcessMessage(m2) // leaves a skipped key
	_ = m
	st, _ = gb.MarshalBinary()
	seeds = append(seeds, st)
	return gb, seeds
}

func FuzzGroupState(f *testing.F) {
	_, seeds := stateSeeds(f)
	for _, s := range append(seeds, boundarySeeds...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := UnmarshalGroup(data, Config{})
		if err != nil {
			return
		}
		got, err := g.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Fatal("state does not round-trip")
		}
	})
}

func FuzzKeyPackageBundle(f *testing.F) {
	_, seeds := stateSeeds(f)
	for _, s := range append(seeds, boundarySeeds...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := UnmarshalKeyPackageBundle(data)
		if err != nil {
			return
		}
		got, err := b.MarshalBinary()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatal("bundle does not round-trip")
		}
	})
}

// FuzzProcessMessage feeds attacker-controlled bytes to a live member.
func FuzzProcessMessage(f *testing.F) {
	g, _ := stateSeeds(f)
	for _, s := range boundarySeeds {
		f.Add(s)
	}
	st, _ := g.MarshalBinary()
	// Seeds: a genuine application message and commit to mutate from.
	a, _ := UnmarshalGroup(st, g.cfg)
	if m, err := a.Protect([]byte("seed"), []byte("ad")); err == nil {
		f.Add(m)
	}
	if res, err := a.Commit(CommitOptions{ForcePath: true}); err == nil {
		f.Add(res.Commit)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := UnmarshalGroup(st, g.cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = h.ProcessMessage(data)
	})
}

// FuzzVarint checks the §2.1.2 decoder against the encoder.
func FuzzVarint(f *testing.F) {
	for _, s := range boundarySeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := cryptobyte.String(data)
		n, ok := readVarint(&s)
		if !ok {
			return
		}
		var b cryptobyte.Builder
		addVarint(&b, int(n))
		if enc := b.BytesOrPanic(); !bytes.Equal(enc, data[:len(enc)]) {
			t.Fatalf("non-minimal varint accepted: %x", data)
		}
	})
}
