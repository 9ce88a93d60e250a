package keytrans

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// appendRaw appends an arbitrary encoded entry, bypassing the sequencer, as
// a misbehaving log would.
func (w *world) appendRaw(enc []byte) {
	w.t.Helper()
	hs, err := tlog.StoredHashes(w.seq.Size, enc, w.hashes)
	if err != nil {
		w.t.Fatal(err)
	}
	w.hashes = append(w.hashes, hs...)
	w.entries = append(w.entries, enc)
	w.seq.Size++
}

func TestAuditorHonest(t *testing.T) {
	w := newWorld(t, "audit")
	for range 20 {
		a := w.newAccount()
		w.publish(a)
		w.addDevice(a)
		w.publish(a)
		w.appendValue(HandleLabel(a.aid.String()[:8]), mustMarshal(t, &HandleBinding{Handle: a.aid.String()[:8], AccountID: a.aid}), true)
	}
	root, _ := TreeHash(w.hashes, w.seq.Size)
	sc, err := OpenLogCheckpoint(w.checkpoint(), w.logKey())
	if err != nil || sc.Hash != root {
		t.Fatalf("OpenLogCheckpoint: %v", err)
	}
	r, err := Audit(w.entries, &sc.Checkpoint)
	if err != nil || !r.OK() {
		t.Fatalf("honest log: %+v, %v", r, err)
	}
	// A checkpoint whose root differs is caught.
	bad := root
	bad[3] ^= 1
	if r, _ := Audit(w.entries, &Checkpoint{Origin: testOrigin, Size: w.seq.Size, Hash: bad}); r.RootMatches {
		t.Fatal("wrong root matched")
	}
	// A checkpoint covering more entries than replayed does not match.
	if r, _ := Audit(w.entries[:len(w.entries)-1], &Checkpoint{Origin: testOrigin, Size: w.seq.Size, Hash: root}); r.RootMatches {
		t.Fatal("short replay matched")
	}
}

func TestAuditorViolations(t *testing.T) {
	base := newWorld(t, "audit-bad")
	alice := base.newAccount()
	base.publish(alice)
	base.addDevice(alice)
	base.publish(alice)
	id, _ := ComputeLabelID(base.vrfKey, alice.label())
	head := base.heads[id]
	ts := base.now.UnixMilli()
	mk := func(e Entry) []byte { return mustMarshal(t, &e) }
	tests := []struct {
		name  string
		entry []byte
		want  ViolationKind
	}{
		{"duplicate", mk(Entry{Kind: KindAccountState, LabelID: id, Version: 1, PrevEntry: head.LeafHash, TimestampMs: ts}), ViolationDuplicate},
		{"skipped version", mk(Entry{Kind: KindAccountState, LabelID: id, Version: 3, PrevEntry: head.LeafHash, TimestampMs: ts}), ViolationSkippedVersion},
		{"broken chain", mk(Entry{Kind: KindAccountState, LabelID: id, Version: 2, PrevEntry: tlog.Hash{1}, TimestampMs: ts}), ViolationBrokenChain},
		{"decreasing timestamp", mk(Entry{Kind: KindAccountState, LabelID: id, Version: 2, PrevEntry: head.LeafHash, TimestampMs: ts - 1}), ViolationTimestamp},
		{"first version", mk(Entry{Kind: KindAccountState, LabelID: LabelID{9}, Version: 1, PrevEntry: tlog.Hash{1}, TimestampMs: ts}), ViolationFirstVersion},
		{"kind changed", mk(Entry{Kind: KindHandleBinding, LabelID: id, Version: 2, PrevEntry: head.LeafHash, TimestampMs: ts}), ViolationKindChanged},
		{"malformed", make([]byte, 7), ViolationMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := base.clone(false)
			w.appendRaw(tt.entry)
			w.publish(w.newAccount()) // honest entries after the bad one
			root, _ := TreeHash(w.hashes, w.seq.Size)
			r, err := Audit(w.entries, &Checkpoint{Origin: testOrigin, Size: w.seq.Size, Hash: root})
			if err != nil {
				t.Fatal(err)
			}
			if !r.RootMatches || len(r.Violations) != 1 || r.Violations[0].Kind != tt.want || r.Violations[0].Index != 2 {
				t.Fatalf("report %+v, want one %v at index 2", r, tt.want)
			}
			if r.OK() {
				t.Fatal("OK with a violation")
			}
		})
	}
}

