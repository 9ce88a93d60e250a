package keytrans

import (
	"bytes"
	"testing"
)

func FuzzParseEntry(f *testing.F) {
	f.Add(make([]byte, EntrySize))
	f.Add(mustMarshal(f, &Entry{Kind: KindAccountState, Version: 1, TimestampMs: 5}))
	f.Add([]byte{1, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseEntry(data)
		if err != nil {
			return
		}
		if got := mustMarshal(t, e); !bytes.Equal(got, data) {
			t.Fatalf("round trip %x != %x", got, data)
		}
	})
}

func FuzzParseCheckpointBody(f *testing.F) {
	f.Add([]byte("example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"))
	f.Add([]byte("o\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"))
	f.Add([]byte("o\n01\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"))
	f.Add([]byte("o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\next\n"))
	// Found by the fuzzer: base64 decoding skips a carriage return.
	f.Add([]byte("0\n0\n000000\r0000000000000000000000000000000000000=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCheckpointBody(data)
		if err != nil {
			return
		}
		if got, err := c.Body(); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("round trip %q != %q (%v)", got, data, err)
		}
	})
}

// FuzzOpenCheckpoint feeds arbitrary signed notes to checkpoint
// verification under the test world's keys.
func FuzzOpenCheckpoint(f *testing.F) {
	w := newWorld(f, "fuzz-cp")
	w.publish(w.newAccount())
	cfg := w.config()
	f.Add(w.checkpoint())
	f.Add(w.checkpoint(0))
	f.Add([]byte("log.ward.example/kt\n1\n\n— x AAAA\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := OpenCheckpoint(data, cfg.Log, &cfg.Witnesses, w.now, cfg.Freshness)
		if err != nil {
			return
		}
		if len(sc.Cosigned) < cfg.Witnesses.Threshold || sc.Origin != testOrigin {
			t.Fatal("accepted checkpoint without quorum")
		}
	})
}

func FuzzParseLookupResponse(f *testing.F) {
	w := newWorld(f, "fuzz-resp")
	a := w.newAccount()
	w.publish(a)
	f.Add(mustMarshal(f, w.lookupFor(a.label(), -1, w.checkpoint(), 0)))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseLookupResponse(data)
		if err != nil {
			return
		}
		if got := mustMarshal(t, r); !bytes.Equal(got, data) {
			t.Fatal("round trip")
		}
	})
}

// FuzzVerifyLookup checks that no response, however malformed, panics or
// modifies the input state, and that an accepted one is the logged value.
func FuzzVerifyLookup(f *testing.F) {
	w := newWorld(f, "fuzz-verify")
	a := w.newAccount()
	w.publish(a)
	w.publish(w.newAccount())
	v := w.verifier()
	st := NewClientState()
	good := w.lookup(a.label(), st)
	f.Add(good)
	f.Add(good[:len(good)/2])
	before := mustMarshal(f, st)
	f.Fuzz(func(t *testing.T, data []byte) {
		next, got, err := v.VerifyLookup(st, a.label(), data, w.now)
		if !bytes.Equal(before, mustMarshal(t, st)) {
			t.Fatal("input state modified")
		}
		if err != nil {
			return
		}
		if next == nil || got.State.AccountID != a.aid || !got.State.AIK.Equal(a.aik.Public()) {
			t.Fatal("accepted a value that is not Alice's")
		}
	})
}

func FuzzParseClientState(f *testing.F) {
	f.Add(mustMarshal(f, NewClientState()))
	f.Add(mustMarshal(f, NewClientState(LabelID{1}, LabelID{2})))
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseClientState(data)
		if err != nil {
			return
		}
		if got := mustMarshal(t, s); !bytes.Equal(got, data) {
			t.Fatal("round trip")
		}
	})
}

