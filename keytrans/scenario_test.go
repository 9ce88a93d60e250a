package keytrans

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/wardchat/ward/identity"
)

// reject runs a lookup that must fail with target and checks that the state
// is left exactly as it was (design 5.4, test 11).
func reject(t *testing.T, v *Verifier, state *ClientState, l Label, resp []byte, now time.Time, target error) {
	t.Helper()
	before := mustMarshal(t, state)
	next, got, err := v.VerifyLookup(state, l, resp, now)
	if !errors.Is(err, target) {
		t.Fatalf("VerifyLookup error = %v, want %v", err, target)
	}
	if next != nil || got != nil {
		t.Fatal("VerifyLookup returned a state or result with an error")
	}
	if after := mustMarshal(t, state); !bytes.Equal(before, after) {
		t.Fatal("failed verification modified the input state")
	}
}

func accept(t *testing.T, v *Verifier, state *ClientState, l Label, resp []byte, now time.Time) (*ClientState, *VerifiedAccountState) {
	t.Helper()
	before := mustMarshal(t, state)
	next, got, err := v.VerifyLookup(state, l, resp, now)
	if err != nil {
		t.Fatalf("VerifyLookup: %v", err)
	}
	if after := mustMarshal(t, state); !bytes.Equal(before, after) {
		t.Fatal("successful verification modified the input state")
	}
	return next, got
}

func TestLookupHonest(t *testing.T) {
	w := newWorld(t, "honest")
	alice := w.newAccount()
	w.publish(alice)
	v := w.verifier()
	bob := NewClientState()
	bob1, got := accept(t, v, bob, alice.label(), w.lookup(alice.label(), bob), w.now)
	if got.Entry.Version != 0 || got.HadPrevious || got.DeviceList.Version != alice.list.Version ||
		!got.State.AIK.Equal(alice.aik.Public()) || got.State.AccountID != alice.aid {
		t.Fatalf("unexpected result %+v", got)
	}
	// The new state shares nothing with the old one.
	snapshot := mustMarshal(t, bob)
	scratch := bob1.Clone()
	bob1.Contacts[LabelID{0xff}] = ContactRecord{Version: 9}
	bob1.CheckpointNote[0] ^= 1
	if !bytes.Equal(snapshot, mustMarshal(t, bob)) {
		t.Fatal("returned state aliases the input")
	}
	bob1 = scratch
	// Alice links a device: version 1; Bob's next lookup carries a
	// consistency proof from the size he stored.
	w.addDevice(alice)
	w.publish(alice)
	for range 5 {
		w.publish(w.newAccount())
	}
	w.now = w.now.Add(time.Hour)
	bob2, got := accept(t, v, bob1, alice.label(), w.lookup(alice.label(), bob1), w.now)
	if got.Entry.Version != 1 || !got.Changed || got.PreviousVersion != 0 || len(got.DeviceList.Devices) != 2 {
		t.Fatalf("unexpected result %+v", got)
	}
	if bob2.Size != w.seq.Size || bob2.Contacts[got.Entry.LabelID].Version != 1 {
		t.Fatal("state not advanced")
	}
	// The same answer again is fine and unchanged.
	_, got = accept(t, v, bob2, alice.label(), w.lookup(alice.label(), bob2), w.now)
	if got.Changed {
		t.Fatal("same version reported as changed")
	}
}

