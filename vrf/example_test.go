package vrf_test

import (
	"bytes"
	"encoding/hex"
	"fmt"

	"github.com/wardchat/ward/vrf"
)

// A key-transparency server hides a label behind the first 32 bytes of the
// VRF output; the client checks the proof with the pinned public key.
func Example() {
	// Server. The seed would come from crypto/rand via vrf.GenerateKey;
	// it is fixed here so that the output is stable.
	seed, _ := hex.DecodeString("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
	sk, err := vrf.NewPrivateKeyFromSeed(seed)
	if err != nil {
		panic(err)
	}
	pinned := sk.Public().Bytes()
	label := []byte("acct:alice")
	proof, beta := sk.Prove(label)
	labelID := beta[:32]

	// Client.
	pk, err := vrf.ParsePublicKey(pinned)
	if err != nil {
		panic(err)
	}
	got, err := pk.Verify(label, proof[:])
	fmt.Println("verified:", err == nil)
	fmt.Println("same label_id:", bytes.Equal(got[:32], labelID))

	// The proof does not open any other label.
	_, err = pk.Verify([]byte("acct:mallory"), proof[:])
	fmt.Println("other label:", err)
	// Output:
	// verified: true
	// same label_id: true
	// other label: vrf: verification failed
}