func FuzzParseEvidence(f *testing.F) {
	w := newWorld(f, "fuzz-evidence")
	w.publish(w.newAccount())
	w.publish(w.newAccount())
	cp := w.checkpoint()
	p, _ := ProveInclusion(w.hashes, 2, 1)
	ev := &Evidence{Kind: AlertUnauthored, Checkpoint: cp, LeafIndex: 1, Entry: w.entries[1], Inclusion: p}
	f.Add(mustMarshal(f, ev))
	f.Add([]byte{1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseEvidence(data)
		if err != nil {
			return
		}
		if got := mustMarshal(t, e); !bytes.Equal(got, data) {
			t.Fatal("round trip")
		}
		if entry, err := VerifyEvidence(e, w.logKey()); err == nil && entry == nil {
			t.Fatal("verified evidence without an entry")
		}
	})
}

func FuzzParseAccountState(f *testing.F) {
	w := newWorld(f, "fuzz-state")
	a := w.newAccount()
	f.Add(w.stateValue(a, a.aik))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseAccountState(data)
		if err != nil {
			return
		}
		if got := mustMarshal(t, s); !bytes.Equal(got, data) {
			t.Fatal("round trip")
		}
	})
}

func FuzzParseHandleBinding(f *testing.F) {
	f.Add(mustMarshal(f, &HandleBinding{Handle: "alice"}))
	f.Add([]byte{1, 1, 'A'})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseHandleBinding(data)
		if err != nil {
			return
		}
		if got := mustMarshal(t, h); !bytes.Equal(got, data) {
			t.Fatal("round trip")
		}
	})
}

// FuzzWitnessAddCheckpoint runs the witness on arbitrary request bodies: it
// must never panic, and must cosign only checkpoints consistent with what it
// stored.
func FuzzWitnessAddCheckpoint(f *testing.F) {
	w := newWorld(f, "fuzz-witness")
	for range 5 {
		w.publish(w.newAccount())
	}
	root3, _ := TreeHash(w.hashes, 3)
	stored := WitnessState{Size: 3, Hash: root3}
	cp := w.checkpoint(1)
	p, _ := ProveConsistency(w.hashes, 3, 5)
	f.Add((&AddCheckpointRequest{OldSize: 3, Proof: p, Checkpoint: cp}).Marshal())
	f.Add((&AddCheckpointRequest{OldSize: 0, Checkpoint: cp}).Marshal())
	f.Add([]byte("old 0\n\n"))
	root5, _ := TreeHash(w.hashes, 5)
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := ParseAddCheckpointRequest(data)
		if err != nil {
			return
		}
		if !bytes.Equal(req.Marshal(), data) {
			t.Fatal("request round trip")
		}
		st, line, err := w.witnesses[0].AddCheckpoint(req, stored, w.now)
		if err != nil {
			if st != stored {
				t.Fatal("state changed on refusal")
			}
			return
		}
		if st.Size == 5 && st.Hash != root5 || st.Size == 3 && st.Hash != root3 || st.Size != 3 && st.Size != 5 {
			t.Fatalf("cosigned an inconsistent tree %+v", st)
		}
		if _, err := ParseCosignatureLines(line); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzParseCosignatureLines(f *testing.F) {
	f.Add([]byte("— w AAAA\n"))
	f.Add([]byte("— w AAAA\n— v BBBB\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lines, err := ParseCosignatureLines(data)
		if err != nil {
			return
		}
		if !bytes.Equal(bytes.Join(lines, nil), data) {
			t.Fatal("lines do not reassemble the body")
		}
	})
}

// FuzzCheckAccountUpdate opens client uploads on the log side.
func FuzzCheckAccountUpdate(f *testing.F) {
	w := newWorld(f, "fuzz-update")
	a := w.newAccount()
	v0 := w.stateValue(a, a.aik)
	w.appendValue(a.label(), v0, true)
	w.addDevice(a)
	f.Add(w.stateValue(a, a.aik))
	f.Add(v0)
	f.Fuzz(func(t *testing.T, next []byte) {
		st, list, err := CheckAccountUpdate(a.label(), v0, next)
		if err != nil {
			return
		}
		if st.AccountID != a.aid || list.AccountID != a.aid || st.PrevValueHash != ValueHash(v0) {
			t.Fatal("accepted an update that does not chain to the account")
		}
	})
}