// Design 5.4 test 1: key substitution, unlogged.
func TestUnloggedSubstitutionRejected(t *testing.T) {
	w := newWorld(t, "unlogged")
	alice, mallory := w.newAccount(), w.newAccount()
	w.publish(alice)
	v := w.verifier()
	bob := NewClientState()
	bob, _ = accept(t, v, bob, alice.label(), w.lookup(alice.label(), bob), w.now)

	// Mallory's keys presented as Alice's state, in place of the logged value.
	fake := &account{aid: alice.aid, aik: mallory.aik, list: mallory.list}
	fake.list = mustList(t, alice.aid, mallory.devices[0])
	r := w.lookupFor(alice.label(), -1, w.checkpoint(), bob.Size)
	r.Value = w.stateValue(fake, mallory.aik)
	reject(t, v, bob, alice.label(), mustMarshal(t, r), w.now, ErrCommitment)

	// With an entry and opening that match, but the entry not in the log.
	id, _ := ComputeLabelID(w.vrfKey, alice.label())
	c, _ := Commit(r.Opening, alice.label(), 1, r.Value)
	e := &Entry{Kind: KindAccountState, LabelID: id, Version: 1, Commitment: c, TimestampMs: w.now.UnixMilli()}
	e.PrevEntry = w.heads[id].LeafHash
	r.Entry = mustMarshal(t, e)
	c2, _ := Commit(r.Opening, alice.label(), 1, r.Value)
	if c2 != c {
		t.Fatal("commit not deterministic")
	}
	reject(t, v, bob, alice.label(), mustMarshal(t, r), w.now, ErrInclusion)
}

