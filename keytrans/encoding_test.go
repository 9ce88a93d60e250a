package keytrans

import (
	"bytes"
	"encoding/hex"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/wardchat/ward/identity"
)

func TestEntryEncoding(t *testing.T) {
	e := &Entry{Kind: KindHandleBinding, LabelID: LabelID{1, 2, 3}, Version: 7, Commitment: [32]byte{9},
		PrevEntry: tlog.Hash{4}, TimestampMs: 1_700_000_000_000}
	b := mustMarshal(t, e)
	if len(b) != EntrySize || b[0] != EntryFormat || b[1] != byte(KindHandleBinding) {
		t.Fatalf("encoding %x", b)
	}
	d, err := ParseEntry(b)
	if err != nil || *d != *e {
		t.Fatalf("round trip: %v", err)
	}
	bad := map[string][]byte{
		"short":       b[:EntrySize-1],
		"trailing":    append(bytes.Clone(b), 0),
		"format":      append([]byte{2}, b[1:]...),
		"kind 0":      append([]byte{1, 0}, b[2:]...),
		"kind 3":      append([]byte{1, 3}, b[2:]...),
		"negative ts": append(bytes.Clone(b[:EntrySize-8]), 0x80, 0, 0, 0, 0, 0, 0, 0),
	}
	v0 := *e
	v0.Version = 0
	v0.PrevEntry = tlog.Hash{}
	b0 := mustMarshal(t, &v0)
	b0[1+1+32+4+32] = 1 // prev_entry non-zero at version 0
	bad["v0 with prev"] = b0
	for name, data := range bad {
		if _, err := ParseEntry(data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := (&Entry{Kind: 9}).Marshal(); err == nil {
		t.Error("marshalled unknown kind")
	}
}

func TestLabels(t *testing.T) {
	aid := identity.AccountID{0xab}
	if got := AccountLabel(aid); got != "acct:ab000000000000000000000000000000" {
		t.Fatal(got)
	}
	if got := HandleLabel("Alice"); got != "handle:alice" {
		t.Fatal(got)
	}
	for l, want := range map[Label]Kind{"acct:ab000000000000000000000000000000": KindAccountState, "handle:alice": KindHandleBinding} {
		if k, err := l.Kind(); err != nil || k != want {
			t.Errorf("%s: %v %v", l, k, err)
		}
	}
	for _, l := range []Label{"acct:xyz", "handle:", "handle:Alice", "user:bob", "acct:AB000000000000000000000000000000", Label("handle:\xff")} {
		if _, err := l.Kind(); err == nil {
			t.Errorf("%q accepted", l)
		}
	}
}

// Frozen commitment vector, cross-checked once with an independent Python
// hmac/hashlib computation (any change to the commitment
// or opening derivation breaks deployed logs).
func TestCommitmentVector(t *testing.T) {
	var k OpeningKey
	for i := range k {
		k[i] = byte(i)
	}
	id := LabelID{0x11}
	o := k.Opening(id, 3)
	c, err := Commit(o, "acct:00112233445566778899aabbccddeeff", 3, []byte("value"))
	if err != nil {
		t.Fatal(err)
	}
	const wantO = "bde75f4a240bbc1e26eba7787af28a57"
	const wantC = "699f92d9ca573587359066437c2ac23b44a99f775dc11bf8cd008a38aca22ecf"
	if hex.EncodeToString(o[:]) != wantO || hex.EncodeToString(c[:]) != wantC {
		t.Fatalf("opening %x commitment %x", o, c)
	}
	if err := CheckCommitment(c, o, "acct:00112233445566778899aabbccddeeff", 3, []byte("value")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		l Label
		v uint32
		x string
	}{{"acct:00112233445566778899aabbccddeeff", 4, "value"}, {"acct:00112233445566778899aabbccddeef0", 3, "value"}, {"acct:00112233445566778899aabbccddeeff", 3, "valuf"}} {
		if CheckCommitment(c, o, tc.l, tc.v, []byte(tc.x)) == nil {
			t.Errorf("commitment opened for %+v", tc)
		}
	}
	o2 := o
	o2[0] ^= 1
	if CheckCommitment(c, o2, "acct:00112233445566778899aabbccddeeff", 3, []byte("value")) == nil {
		t.Error("wrong opening accepted")
	}
	if k.Opening(id, 4) == o || k.Opening(LabelID{0x12}, 3) == o {
		t.Error("openings collide")
	}
}

func TestValueEncodings(t *testing.T) {
	w := newWorld(t, "values")
	a := w.newAccount()
	v := w.stateValue(a, a.aik)
	st, err := ParseAccountState(v)
	if err != nil || st.AccountID != a.aid || !bytes.Equal(mustMarshal(t, st), v) {
		t.Fatalf("account state round trip: %v", err)
	}
	for i := range v {
		// Truncations and trailing bytes are rejected.
		if _, err := ParseAccountState(v[:i]); err == nil {
			t.Fatalf("truncation %d accepted", i)
		}
	}
	if _, err := ParseAccountState(append(bytes.Clone(v), 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
	h := &HandleBinding{Handle: "alice", AccountID: a.aid, PrevValueHash: [32]byte{1}}
	hv := mustMarshal(t, h)
	hd, err := ParseHandleBinding(hv)
	if err != nil || *hd != *h {
		t.Fatalf("handle round trip: %v", err)
	}
	if _, err := (&HandleBinding{Handle: "Alice"}).Marshal(); err == nil {
		t.Fatal("unnormalised handle marshalled")
	}
	bad := bytes.Clone(hv)
	bad[2] = 'A'
	if _, err := ParseHandleBinding(bad); err == nil {
		t.Fatal("unnormalised handle parsed")
	}
	if _, err := ParseHandleBinding(append(hv, 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
}

func TestClientStateEncoding(t *testing.T) {
	w := newWorld(t, "state")
	a := w.newAccount()
	w.publish(a)
	for range 3 {
		w.publish(w.newAccount())
	}
	v := w.verifier()
	st := NewClientState(LabelID{1}, LabelID{2})
	st, _, err := v.VerifyLookup(st, a.label(), w.lookup(a.label(), st), w.now)
	if err != nil {
		t.Fatal(err)
	}
	st.MonitorCursor = 3
	st.Own[LabelID{2}] = OwnRecord{Seen: true, Version: 4, LeafHash: tlog.Hash{5}}
	enc := mustMarshal(t, st)
	dec, err := ParseClientState(enc)
	if err != nil || !bytes.Equal(mustMarshal(t, dec), enc) {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := ParseClientState(append(bytes.Clone(enc), 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
	for i := range enc {
		if _, err := ParseClientState(enc[:i]); err == nil {
			t.Fatalf("truncation %d accepted", i)
		}
	}
	empty := mustMarshal(t, NewClientState())
	if _, err := ParseClientState(empty); err != nil {
		t.Fatal(err)
	}
	// Unsorted own labels are rejected: swap the two own records.
	recLen := 32 + 1 + 4 + 32
	own := enc[len(enc)-2*recLen:]
	swapped := append(bytes.Clone(enc[:len(enc)-2*recLen]), own[recLen:]...)
	swapped = append(swapped, own[:recLen]...)
	if _, err := ParseClientState(swapped); err == nil {
		t.Fatal("unsorted own labels accepted")
	}
	// Unseen label with a version is not canonical.
	bad := bytes.Clone(enc)
	bad[len(bad)-2*recLen+32+4] = 1 // version byte of the first (unseen) record
	if _, err := ParseClientState(bad); err == nil {
		t.Fatal("non-canonical own record accepted")
	}
	if _, err := ParseClientState(append([]byte{2}, enc[1:]...)); err == nil {
		t.Fatal("unknown version accepted")
	}
}

func TestLookupResponseEncoding(t *testing.T) {
	w := newWorld(t, "response")
	a := w.newAccount()
	w.publish(a)
	w.publish(w.newAccount())
	r := w.lookupFor(a.label(), -1, w.checkpoint(), 0)
	enc := mustMarshal(t, r)
	d, err := ParseLookupResponse(enc)
	if err != nil || !bytes.Equal(mustMarshal(t, d), enc) {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := ParseLookupResponse(append(bytes.Clone(enc), 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
	if _, err := ParseLookupResponse(append([]byte{2}, enc[1:]...)); err == nil {
		t.Fatal("unknown version accepted")
	}
}

func TestSequencerBatch(t *testing.T) {
	w := newWorld(t, "batch")
	ids := []LabelID{{1}, {2}, {1}, {3}, {1}}
	reqs := make([]AppendRequest, len(ids))
	for i, id := range ids {
		reqs[i] = AppendRequest{Kind: KindAccountState, LabelID: id, Commitment: [32]byte{byte(i)}}
	}
	var seq Sequencer
	b, err := seq.Append(memHashes(nil), reqs, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if b.Entries[2].Version != 1 || b.Entries[4].Version != 2 || b.Entries[2].PrevEntry != tlog.RecordHash(b.Encoded[0]) ||
		b.Entries[4].PrevEntry != tlog.RecordHash(b.Encoded[2]) || b.Heads[LabelID{1}].Version != 2 {
		t.Fatal("in-batch chaining wrong")
	}
	// The batch's hashes and root agree with appending one by one (auditor).
	a := NewAuditor()
	if err := a.Add(b.Encoded); err != nil {
		t.Fatal(err)
	}
	if r := a.Report(&Checkpoint{Size: b.NewSize, Hash: b.Root}); !r.OK() {
		t.Fatalf("audit of batch: %+v", r)
	}
	hs := memHashes(b.Hashes)
	if int64(len(hs)) != tlog.StoredHashCount(5) {
		t.Fatal("stored hash count")
	}
	// A second batch continues the chain, with the clock going backwards.
	h1 := b.Heads[LabelID{1}]
	b2, err := seq.Append(hs, []AppendRequest{{Kind: KindAccountState, LabelID: LabelID{1}, Prev: &h1}}, 500)
	if err != nil || b2.Entries[0].Version != 3 || b2.Entries[0].TimestampMs != 1000 || b2.OldSize != 5 {
		t.Fatalf("second batch: %v", err)
	}
	hs = append(hs, b2.Hashes...)
	if root, _ := TreeHash(hs, 6); root != b2.Root {
		t.Fatal("root")
	}
	// Errors leave the sequencer unchanged.
	before := seq
	h3 := b2.Heads[LabelID{1}]
	other := h3
	other.Version = 0
	for name, rs := range map[string][]AppendRequest{
		"empty":        nil,
		"kind":         {{Kind: 7, LabelID: LabelID{4}}},
		"kind changed": {{Kind: KindHandleBinding, LabelID: LabelID{1}, Prev: &h3}},
		"inconsistent": {{Kind: KindAccountState, LabelID: LabelID{1}, Prev: &h3}, {Kind: KindAccountState, LabelID: LabelID{1}, Prev: &other}},
	} {
		if _, err := seq.Append(hs, rs, 2000); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if seq != before {
			t.Fatalf("%s: sequencer changed", name)
		}
	}
	max := LabelHead{Kind: KindAccountState, Version: ^uint32(0)}
	if _, err := seq.Append(hs, []AppendRequest{{Kind: KindAccountState, LabelID: LabelID{8}, Prev: &max}}, 2000); err == nil {
		t.Error("version overflow accepted")
	}
	_ = w
}

func TestTiles(t *testing.T) {
	w := newWorld(t, "tiles")
	for range 300 {
		w.publish(w.newAccount())
	}
	tiles := NewTiles(0, w.seq.Size)
	if len(tiles) == 0 {
		t.Fatal("no tiles")
	}
	root, _ := TreeHash(w.hashes, w.seq.Size)
	hr := tlog.TileHashReader(tlog.Tree{N: w.seq.Size, Hash: root}, tileReader{hs: w.hashes})
	for _, i := range []int64{0, 255, 256, 299} {
		p, err := tlog.ProveRecord(w.seq.Size, i, hr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.CheckRecord(p, w.seq.Size, root, i, tlog.RecordHash(w.entries[i])); err != nil {
			t.Fatal(err)
		}
	}
}
