package keytrans

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/wardchat/ward/identity"
	"github.com/wardchat/ward/vrf"
)

const testOrigin = "log.ward.example/kt"

var testStart = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func testRand(label string) io.Reader {
	var seed [32]byte
	copy(seed[:], label)
	return rand.NewChaCha8(seed)
}

func readSeed(t testing.TB, r io.Reader) []byte {
	t.Helper()
	b := make([]byte, 32)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatal(err)
	}
	return b
}

// stored is what the server keeps per label version.
type stored struct {
	label Label
	value []byte
	index int64
	entry []byte
}

// world is an in-memory log operator with three witnesses, used by the
// tests as the "server" whose store and responses they tamper with.
type world struct {
	t         testing.TB
	rand      io.Reader
	vrfKey    *vrf.PrivateKey
	openKey   OpeningKey
	signer    *LogSigner
	witnesses []*Witness
	wstate    []WitnessState
	seq       Sequencer
	hashes    memHashes
	entries   [][]byte
	heads     map[LabelID]LabelHead
	versions  map[LabelID][]stored
	now       time.Time
	authored  AuthoredSet
}

func newWorld(t testing.TB, name string) *world {
	t.Helper()
	r := testRand(name)
	w := &world{t: t, rand: r, heads: map[LabelID]LabelHead{}, versions: map[LabelID][]stored{}, now: testStart, authored: AuthoredSet{}}
	var err error
	if w.vrfKey, err = vrf.NewPrivateKeyFromSeed(readSeed(t, r)); err != nil {
		t.Fatal(err)
	}
	copy(w.openKey[:], readSeed(t, r))
	if w.signer, err = NewLogSigner(testOrigin, readSeed(t, r)); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		c, err := NewCosigner(fmt.Sprintf("witness%d.example/w", i), readSeed(t, r))
		if err != nil {
			t.Fatal(err)
		}
		wt, err := NewWitness(c, []LogKey{w.logKey()})
		if err != nil {
			t.Fatal(err)
		}
		w.witnesses = append(w.witnesses, wt)
		w.wstate = append(w.wstate, WitnessState{})
	}
	return w
}

func (w *world) logKey() LogKey { return LogKey{Origin: testOrigin, Key: w.signer.PublicKey()} }

func (w *world) config() VerifierConfig {
	p := WitnessPolicy{Threshold: 2}
	for _, wt := range w.witnesses {
		p.Witnesses = append(p.Witnesses, wt.Cosigner().Public())
	}
	return VerifierConfig{Log: w.logKey(), VRFKey: w.vrfKey.Public().Bytes(), Witnesses: p,
		Freshness: Freshness{MaxAge: 12 * time.Hour, MaxSkew: 10 * time.Minute}}
}

func (w *world) verifier() *Verifier {
	w.t.Helper()
	v, err := NewVerifier(w.config())
	if err != nil {
		w.t.Fatal(err)
	}
	return v
}

// clone copies the log and keys. With shareWitnesses, the witnesses keep
// one record for both copies (a fork); without, each copy is its own world.
func (w *world) clone(shareWitnesses bool) *world {
	c := *w
	if !shareWitnesses {
		c.wstate = slices.Clone(w.wstate)
	}
	c.hashes = slices.Clone(w.hashes)
	c.entries = slices.Clone(w.entries)
	c.heads = maps.Clone(w.heads)
	c.versions = map[LabelID][]stored{}
	for k, v := range w.versions {
		c.versions[k] = slices.Clone(v)
	}
	c.authored = maps.Clone(w.authored)
	return &c
}

// appendValue logs a value under a label and returns its entry.
func (w *world) appendValue(l Label, value []byte, author bool) *Entry {
	w.t.Helper()
	kind, err := l.Kind()
	if err != nil {
		w.t.Fatal(err)
	}
	id, _ := ComputeLabelID(w.vrfKey, l)
	var prev *LabelHead
	version := uint32(0)
	if h, ok := w.heads[id]; ok {
		prev, version = &h, h.Version+1
	}
	c, err := Commit(w.openKey.Opening(id, version), l, version, value)
	if err != nil {
		w.t.Fatal(err)
	}
	b, err := w.seq.Append(w.hashes, []AppendRequest{{Kind: kind, LabelID: id, Commitment: c, Prev: prev}}, w.now.UnixMilli())
	if err != nil {
		w.t.Fatal(err)
	}
	w.hashes = append(w.hashes, b.Hashes...)
	w.entries = append(w.entries, b.Encoded...)
	maps.Copy(w.heads, b.Heads)
	w.versions[id] = append(w.versions[id], stored{label: l, value: value, index: b.OldSize, entry: b.Encoded[0]})
	if author {
		w.authored[AuthoredKey{LabelID: id, Version: version, Commitment: c}] = struct{}{}
	}
	return b.Entries[0]
}

// prevValueHash returns the hash of a label's latest value (zeros if none).
func (w *world) prevValueHash(l Label) [StateHashSize]byte {
	id, _ := ComputeLabelID(w.vrfKey, l)
	vs := w.versions[id]
	if len(vs) == 0 {
		return [StateHashSize]byte{}
	}
	return ValueHash(vs[len(vs)-1].value)
}

// account is a test account with its keys.
type account struct {
	aid     identity.AccountID
	aik     *identity.AccountKey
	list    *identity.DeviceList
	devices []*identity.DeviceKeys
}