func mustList(t *testing.T, aid identity.AccountID, dk *identity.DeviceKeys) *identity.DeviceList {
	t.Helper()
	l, err := identity.NewDeviceList(aid, identity.DeviceEntry{ID: identity.PrimaryDevice, DevicePublicKeys: dk.Public()})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func aliceMonitor(w *world, alice *account) (*Monitor, *ClientState) {
	id, _ := ComputeLabelID(w.vrfKey, alice.label())
	return NewMonitor(map[LabelID]Kind{id: KindAccountState}), NewClientState(id)
}

// scan verifies the current checkpoint into state and scans all new entries.
func (w *world) scan(t *testing.T, m *Monitor, state *ClientState) (*ClientState, []Alert) {
	t.Helper()
	v := w.verifier()
	var proof, err = ProveConsistency(w.hashes, state.Size, w.seq.Size)
	if state.Size == 0 || err != nil {
		proof = nil
	}
	st, _, err := v.VerifyCheckpoint(state, w.checkpoint(), proof, w.now)
	if err != nil {
		t.Fatalf("VerifyCheckpoint: %v", err)
	}
	next, alerts, err := m.Scan(st, w.entries[st.MonitorCursor:st.Size], tileReader{hs: w.hashes}, w.authored)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return next, alerts
}

// Design 5.4 test 2: key substitution, logged — Bob accepts (KT detects, it
// does not prevent), Alice's monitor raises an alert with evidence.
func TestLoggedSubstitutionCaughtByOwner(t *testing.T) {
	w := newWorld(t, "logged")
	alice, mallory := w.newAccount(), w.newAccount()
	w.publish(alice)
	m, aliceState := aliceMonitor(w, alice)
	aliceState, alerts := w.scan(t, m, aliceState)
	if len(alerts) != 0 {
		t.Fatalf("alerts on honest log: %v", alerts)
	}
	v := w.verifier()
	bob := NewClientState()
	bob, _ = accept(t, v, bob, alice.label(), w.lookup(alice.label(), bob), w.now)

	rogue := &account{aid: alice.aid, list: mustList(t, alice.aid, mallory.devices[0])}
	w.appendValue(alice.label(), w.stateValue(rogue, mallory.aik), false)
	_, got := accept(t, v, bob, alice.label(), w.lookup(alice.label(), bob), w.now)
	if !got.Changed || got.State.AIK.Equal(alice.aik.Public()) {
		t.Fatal("Bob should see a changed identity key")
	}

	_, alerts = w.scan(t, m, aliceState)
	if len(alerts) != 1 || alerts[0].Kind != AlertUnauthored {
		t.Fatalf("alerts = %+v, want one unauthored", alerts)
	}
	ev, err := ParseEvidence(mustMarshal(t, alerts[0].Evidence))
	if err != nil {
		t.Fatal(err)
	}
	e, err := VerifyEvidence(ev, w.logKey())
	if err != nil {
		t.Fatalf("VerifyEvidence: %v", err)
	}
	if e.Version != 1 {
		t.Fatalf("evidence entry version %d", e.Version)
	}
	// Evidence with a flipped entry byte no longer verifies.
	ev.Entry[40] ^= 1
	if _, err := VerifyEvidence(ev, w.logKey()); err == nil {
		t.Fatal("tampered evidence verified")
	}
}

// Design 5.4 test 3: ghost device.
func TestGhostDevice(t *testing.T) {
	w := newWorld(t, "ghost")
	alice := w.newAccount()
	w.publish(alice)
	v := w.verifier()
	bob := NewClientState()
	bob, _ = accept(t, v, bob, alice.label(), w.lookup(alice.label(), bob), w.now)

	t.Run("unsigned", func(t *testing.T) {
		w := w.clone(false)
		// The server adds a device and signs the list with its own key,
		// but claims Alice's AIK: the logged value does not verify.
		serverKey, _ := identity.GenerateAccountKey(testRand("server aik"))
		ghost := &account{aid: alice.aid, list: alice.list}
		w.addDevice(ghost)
		sdl, _ := ghost.list.Sign(serverKey)
		st := &AccountState{AccountID: alice.aid, AIK: alice.aik.Public(), SignedDeviceList: sdl, PrevValueHash: w.prevValueHash(alice.label())}
		w.appendValue(alice.label(), mustMarshal(t, st), false)
		reject(t, v, bob, alice.label(), w.lookup(alice.label(), bob), w.now, ErrDeviceList)
	})
	t.Run("server identity key", func(t *testing.T) {
		w := w.clone(false)
		serverKey, _ := identity.GenerateAccountKey(testRand("server aik"))
		ghost := &account{aid: alice.aid, list: alice.list}
		w.addDevice(ghost)
		w.appendValue(alice.label(), w.stateValue(ghost, serverKey), false)
		_, got := accept(t, v, bob, alice.label(), w.lookup(alice.label(), bob), w.now)
		if got.State.AIK.Equal(alice.aik.Public()) || !got.Changed {
			t.Fatal("Bob must see the identity key change")
		}
		m, st := aliceMonitor(w, alice)
		if _, alerts := w.scan(t, m, st); len(alerts) != 1 || alerts[0].Kind != AlertUnauthored {
			t.Fatalf("alerts = %+v", alerts)
		}
	})
}

// Design 5.4 test 4: fork / split view.
func TestForkNoQuorum(t *testing.T) {
	w := newWorld(t, "fork")
	alice := w.newAccount()
	w.publish(alice)
	for range 3 {
		w.publish(w.newAccount())
	}
	v := w.verifier()
	bob := NewClientState()
	bob, _ = accept(t, v, bob, alice.label(), w.lookup(alice.label(), bob), w.now)

	// The honest branch gets an entry and witnesses cosign it.
	fork := w.clone(true)
	w.publish(w.newAccount())
	w.checkpoint()

	// The fork shows Bob Mallory's key for Alice at the same size.
	mallory := fork.newAccount()
	rogue := &account{aid: alice.aid, list: mustList(t, alice.aid, mallory.devices[0])}
	fork.appendValue(alice.label(), fork.stateValue(rogue, mallory.aik), false)

	t.Run("honest witnesses refuse", func(t *testing.T) {
		resp := mustMarshal(t, fork.lookupFor(alice.label(), -1, fork.checkpoint(), bob.Size))
		reject(t, v, bob, alice.label(), resp, fork.now, ErrNoQuorum)
	})
	forkCP := func(colluding int) []byte {
		root, _ := TreeHash(fork.hashes, fork.seq.Size)
		c := &Checkpoint{Origin: testOrigin, Size: fork.seq.Size, Hash: root}
		signed, _ := fork.signer.SignCheckpoint(c)
		body, _ := c.Body()
		for i := range colluding {
			line, _ := fork.witnesses[i].Cosigner().SignatureLine(body, fork.now)
			signed = AddCosignatures(signed, line)
		}
		return signed
	}
	t.Run("k-1 colluding witnesses", func(t *testing.T) {
		resp := mustMarshal(t, fork.lookupFor(alice.label(), -1, forkCP(1), bob.Size))
		reject(t, v, bob, alice.label(), resp, fork.now, ErrNoQuorum)
	})
	t.Run("duplicate cosignature counted once", func(t *testing.T) {
		cp := forkCP(1)
		root, _ := TreeHash(fork.hashes, fork.seq.Size)
		body, _ := (&Checkpoint{Origin: testOrigin, Size: fork.seq.Size, Hash: root}).Body()
		line, _ := fork.witnesses[0].Cosigner().SignatureLine(body, fork.now.Add(-time.Minute))
		resp := mustMarshal(t, fork.lookupFor(alice.label(), -1, AddCosignatures(cp, line), bob.Size))
		reject(t, v, bob, alice.label(), resp, fork.now, ErrNoQuorum)
	})
	t.Run("k colluding witnesses (threat-model boundary)", func(t *testing.T) {
		resp := mustMarshal(t, fork.lookupFor(alice.label(), -1, forkCP(2), bob.Size))
		forked, _ := accept(t, v, bob, alice.label(), resp, fork.now)
		// The fork is accepted, but the client is now stuck on it: the
		// honest branch is inconsistent with what it stored.
		reject(t, v, forked, alice.label(), w.lookup(alice.label(), forked), w.now, ErrInconsistent)
	})
}

// Design 5.4 test 5: rollback and truncation.
func TestRollbackAndTruncation(t *testing.T) {
	w := newWorld(t, "rollback")
	alice := w.newAccount()
	w.publish(alice)
	old := w.checkpoint()
	oldResp := w.lookupFor(alice.label(), -1, old, 0)
	trunc := w.clone(true)
	for range 4 {
		w.publish(w.newAccount())
	}
	v := w.verifier()
	bob := NewClientState()
	bob, _ = accept(t, v, bob, alice.label(), w.lookup(alice.label(), bob), w.now)

	t.Run("older checkpoint", func(t *testing.T) {
		reject(t, v, bob, alice.label(), mustMarshal(t, oldResp), w.now, ErrRollback)
	})
	t.Run("log missing entries", func(t *testing.T) {
		// A log that dropped entries and grew again past Bob's size.
		for range 6 {
			trunc.publish(trunc.newAccount())
		}
		root, _ := TreeHash(trunc.hashes, trunc.seq.Size)
		c := &Checkpoint{Origin: testOrigin, Size: trunc.seq.Size, Hash: root}
		cp, _ := trunc.signer.SignCheckpoint(c)
		body, _ := c.Body()
		for i := range 3 { // even with every witness colluding
			line, _ := trunc.witnesses[i].Cosigner().SignatureLine(body, w.now)
			cp = AddCosignatures(cp, line)
		}
		r := trunc.lookupFor(alice.label(), -1, cp, bob.Size)
		reject(t, v, bob, alice.label(), mustMarshal(t, r), w.now, ErrInconsistent)
		// And with the proof of the real log substituted.
		r.Consistency, _ = ProveConsistency(w.hashes, bob.Size, w.seq.Size)
		reject(t, v, bob, alice.label(), mustMarshal(t, r), w.now, ErrInconsistent)
	})
	t.Run("proof from the wrong size", func(t *testing.T) {
		w.publish(w.newAccount())
		r := w.lookupFor(alice.label(), -1, w.checkpoint(), 1)
		reject(t, v, bob, alice.label(), mustMarshal(t, r), w.now, ErrInconsistent)
	})
}

// Design 5.4 test 6: stale view.
func TestStaleCheckpoint(t *testing.T) {
	w := newWorld(t, "stale")
	alice := w.newAccount()
	w.publish(alice)
	v := w.verifier()
	resp := w.lookup(alice.label(), NewClientState())
	accept(t, v, NewClientState(), alice.label(), resp, w.now.Add(11*time.Hour))
	reject(t, v, NewClientState(), alice.label(), resp, w.now.Add(13*time.Hour), ErrNoQuorum)
	// Cosignatures from the future beyond the skew do not count either.
	reject(t, v, NewClientState(), alice.label(), resp, w.now.Add(-11*time.Minute), ErrNoQuorum)
	accept(t, v, NewClientState(), alice.label(), resp, w.now.Add(-9*time.Minute))
}

// Design 5.4 test 7: proof replay.
func TestProofReplayRejected(t *testing.T) {
	w := newWorld(t, "replay")
	alice, carol := w.newAccount(), w.newAccount()
	w.publish(alice)
	w.publish(carol)
	v := w.verifier()
	bob := NewClientState()
	// Carol's whole response served for Alice.
	reject(t, v, bob, alice.label(), w.lookup(carol.label(), bob), w.now, ErrVRF)
	// Alice's VRF proof with Carol's entry and value.
	r := w.lookupFor(carol.label(), -1, w.checkpoint(), 0)
	ra := w.lookupFor(alice.label(), -1, w.checkpoint(), 0)
	r.VRFProof = ra.VRFProof
	reject(t, v, bob, alice.label(), mustMarshal(t, r), w.now, ErrVRF)
	// Carol's VRF proof for Alice's entry.
	ra.VRFProof = w.lookupFor(carol.label(), -1, w.checkpoint(), 0).VRFProof
	reject(t, v, bob, alice.label(), mustMarshal(t, ra), w.now, ErrVRF)
}

// Design 5.4 test 8: version regression.
func TestVersionRegression(t *testing.T) {
	w := newWorld(t, "regression")
	alice := w.newAccount()
	for range 4 {
		w.publish(alice)
		w.addDevice(alice)
	}
	v := w.verifier()
	bob := NewClientState()
	bob, got := accept(t, v, bob, alice.label(), w.lookup(alice.label(), bob), w.now)
	if got.Entry.Version != 3 {
		t.Fatalf("version %d", got.Entry.Version)
	}
	r := w.lookupFor(alice.label(), 2, w.checkpoint(), bob.Size)
	reject(t, v, bob, alice.label(), mustMarshal(t, r), w.now, ErrVersionRegression)
	// Same version, different value: equivocation.
	bad := bob.Clone()
	rec := bad.Contacts[got.Entry.LabelID]
	rec.ValueHash[0] ^= 1
	bad.Contacts[got.Entry.LabelID] = rec
	reject(t, v, bad, alice.label(), w.lookup(alice.label(), bad), w.now, ErrEquivocation)
}

// Every flipped byte of a response is rejected and leaves the state as is.
func TestLookupTamperEveryByte(t *testing.T) {
	w := newWorld(t, "tamper")
	alice := w.newAccount()
	w.publish(alice)
	for range 3 {
		w.publish(w.newAccount())
	}
	v := w.verifier()
	bob := NewClientState()
	bob, _ = accept(t, v, bob, alice.label(), w.lookup(alice.label(), bob), w.now)
	w.addDevice(alice)
	w.publish(alice)
	w.publish(w.newAccount())
	resp := w.lookup(alice.label(), bob)
	accept(t, v, bob, alice.label(), resp, w.now)
	before := mustMarshal(t, bob)
	cpStart := bytes.Index(resp, []byte(testOrigin))
	for i := range resp {
		bad := bytes.Clone(resp)
		bad[i] ^= 0x01
		if _, _, err := v.VerifyLookup(bob, alice.label(), bad, w.now); err == nil {
			// Flipping a bit in a cosignature of a witness beyond the
			// quorum, or its key-ID, leaves a valid response; anything
			// else must fail.
			if i < cpStart {
				t.Fatalf("flipped byte %d accepted", i)
			}
			if !cosigOnly(resp, i) {
				t.Fatalf("flipped byte %d accepted", i)
			}
		}
	}
	if !bytes.Equal(before, mustMarshal(t, bob)) {
		t.Fatal("state modified")
	}
}

// cosigOnly reports whether byte i of a response lies in a witness
// cosignature line (one of three, with a 2-of-3 policy, so a single bad
// line still leaves a quorum).
func cosigOnly(resp []byte, i int) bool {
	lines := bytes.Split(resp, []byte("\n"))
	off := 0
	for _, l := range lines {
		if i >= off && i < off+len(l) {
			return bytes.HasPrefix(l, []byte("— witness"))
		}
		off += len(l) + 1
	}
	return false
}

func TestHandleLookup(t *testing.T) {
	w := newWorld(t, "handle")
	alice, mallory := w.newAccount(), w.newAccount()
	hl := HandleLabel("Alice")
	w.appendValue(hl, mustMarshal(t, &HandleBinding{Handle: "alice", AccountID: alice.aid}), true)
	v := w.verifier()
	st := NewClientState()
	resp := w.lookup(hl, st)
	_, got, err := v.VerifyHandleLookup(st, hl, resp, w.now)
	if err != nil || got.Binding.AccountID != alice.aid {
		t.Fatalf("VerifyHandleLookup: %v", err)
	}
	// A handle response is not an account response.
	if _, _, err := v.VerifyLookup(st, hl, resp, w.now); !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v", err)
	}
	// The server rebinds the handle to Mallory: Alice's monitor alerts.
	id, _ := ComputeLabelID(w.vrfKey, hl)
	aid, _ := ComputeLabelID(w.vrfKey, alice.label())
	m := NewMonitor(map[LabelID]Kind{id: KindHandleBinding, aid: KindAccountState})
	ms := NewClientState(id, aid)
	w.appendValue(hl, mustMarshal(t, &HandleBinding{Handle: "alice", AccountID: mallory.aid, PrevValueHash: w.prevValueHash(hl)}), false)
	if _, alerts := w.scan(t, m, ms); len(alerts) != 1 || alerts[0].Kind != AlertHandleRebound {
		t.Fatalf("alerts = %+v", alerts)
	}
}

