package keytrans_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/wardchat/ward/identity"
	"github.com/wardchat/ward/keytrans"
	"github.com/wardchat/ward/vrf"
)

// hashes is a toy HashStorage: stored hash i at index i.
type hashes []tlog.Hash

func (h hashes) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		out[i] = h[x]
	}
	return out, nil
}

func seed(r io.Reader) []byte {
	b := make([]byte, 32)
	io.ReadFull(r, b)
	return b
}

// The whole phase-1 flow in one process: the log appends Alice's account
// state, a witness cosigns the checkpoint, and Bob verifies a lookup.
func Example() {
	r := rand.NewChaCha8([32]byte{1}) // use crypto/rand.Reader in production
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

	// Log operator keys.
	vrfKey, _ := vrf.NewPrivateKeyFromSeed(seed(r))
	var openKey keytrans.OpeningKey
	copy(openKey[:], seed(r))
	signer, _ := keytrans.NewLogSigner("log.example/kt", seed(r))
	cosigner, _ := keytrans.NewCosigner("witness.example/w1", seed(r))
	logKey := keytrans.LogKey{Origin: "log.example/kt", Key: signer.PublicKey()}
	witness, _ := keytrans.NewWitness(cosigner, []keytrans.LogKey{logKey})

	// Alice uploads her signed device list.
	aid, _ := identity.NewAccountID(r)
	aik, _ := identity.GenerateAccountKey(r)
	dev, _ := identity.GenerateDeviceKeys(r)
	list, _ := identity.NewDeviceList(aid, identity.DeviceEntry{ID: identity.PrimaryDevice, DevicePublicKeys: dev.Public()})
	sdl, _ := list.Sign(aik)
	value, _ := (&keytrans.AccountState{AccountID: aid, AIK: aik.Public(), SignedDeviceList: sdl}).Marshal()
	label := keytrans.AccountLabel(aid)
	if _, _, err := keytrans.CheckAccountUpdate(label, nil, value); err != nil {
		panic(err)
	}

	// The log appends it.
	id, proof := keytrans.ComputeLabelID(vrfKey, label)
	opening := openKey.Opening(id, 0)
	commitment, _ := keytrans.Commit(opening, label, 0, value)
	var seq keytrans.Sequencer
	var store hashes
	batch, _ := seq.Append(store, []keytrans.AppendRequest{{Kind: keytrans.KindAccountState, LabelID: id, Commitment: commitment}}, now.UnixMilli())
	store = append(store, batch.Hashes...)

	// Checkpoint, signed and cosigned through the witness protocol.
	cp, _ := signer.SignCheckpoint(&keytrans.Checkpoint{Origin: "log.example/kt", Size: batch.NewSize, Hash: batch.Root})
	req, _ := keytrans.ParseAddCheckpointRequest((&keytrans.AddCheckpointRequest{OldSize: 0, Checkpoint: cp}).Marshal())
	_, line, err := witness.AddCheckpoint(req, keytrans.WitnessState{}, now)
	if err != nil {
		panic(err)
	}
	cp = keytrans.AddCosignatures(cp, line)

	// The lookup response Bob receives.
	incl, _ := keytrans.ProveInclusion(store, batch.NewSize, 0)
	resp, _ := (&keytrans.LookupResponse{VRFProof: proof, Entry: batch.Encoded[0], LeafIndex: 0, Value: value,
		Opening: opening, Inclusion: incl, Checkpoint: cp}).Marshal()

	// Bob's client, with the keys pinned in its build.
	v, err := keytrans.NewVerifier(keytrans.VerifierConfig{
		Log:       logKey,
		VRFKey:    vrfKey.Public().Bytes(),
		Witnesses: keytrans.WitnessPolicy{Witnesses: []keytrans.WitnessKey{cosigner.Public()}, Threshold: 1},
		Freshness: keytrans.Freshness{MaxAge: 12 * time.Hour, MaxSkew: 10 * time.Minute},
	})
	if err != nil {
		panic(err)
	}
	state, got, err := v.VerifyLookup(keytrans.NewClientState(), label, resp, now.Add(time.Minute))
	if err != nil {
		fmt.Println("security warning:", err)
		return
	}
	fmt.Println("version", got.Entry.Version, "devices", len(got.DeviceList.Devices), "tree size", state.Size)
	// Output: version 0 devices 1 tree size 1
}
