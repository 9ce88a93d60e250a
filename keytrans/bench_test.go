package keytrans

import (
	"crypto/ed25519"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/wardchat/ward/identity"
)

// BenchmarkVerifyLookup is a client key fetch with full verification: VRF
// proof, log signature, 2-of-3 witness cosignatures, consistency proof,
// commitment, inclusion proof, AIK signature over the device list.
func BenchmarkVerifyLookup(b *testing.B) {
	w := newWorld(b, "bench-lookup")
	alice := w.newAccount()
	w.publish(alice)
	for range 1000 {
		w.publish(w.newAccount())
	}
	v := w.verifier()
	st := NewClientState()
	st, _, err := v.VerifyLookup(st, alice.label(), w.lookup(alice.label(), st), w.now)
	if err != nil {
		b.Fatal(err)
	}
	for range 1000 {
		w.publish(w.newAccount())
	}
	resp := w.lookup(alice.label(), st)
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, _, err := v.VerifyLookup(st, alice.label(), resp, w.now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(resp)), "bytes/response")
}

// BenchmarkVerifyLookupCached is a lookup against the checkpoint the client
// already stored (the common case within one checkpoint period): the
// checkpoint's signatures are not verified again.
func BenchmarkVerifyLookupCached(b *testing.B) {
	w := newWorld(b, "bench-lookup-cached")
	alice, bob := w.newAccount(), w.newAccount()
	w.publish(alice)
	w.publish(bob)
	for range 1000 {
		w.publish(w.newAccount())
	}
	v := w.verifier()
	st, _, err := v.VerifyLookup(NewClientState(), bob.label(), w.lookup(bob.label(), NewClientState()), w.now)
	if err != nil {
		b.Fatal(err)
	}
	resp := mustMarshal(b, w.lookupFor(alice.label(), -1, st.CheckpointNote, st.Size))
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, _, err := v.VerifyLookup(st, alice.label(), resp, w.now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppend measures the pure sequencer and tree hashing with an
// in-memory HashStorage, in batches of 1,000 entries over a log that grows
// across iterations.
func BenchmarkAppend(b *testing.B) {
	const batch = 1000
	reqs := make([]AppendRequest, batch)
	var seq Sequencer
	var hs memHashes
	heads := map[LabelID]LabelHead{}
	n := 0
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		for i := range reqs {
			var id LabelID
			id[0], id[1], id[2] = byte(n), byte(n>>8), byte(n>>16)
			n = (n + 1) % 50000 // labels get new versions once all exist
			r := AppendRequest{Kind: KindAccountState, LabelID: id, Commitment: [32]byte{byte(i)}}
			if h, ok := heads[id]; ok {
				r.Prev = &h
			}
			reqs[i] = r
		}
		bt, err := seq.Append(hs, reqs, 1)
		if err != nil {
			b.Fatal(err)
		}
		hs = append(hs, bt.Hashes...)
		for id, h := range bt.Heads {
			heads[id] = h
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkMonitorScan scans 1,000 new entries (one of them the owner's)
// through authenticated tiles.
func BenchmarkMonitorScan(b *testing.B) {
	w := newWorld(b, "bench-monitor")
	alice := w.newAccount()
	for range 1000 {
		w.publish(w.newAccount())
	}
	w.publish(alice)
	for range 999 {
		w.publish(w.newAccount())
	}
	m, st := aliceMonitor(w, alice)
	st, _, err := w.verifier().VerifyCheckpoint(st, w.checkpoint(), nil, w.now)
	if err != nil {
		b.Fatal(err)
	}
	st.MonitorCursor = 1000
	entries := w.entries[1000:]
	tr := tileReader{hs: w.hashes}
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, alerts, err := m.Scan(st, entries, tr, w.authored); err != nil || len(alerts) != 0 {
			b.Fatal(err, alerts)
		}
	}
}

// BenchmarkOpenCheckpoint is the checkpoint part of a lookup: log signature
// and two cosignatures.
func BenchmarkOpenCheckpoint(b *testing.B) {
	w := newWorld(b, "bench-cp")
	w.publish(w.newAccount())
	cfg := w.config()
	cp := w.checkpoint()
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, err := OpenCheckpoint(cp, cfg.Log, &cfg.Witnesses, w.now, cfg.Freshness); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAudit replays 1,000 entries.
func BenchmarkAudit(b *testing.B) {
	w := newWorld(b, "bench-audit")
	for range 1000 {
		w.publish(w.newAccount())
	}
	root, _ := tlog.TreeHash(w.seq.Size, w.hashes)
	c := &Checkpoint{Origin: testOrigin, Size: w.seq.Size, Hash: root}
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if r, err := Audit(w.entries, c); err != nil || !r.OK() {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupFloor is the public-key work a lookup cannot avoid, run in
// the same process for the ratio: one VRF verification, three Ed25519
// verifications (log signature and two cosignatures) and the device-list
// check.
func BenchmarkLookupFloor(b *testing.B) {
	w := newWorld(b, "bench-floor")
	alice := w.newAccount()
	w.publish(alice)
	r := w.lookupFor(alice.label(), -1, w.checkpoint(), 0)
	st, _ := ParseAccountState(r.Value)
	pk := w.vrfKey.Public()
	body, _ := (&Checkpoint{Origin: testOrigin, Size: 1, Hash: tlog.RecordHash(r.Entry)}).Body()
	logSig := ed25519.Sign(ed25519.NewKeyFromSeed(make([]byte, 32)), body)
	logPub := ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, err := pk.Verify(alice.label().VRFInput(), r.VRFProof[:]); err != nil {
			b.Fatal(err)
		}
		for range 3 {
			if !ed25519.Verify(logPub, body, logSig) {
				b.Fatal("verify")
			}
		}
		if _, err := identity.VerifyDeviceList(st.SignedDeviceList, st.AIK, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// reportCPU starts measuring the process CPU time; the function it returns,
// deferred, reports it per operation as cpu-ns/op.
func reportCPU(b *testing.B) func() {
	start := processCPUTime()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(processCPUTime()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}
