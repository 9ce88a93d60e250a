package identity_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/wardchat/ward/identity"
)

// Example shows an account's life: registration, linking a second device,
// and a contact following the change and comparing safety numbers.
func Example() {
	// Deterministic randomness for the example; real clients pass
	// crypto/rand.Reader.
	rnd := rand.NewChaCha8([32]byte{'w', 'a', 'r', 'd'})

	// Registration on the primary device.
	aid, _ := identity.NewAccountID(rnd)
	aik, _ := identity.GenerateAccountKey(rnd)
	phone, _ := identity.GenerateDeviceKeys(rnd)
	list, _ := identity.NewDeviceList(aid, identity.DeviceEntry{DevicePublicKeys: phone.Public(), Name: "phone"})
	signed1, _ := list.Sign(aik)

	// A contact who verified aik fetches the list.
	seen, err := identity.VerifyDeviceList(signed1, aik.Public(), nil)
	fmt.Println("first list:", len(seen.Devices), "device(s), err:", err)

	// A laptop shows a link offer; the phone checks the code and signs.
	laptop, _ := identity.GenerateDeviceKeys(rnd)
	offer, _ := identity.NewLinkOffer(rnd, laptop.Public(), aid, "laptop")
	qr, _ := offer.Marshal()
	codeOnLaptop, _ := offer.Code()
	scanned, _ := identity.ParseLinkOffer(qr)
	fmt.Println("codes match:", scanned.CheckCode(codeOnLaptop))
	list2, _ := list.WithDevice(scanned.DeviceEntry(0))
	signed2, _ := list2.Sign(aik)

	// The contact sees the new device; an old list is now a rollback.
	next, _ := identity.VerifyDeviceList(signed2, aik.Public(), seen)
	added, _ := identity.Diff(seen, next)
	fmt.Printf("new device %d %q\n", added[0].ID, added[0].Name)
	_, err = identity.VerifyDeviceList(signed1, aik.Public(), next)
	fmt.Println("replayed old list:", err)

	// Safety numbers are the same on both sides.
	bobID, _ := identity.NewAccountID(rnd)
	bobAIK, _ := identity.GenerateAccountKey(rnd)
	mine, _ := identity.NewSafetyNumber(aid, aik.Public(), bobID, bobAIK.Public())
	theirs, _ := identity.NewSafetyNumber(bobID, bobAIK.Public(), aid, aik.Public())
	ok, _ := mine.CompareQR(theirs.QRPayload())
	fmt.Println("safety numbers match:", mine.String() == theirs.String(), ok)
	// Output:
	// first list: 1 device(s), err: <nil>
	// codes match: true
	// new device 2 "laptop"
	// replayed old list: identity: version rollback: device list version 1 after 2
	// safety numbers match: true true
}