func TestMonitorChainAlerts(t *testing.T) {
	base := newWorld(t, "monitor-bad")
	alice := base.newAccount()
	base.publish(alice)
	base.addDevice(alice)
	base.publish(alice)
	id, _ := ComputeLabelID(base.vrfKey, alice.label())
	head := base.heads[id]
	ts := base.now.UnixMilli()
	tests := []struct {
		name string
		e    Entry
		want []AlertKind
	}{
		{"duplicate", Entry{Kind: KindAccountState, LabelID: id, Version: 1, PrevEntry: head.LeafHash, TimestampMs: ts}, []AlertKind{AlertDuplicateVersion, AlertUnauthored}},
		{"gap", Entry{Kind: KindAccountState, LabelID: id, Version: 5, PrevEntry: head.LeafHash, TimestampMs: ts}, []AlertKind{AlertVersionGap, AlertUnauthored}},
		{"broken chain", Entry{Kind: KindAccountState, LabelID: id, Version: 2, PrevEntry: tlog.Hash{7}, TimestampMs: ts}, []AlertKind{AlertBrokenChain, AlertUnauthored}},
		{"kind changed", Entry{Kind: KindHandleBinding, LabelID: id, Version: 2, PrevEntry: head.LeafHash, TimestampMs: ts}, []AlertKind{AlertKindChanged, AlertHandleRebound}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := base.clone(false)
			m, st := aliceMonitor(w, alice)
			st, alerts := w.scan(t, m, st)
			if len(alerts) != 0 {
				t.Fatalf("alerts before tampering: %+v", alerts)
			}
			w.appendRaw(mustMarshal(t, &tt.e))
			_, alerts = w.scan(t, m, st)
			var got []AlertKind
			for _, a := range alerts {
				got = append(got, a.Kind)
				if _, err := VerifyEvidence(a.Evidence, w.logKey()); err != nil {
					t.Fatalf("evidence: %v", err)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("alerts %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMonitorRejectsForeignEntries(t *testing.T) {
	w := newWorld(t, "monitor-tiles")
	alice := w.newAccount()
	for range 300 {
		w.publish(w.newAccount())
	}
	w.publish(alice)
	m, st := aliceMonitor(w, alice)
	v := w.verifier()
	st, _, err := v.VerifyCheckpoint(st, w.checkpoint(), nil, w.now)
	if err != nil {
		t.Fatal(err)
	}
	before := mustMarshal(t, st)
	// An entry list with Alice's entry hidden (replaced by another one).
	entries := slices.Clone(w.entries)
	entries[300] = entries[299]
	if _, _, err := m.Scan(st, entries, tileReader{hs: w.hashes}, w.authored); err == nil {
		t.Fatal("scan accepted entries that are not the log's")
	}
	// Tiles that do not match the checkpoint.
	bad := tileReader{hs: w.hashes, tamper: func(_ tlog.Tile, d []byte) []byte { d = slices.Clone(d); d[0] ^= 1; return d }}
	if _, _, err := m.Scan(st, w.entries, bad, w.authored); err == nil {
		t.Fatal("scan accepted tampered tiles")
	}
	// More entries than the checkpoint covers.
	if _, _, err := m.Scan(st, append(slices.Clone(w.entries), w.entries[0]), tileReader{hs: w.hashes}, w.authored); err == nil {
		t.Fatal("scan accepted entries beyond the checkpoint")
	}
	if !slicesEqualBytes(before, mustMarshal(t, st)) {
		t.Fatal("state modified")
	}
	next, alerts, err := m.Scan(st, w.entries, tileReader{hs: w.hashes}, w.authored)
	if err != nil || len(alerts) != 0 || next.MonitorCursor != w.seq.Size || !next.Own[mustLabelID(w, alice)].Seen {
		t.Fatalf("honest scan: %v %+v", err, alerts)
	}
}

func slicesEqualBytes(a, b []byte) bool { return string(a) == string(b) }

func mustLabelID(w *world, a *account) LabelID {
	id, _ := ComputeLabelID(w.vrfKey, a.label())
	return id
}

// Design 5.4 test 10: random honest operation sequences raise no alert,
// every lookup verifies and the auditor finds nothing.
func TestNoFalseAlarms(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 99))
			w := newWorld(t, fmt.Sprint("honest-", seed))
			v := w.verifier()
			var accounts []*account
			type mon struct {
				m  *Monitor
				st *ClientState
			}
			monitors := map[*account]*mon{}
			contacts := NewClientState()
			for step := range 60 {
				w.now = w.now.Add(time.Duration(r.IntN(600)) * time.Second)
				switch op := r.IntN(6); {
				case op == 0 || len(accounts) == 0: // register
					a := w.newAccount()
					w.publish(a)
					accounts = append(accounts, a)
					m, st := aliceMonitor(w, a)
					monitors[a] = &mon{m, st}
				case op == 1: // link a device
					a := accounts[r.IntN(len(accounts))]
					if len(a.list.Devices) < 5 {
						w.addDevice(a)
						w.publish(a)
					}
				case op == 2: // remove a device
					a := accounts[r.IntN(len(accounts))]
					if len(a.list.Devices) > 1 {
						l, err := a.list.WithoutDevice(a.list.Devices[len(a.list.Devices)-1].ID)
						if err != nil {
							t.Fatal(err)
						}
						a.list = l
						w.publish(a)
					}
				case op == 3: // rotate the identity key
					a := accounts[r.IntN(len(accounts))]
					var err error
					if a.aik, err = identityKey(w); err != nil {
						t.Fatal(err)
					}
					if len(a.list.Devices) < 5 {
						l, err := a.list.WithDevice(identityDevice(t, w))
						if err != nil {
							t.Fatal(err)
						}
						a.list = l
					}
					w.publish(a)
				case op == 4: // lookup
					a := accounts[r.IntN(len(accounts))]
					next, _, err := v.VerifyLookup(contacts, a.label(), w.lookup(a.label(), contacts), w.now)
					if err != nil {
						t.Fatalf("step %d: lookup: %v", step, err)
					}
					contacts = next
				case op == 5: // monitor
					a := accounts[r.IntN(len(accounts))]
					mm := monitors[a]
					st, alerts := w.scan(t, mm.m, mm.st)
					if len(alerts) != 0 {
						t.Fatalf("step %d: false alarm %+v", step, alerts)
					}
					mm.st = st
				}
			}
			for _, a := range accounts {
				mm := monitors[a]
				if _, alerts := w.scan(t, mm.m, mm.st); len(alerts) != 0 {
					t.Fatalf("false alarm %+v", alerts)
				}
			}
			root, _ := TreeHash(w.hashes, w.seq.Size)
			if r, _ := Audit(w.entries, &Checkpoint{Origin: testOrigin, Size: w.seq.Size, Hash: root}); !r.OK() {
				t.Fatalf("audit: %+v", r)
			}
			// The client state survives a round trip.
			enc := mustMarshal(t, contacts)
			dec, err := ParseClientState(enc)
			if err != nil || !slicesEqualBytes(enc, mustMarshal(t, dec)) {
				t.Fatal("state round trip")
			}
		})
	}
}
