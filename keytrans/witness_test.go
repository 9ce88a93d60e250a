package keytrans

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func witnessStatus(t *testing.T, err error) *WitnessError {
	t.Helper()
	var we *WitnessError
	if !errors.As(err, &we) {
		t.Fatalf("error %v is not a *WitnessError", err)
	}
	return we
}

func TestWitnessAddCheckpoint(t *testing.T) {
	w := newWorld(t, "witness")
	for range 10 {
		w.publish(w.newAccount())
	}
	wt := w.witnesses[0]
	sign := func(size int64) []byte {
		root, _ := TreeHash(w.hashes, size)
		b, _ := w.signer.SignCheckpoint(&Checkpoint{Origin: testOrigin, Size: size, Hash: root})
		return b
	}
	req := func(old int64, cp []byte, size int64) *AddCheckpointRequest {
		p, err := ProveConsistency(w.hashes, old, size)
		if err != nil {
			t.Fatal(err)
		}
		r, err := ParseAddCheckpointRequest((&AddCheckpointRequest{OldSize: old, Proof: p, Checkpoint: cp}).Marshal())
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	st, line, err := wt.AddCheckpoint(req(0, sign(4), 4), WitnessState{}, w.now)
	if err != nil || st.Size != 4 {
		t.Fatalf("first add: %v", err)
	}
	lines, err := ParseCosignatureLines(line)
	if err != nil || len(lines) != 1 {
		t.Fatalf("cosignature lines: %v", err)
	}
	// The cosignature verifies under a 1-of-1 policy.
	policy := &WitnessPolicy{Witnesses: []WitnessKey{wt.Cosigner().Public()}, Threshold: 1}
	if _, err := OpenCheckpoint(AddCosignatures(sign(4), lines...), w.logKey(), policy, w.now, Freshness{MaxAge: time.Hour}); err != nil {
		t.Fatalf("OpenCheckpoint: %v", err)
	}
	st2, _, err := wt.AddCheckpoint(req(4, sign(10), 10), st, w.now)
	if err != nil || st2.Size != 10 {
		t.Fatalf("extend: %v", err)
	}
	// Same checkpoint again: accepted (equal sizes, equal roots).
	if _, _, err := wt.AddCheckpoint(req(10, sign(10), 10), st2, w.now); err != nil {
		t.Fatalf("repeat: %v", err)
	}

	t.Run("unknown origin 404", func(t *testing.T) {
		other, _ := NewLogSigner("other.example/log", readSeed(t, testRand("other")))
		root, _ := TreeHash(w.hashes, 4)
		cp, _ := other.SignCheckpoint(&Checkpoint{Origin: "other.example/log", Size: 4, Hash: root})
		_, _, err := wt.AddCheckpoint(req(4, cp, 4), st, w.now)
		if witnessStatus(t, err).Status != 404 {
			t.Fatal(err)
		}
	})
	t.Run("bad signature 403", func(t *testing.T) {
		other, _ := NewLogSigner(testOrigin, readSeed(t, testRand("impostor")))
		root, _ := TreeHash(w.hashes, 10)
		cp, _ := other.SignCheckpoint(&Checkpoint{Origin: testOrigin, Size: 10, Hash: root})
		_, _, err := wt.AddCheckpoint(req(4, cp, 10), st, w.now)
		if witnessStatus(t, err).Status != 403 {
			t.Fatal(err)
		}
	})
	t.Run("old above size 400", func(t *testing.T) {
		r := req(4, sign(4), 4)
		r.OldSize = 10
		_, _, err := wt.AddCheckpoint(r, st2, w.now)
		if witnessStatus(t, err).Status != 400 {
			t.Fatal(err)
		}
	})
	t.Run("old size mismatch 409", func(t *testing.T) {
		st3, _, err := wt.AddCheckpoint(req(6, sign(10), 10), st, w.now)
		we := witnessStatus(t, err)
		if we.Status != 409 || we.LatestSize != 4 || string(we.ConflictBody()) != "4\n" || st3 != st {
			t.Fatalf("%+v", we)
		}
	})
	t.Run("rollback 409", func(t *testing.T) {
		_, _, err := wt.AddCheckpoint(req(4, sign(4), 4), st2, w.now)
		if we := witnessStatus(t, err); we.Status != 400 && we.Status != 409 {
			t.Fatal(err)
		}
	})
	t.Run("bad proof 422", func(t *testing.T) {
		r := req(4, sign(10), 10)
		r.Proof[0][0] ^= 1
		_, _, err := wt.AddCheckpoint(r, st, w.now)
		if witnessStatus(t, err).Status != 422 {
			t.Fatal(err)
		}
	})
	t.Run("fork at same size 409", func(t *testing.T) {
		fork := w.clone(true)
		fork.hashes = fork.hashes[:tlog.StoredHashCount(4)]
		fork.seq.Size = 4
		fork.publish(fork.newAccount())
		root, _ := TreeHash(fork.hashes, 5)
		cp, _ := fork.signer.SignCheckpoint(&Checkpoint{Origin: testOrigin, Size: 5, Hash: root})
		st5, _, err := wt.AddCheckpoint(req(4, sign(5), 5), st, w.now)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := ParseAddCheckpointRequest((&AddCheckpointRequest{OldSize: 5, Checkpoint: cp}).Marshal())
		_, _, err = wt.AddCheckpoint(r, st5, w.now)
		if witnessStatus(t, err).Status != 409 {
			t.Fatal(err)
		}
		// A fork that diverged before the cosigned size: its consistency
		// proof from size 4 fails.
		fork = w.clone(true)
		fork.hashes = fork.hashes[:tlog.StoredHashCount(2)]
		fork.seq.Size = 2
		for range 3 {
			fork.publish(fork.newAccount())
		}
		root, _ = TreeHash(fork.hashes, 5)
		cp, _ = fork.signer.SignCheckpoint(&Checkpoint{Origin: testOrigin, Size: 5, Hash: root})
		p, _ := ProveConsistency(fork.hashes, 4, 5)
		r, err = ParseAddCheckpointRequest((&AddCheckpointRequest{OldSize: 4, Proof: p, Checkpoint: cp}).Marshal())
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = wt.AddCheckpoint(r, st, w.now)
		if witnessStatus(t, err).Status != 422 {
			t.Fatal(err)
		}
	})
}

func TestParseAddCheckpointRequest(t *testing.T) {
	// The example body of C2SP tlog-witness, "add-checkpoint".
	spec := "old 20852014\n" +
		"PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n" +
		"jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n" +
		"5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n" +
		"/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n" +
		"\n" +
		"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n" +
		"— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
	r, err := ParseAddCheckpointRequest([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	if r.OldSize != 20852014 || len(r.Proof) != 4 || r.Origin != "example.com/behind-the-sofa" {
		t.Fatalf("%+v", r)
	}
	if got := string(r.Marshal()); got != spec {
		t.Fatalf("re-encoding differs:\n%s", got)
	}
	for _, bad := range []string{
		"", "old 01\n\n", "old -1\n\n", "old 1\n", "old 1\nnot base64\n\n", "old 1\n\nexample.com\n1\n",
		"old 1\n" + strings.Repeat("PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n", 64) + "\n" + spec[strings.Index(spec, "example.com"):],
	} {
		if _, err := ParseAddCheckpointRequest([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// The cosignature in C2SP tlog-cosignature's example carries the timestamp
// of the spec's signed-message example; our message format must produce that
// example byte for byte.
func TestCosignatureSpecExample(t *testing.T) {
	const line = "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA=="
	raw, err := base64.StdEncoding.DecodeString(line)
	if err != nil || len(raw) != 4+CosignatureSize {
		t.Fatalf("spec cosignature: %v, %d bytes", err, len(raw))
	}
	ts := binary.BigEndian.Uint64(raw[4:12])
	if ts != 1679315147 {
		t.Fatalf("timestamp %d", ts)
	}
	body := "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
	want := "cosignature/v1\ntime 1679315147\n" + body
	if got := string(cosignedMessage([]byte(body), ts)); got != want {
		t.Fatalf("message %q, want %q", got, want)
	}
	if _, err := ParseCheckpointBody([]byte(body)); err != nil {
		t.Fatal(err)
	}
}

// Differential check of our key IDs and log signatures against x/mod's note
// package, and of cosignatures against a note.Verifier built on the spec's
// message definition.
func TestNoteInterop(t *testing.T) {
	w := newWorld(t, "interop")
	w.publish(w.newAccount())
	cp := w.checkpoint()
	vk, err := note.NewVerifier(w.signer.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(cp, note.VerifierList(vk))
	if err != nil || len(n.Sigs) != 1 || len(n.UnverifiedSigs) != 3 {
		t.Fatalf("note.Open: %v", err)
	}
	for i, wt := range w.witnesses {
		k := wt.Cosigner().Public()
		found := false
		for _, s := range n.UnverifiedSigs {
			if s.Name == k.Name && s.Hash == k.KeyID() {
				found = true
			}
		}
		if !found {
			t.Fatalf("witness %d signature line has wrong name or key ID", i)
		}
	}
}

func TestOpenCheckpointPolicy(t *testing.T) {
	w := newWorld(t, "policy")
	w.publish(w.newAccount())
	cfg := w.config()
	fresh := cfg.Freshness
	cp := w.checkpoint(0, 1)
	if _, err := OpenCheckpoint(cp, cfg.Log, &cfg.Witnesses, w.now, fresh); err != nil {
		t.Fatal(err)
	}
	three := cfg.Witnesses
	three.Threshold = 3
	if _, err := OpenCheckpoint(cp, cfg.Log, &three, w.now, fresh); !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("err = %v", err)
	}
	wrong := cfg.Log
	wrong.Origin = "other.example/log"
	if _, err := OpenCheckpoint(cp, wrong, &cfg.Witnesses, w.now, fresh); !errors.Is(err, ErrLogSignature) {
		t.Fatalf("err = %v", err)
	}
	wrongKey := cfg.Log
	wrongKey.Key = w.witnesses[0].Cosigner().Public().Key
	if _, err := OpenCheckpoint(cp, wrongKey, &cfg.Witnesses, w.now, fresh); !errors.Is(err, ErrLogSignature) {
		t.Fatalf("err = %v", err)
	}
	// A witness line under the log's name does not count; a witness key
	// presented under another name does not count.
	renamed := bytes.ReplaceAll(cp, []byte("— witness1.example/w"), []byte("— witness9.example/w"))
	if _, err := OpenCheckpoint(renamed, cfg.Log, &cfg.Witnesses, w.now, fresh); !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("err = %v", err)
	}
	bad := []WitnessPolicy{
		{Witnesses: cfg.Witnesses.Witnesses, Threshold: 0},
		{Witnesses: cfg.Witnesses.Witnesses, Threshold: 4},
		{Witnesses: append(cfg.Witnesses.Witnesses[:1:1], cfg.Witnesses.Witnesses[0]), Threshold: 1},
	}
	for i, p := range bad {
		if p.Validate() == nil {
			t.Errorf("policy %d validated", i)
		}
	}
}

// A log that does not know the witness's size starts with "old 0", learns
// the size from the 409 body, and retries (tlog-witness: "a client MAY
// initially make a request with a old size of zero to obtain it").
func TestWitnessConflictRecovery(t *testing.T) {
	w := newWorld(t, "witness-409")
	for range 7 {
		w.publish(w.newAccount())
	}
	w.checkpoint() // witnesses now at size 7
	for range 5 {
		w.publish(w.newAccount())
	}
	root, _ := TreeHash(w.hashes, w.seq.Size)
	cp, _ := w.signer.SignCheckpoint(&Checkpoint{Origin: testOrigin, Size: w.seq.Size, Hash: root})
	wt, stored := w.witnesses[1], w.wstate[1]
	r, _ := ParseAddCheckpointRequest((&AddCheckpointRequest{OldSize: 0, Checkpoint: cp}).Marshal())
	_, _, err := wt.AddCheckpoint(r, stored, w.now)
	we := witnessStatus(t, err)
	if we.Status != 409 {
		t.Fatal(err)
	}
	size, err := parseDecimal(strings.TrimSuffix(string(we.ConflictBody()), "\n"))
	if err != nil || size != 7 {
		t.Fatalf("409 body %q", we.ConflictBody())
	}
	p, _ := ProveConsistency(w.hashes, size, w.seq.Size)
	r, _ = ParseAddCheckpointRequest((&AddCheckpointRequest{OldSize: size, Proof: p, Checkpoint: cp}).Marshal())
	st, line, err := wt.AddCheckpoint(r, stored, w.now)
	if err != nil || st.Size != w.seq.Size || st.Hash != root || len(line) == 0 {
		t.Fatalf("retry: %v", err)
	}
}