// A checkpoint the client already stored is not re-verified, but its
// freshness is; forged cosignature lines never reach the stored note.
func TestStoredCheckpointReuse(t *testing.T) {
	w := newWorld(t, "reuse")
	alice := w.newAccount()
	w.publish(alice)
	v := w.verifier()
	cp := w.checkpoint()
	// Append a forged cosignature from witness 2 dated 10 hours later: it
	// is beyond the skew now and never verified.
	root, _ := TreeHash(w.hashes, w.seq.Size)
	body, _ := (&Checkpoint{Origin: testOrigin, Size: w.seq.Size, Hash: root}).Body()
	impostor, _ := NewCosigner("witness2.example/w", readSeed(t, testRand("impostor")))
	forged, _ := impostor.SignatureLine(body, w.now.Add(10*time.Hour))
	real := w.witnesses[2].Cosigner().Public()
	// Give the forged line the real witness's key ID so it is considered.
	forged = withKeyID(forged, real.KeyID())
	resp := w.lookupFor(alice.label(), -1, AddCosignatures(cp[:bytes.Index(cp, []byte("— witness2"))], forged), 0)
	st, _ := accept(t, v, NewClientState(), alice.label(), mustMarshal(t, resp), w.now)
	if bytes.Contains(st.CheckpointNote, []byte("witness2")) {
		t.Fatal("stored note keeps an unverified cosignature")
	}
	// Same checkpoint later: fine within the window, stale after it, and the
	// forged line in the response does not rescue it.
	accept(t, v, st, alice.label(), mustMarshal(t, resp), w.now.Add(11*time.Hour))
	reject(t, v, st, alice.label(), mustMarshal(t, resp), w.now.Add(13*time.Hour), ErrNoQuorum)
	// A response with fresh, genuine cosignatures for the same checkpoint is
	// accepted again (cold path).
	w.now = w.now.Add(13 * time.Hour)
	accept(t, v, st, alice.label(), w.lookup(alice.label(), st), w.now)
}

// withKeyID rewrites the key ID of a signature line.
func withKeyID(line []byte, id uint32) []byte {
	f := bytes.Fields(line)
	raw, _ := base64.StdEncoding.DecodeString(string(f[2]))
	binary.BigEndian.PutUint32(raw, id)
	return fmt.Appendf(nil, "%s %s %s\n", f[0], f[1], base64.StdEncoding.EncodeToString(raw))
}