func (w *world) newAccount() *account {
	w.t.Helper()
	aid, err := identity.NewAccountID(w.rand)
	if err != nil {
		w.t.Fatal(err)
	}
	aik, err := identity.GenerateAccountKey(w.rand)
	if err != nil {
		w.t.Fatal(err)
	}
	dk, err := identity.GenerateDeviceKeys(w.rand)
	if err != nil {
		w.t.Fatal(err)
	}
	list, err := identity.NewDeviceList(aid, identity.DeviceEntry{ID: identity.PrimaryDevice, DevicePublicKeys: dk.Public()})
	if err != nil {
		w.t.Fatal(err)
	}
	return &account{aid: aid, aik: aik, list: list, devices: []*identity.DeviceKeys{dk}}
}

func (a *account) label() Label { return AccountLabel(a.aid) }

func (w *world) addDevice(a *account) {
	w.t.Helper()
	dk, err := identity.GenerateDeviceKeys(w.rand)
	if err != nil {
		w.t.Fatal(err)
	}
	if a.list, err = a.list.WithDevice(identity.DeviceEntry{DevicePublicKeys: dk.Public()}); err != nil {
		w.t.Fatal(err)
	}
	a.devices = append(a.devices, dk)
}

// stateValue encodes an AccountState of a's current list signed by aik.
func (w *world) stateValue(a *account, aik *identity.AccountKey) []byte {
	w.t.Helper()
	sdl, err := a.list.Sign(aik)
	if err != nil {
		w.t.Fatal(err)
	}
	st := &AccountState{AccountID: a.aid, AIK: aik.Public(), SignedDeviceList: sdl, PrevValueHash: w.prevValueHash(a.label())}
	v, err := st.Marshal()
	if err != nil {
		w.t.Fatal(err)
	}
	return v
}

// publish logs a's current state as authored by a.
func (w *world) publish(a *account) *Entry {
	return w.appendValue(a.label(), w.stateValue(a, a.aik), true)
}

// checkpoint signs the current tree and asks the given witnesses (indexes;
// all by default) to cosign it through the witness protocol.
func (w *world) checkpoint(witnesses ...int) []byte {
	w.t.Helper()
	if witnesses == nil {
		witnesses = []int{0, 1, 2}
	}
	root, err := TreeHash(w.hashes, w.seq.Size)
	if err != nil {
		w.t.Fatal(err)
	}
	signed, err := w.signer.SignCheckpoint(&Checkpoint{Origin: testOrigin, Size: w.seq.Size, Hash: root})
	if err != nil {
		w.t.Fatal(err)
	}
	out := signed
	for _, i := range witnesses {
		old := w.wstate[i].Size
		proof, err := ProveConsistency(w.hashes, old, w.seq.Size)
		if err != nil {
			w.t.Fatal(err)
		}
		if old == 0 {
			proof = nil
		}
		req, err := ParseAddCheckpointRequest((&AddCheckpointRequest{OldSize: old, Proof: proof, Checkpoint: signed}).Marshal())
		if err != nil {
			w.t.Fatal(err)
		}
		st, line, err := w.witnesses[i].AddCheckpoint(req, w.wstate[i], w.now)
		if err != nil {
			continue // a witness refusing (fork) is part of some tests
		}
		w.wstate[i] = st
		out = AddCosignatures(out, line)
	}
	return out
}

// lookupFor builds the response for label's version (latest if version < 0)
// against a signed checkpoint, with a consistency proof from fromSize.
func (w *world) lookupFor(l Label, version int, cp []byte, fromSize int64) *LookupResponse {
	w.t.Helper()
	id, proof := ComputeLabelID(w.vrfKey, l)
	vs := w.versions[id]
	if len(vs) == 0 {
		w.t.Fatalf("no entry for %s", l)
	}
	if version < 0 {
		version = len(vs) - 1
	}
	s := vs[version]
	c, err := ParseCheckpointBody(cpBody(cp))
	if err != nil {
		w.t.Fatal(err)
	}
	incl, err := ProveInclusion(w.hashes, c.Size, s.index)
	if err != nil {
		w.t.Fatal(err)
	}
	r := &LookupResponse{VRFProof: proof, Entry: s.entry, LeafIndex: s.index, Value: s.value,
		Opening: w.openKey.Opening(id, uint32(version)), Inclusion: incl, Checkpoint: cp}
	if fromSize > 0 && fromSize < c.Size {
		r.ConsistencyFrom = fromSize
		if r.Consistency, err = ProveConsistency(w.hashes, fromSize, c.Size); err != nil {
			w.t.Fatal(err)
		}
	}
	return r
}

func (w *world) lookup(l Label, state *ClientState) []byte {
	w.t.Helper()
	return mustMarshal(w.t, w.lookupFor(l, -1, w.checkpoint(), state.Size))
}

func mustMarshal(t testing.TB, r interface{ Marshal() ([]byte, error) }) []byte {
	t.Helper()
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func cpBody(signed []byte) []byte {
	i := bytes.Index(signed, []byte("\n\n"))
	return signed[:i+1]
}

// tileReader serves tiles from a HashStorage, like a static tile server.
type tileReader struct {
	hs     HashStorage
	tamper func(tlog.Tile, []byte) []byte
}

func (r tileReader) Height() int { return TileHeight }

func (r tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		d, err := ReadTileData(t, r.hs)
		if err != nil {
			return nil, err
		}
		if r.tamper != nil {
			d = r.tamper(t, d)
		}
		out[i] = d
	}
	return out, nil
}

func (tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

func identityKey(w *world) (*identity.AccountKey, error) { return identity.GenerateAccountKey(w.rand) }

func identityDevice(t testing.TB, w *world) identity.DeviceEntry {
	dk, err := identity.GenerateDeviceKeys(w.rand)
	if err != nil {
		t.Fatal(err)
	}
	return identity.DeviceEntry{DevicePublicKeys: dk.Public()}
}
